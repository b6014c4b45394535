using System.Reflection;

namespace Usine.Cli.Internal;

/// <summary>
/// What the tool checks on its command line before Spectre parses it: Spectre ignores an option it does not
/// know (so <c>--limt 2</c> silently listed everything) and only takes a command's options after the command.
/// Every command is registered here with its settings type, from which its options are read.
/// </summary>
internal sealed class CommandLine
{
    /// <summary>Options every command that talks to a server takes; they may come before the command too.</summary>
    public static readonly string[] GlobalOptions = ["--server", "--format"];

    private static readonly string[] HelpOptions = ["-h", "--help", "-?"];

    private readonly Dictionary<string, Type> _settings = new(StringComparer.Ordinal);

    /// <summary>The branches (models, sources, ...) and their commands, in the order they were registered.</summary>
    public Dictionary<string, List<string>> Branches { get; } = new(StringComparer.Ordinal);

    /// <summary>Records a command by its path ("status", "deadletters list") and the type that runs it.</summary>
    public void Register(string path, Type commandType)
    {
        _settings[path] = SettingsOf(commandType);
        if (path.Split(' ') is [var branch, var command])
        {
            (Branches.TryGetValue(branch, out var commands) ? commands : Branches[branch] = []).Add(command);
        }
    }

    public bool IsCommand(string path) => _settings.ContainsKey(path);

    /// <summary>The command the arguments name ("deadletters list"), or null when they name none.</summary>
    public string? PathOf(IReadOnlyList<string> args)
    {
        if (args.Count == 0)
        {
            return null;
        }

        if (_settings.ContainsKey(args[0]))
        {
            return args[0];
        }

        return args.Count > 1 && _settings.ContainsKey($"{args[0]} {args[1]}") ? $"{args[0]} {args[1]}" : null;
    }

    /// <summary>
    /// Moves the global options given before the command to after it, where Spectre reads them:
    /// <c>usine --server URL sql ...</c> is <c>usine sql ... --server URL</c>. Returns the line saying what is
    /// wrong when an option before the command is not a global one.
    /// </summary>
    public string? MoveGlobalOptions(List<string> args)
    {
        var globals = new List<string>();
        while (args.Count > 0 && args[0].StartsWith('-') && !HelpOptions.Contains(args[0]) && args[0] != "--version")
        {
            var name = NameOf(args[0]);
            if (!GlobalOptions.Contains(name))
            {
                return Unknown(args[0], GlobalOptions, $"before the command only {string.Join(" and ", GlobalOptions)} are taken");
            }

            var takesValue = !args[0].Contains('=', StringComparison.Ordinal);
            globals.AddRange(args.Take(takesValue ? 2 : 1));
            args.RemoveRange(0, Math.Min(args.Count, takesValue ? 2 : 1));
        }

        if (args.Count > 0 && globals.Count > 0)
        {
            var end = args.IndexOf("--");
            args.InsertRange(end < 0 ? args.Count : end, globals);
        }

        return null;
    }

    /// <summary>The line naming the first option the command does not take, and the closest one it does; null when all are known.</summary>
    public string? UnknownOption(string path, IReadOnlyList<string> args)
    {
        var options = OptionsOf(_settings[path]);
        for (var i = path.Count(c => c == ' ') + 1; i < args.Count; i++)
        {
            var token = args[i];
            if (token == "--")
            {
                break;
            }

            // A lone dash, a negative number or a text starting with a dash is a value, not an option.
            if (token.Length < 2 || token[0] != '-' || char.IsDigit(token[1]) || token[1] == '.' || token.Contains(' ', StringComparison.Ordinal))
            {
                continue;
            }

            var name = NameOf(token);
            if (HelpOptions.Contains(name))
            {
                continue;
            }

            if (!options.TryGetValue(name, out var takesValue))
            {
                return Unknown(token, options.Keys.Where(o => o.StartsWith("--", StringComparison.Ordinal)));
            }

            if (takesValue && name.Length == token.Length)
            {
                i++;
            }
        }

        return null;
    }

    /// <summary>"unknown option '--limt'; did you mean '--limit'?" when one option is close enough to be the typo, else the hint.</summary>
    private static string Unknown(string token, IEnumerable<string> valid, string? hint = null)
    {
        var name = NameOf(token);
        var closest = valid
            .Select(option => (Option: option, Distance: Distance(name.TrimStart('-'), option.TrimStart('-'))))
            .Where(candidate => candidate.Distance <= Math.Max(1, candidate.Option.TrimStart('-').Length / 3))
            .OrderBy(candidate => candidate.Distance)
            .ThenBy(candidate => candidate.Option, StringComparer.Ordinal)
            .Select(candidate => candidate.Option)
            .FirstOrDefault();
        return closest is not null ? $"unknown option '{name}'; did you mean '{closest}'?"
            : hint is not null ? $"unknown option '{name}'; {hint}"
            : $"unknown option '{name}'";
    }

    private static string NameOf(string token) => token.Split('=', 2)[0];

    /// <summary>Every option name of a settings type ("--limit", "-l") and whether it takes a value.</summary>
    private static Dictionary<string, bool> OptionsOf(Type settings)
    {
        var options = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var property in settings.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetCustomAttribute<CommandOptionAttribute>() is not { } option)
            {
                continue;
            }

            var takesValue = option.ValueName is not null;
            foreach (var longName in option.LongNames)
            {
                options["--" + longName] = takesValue;
            }

            foreach (var shortName in option.ShortNames)
            {
                options["-" + shortName] = takesValue;
            }
        }

        return options;
    }

    private static Type SettingsOf(Type commandType)
    {
        for (var type = commandType; type is not null; type = type.BaseType)
        {
            if (type.IsGenericType && type.GetGenericArguments() is [var settings] && typeof(CommandSettings).IsAssignableFrom(settings))
            {
                return settings;
            }
        }

        return typeof(EmptyCommandSettings);
    }

    /// <summary>Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1.</summary>
    internal static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
