using Spectre.Console;

namespace Usine.Cli.Internal;

/// <summary>
/// Where the tool writes and what it knows about its surroundings. Injected into every client command,
/// so tests run the real command app against a captured console.
/// </summary>
internal sealed class CliEnvironment
{
    /// <summary>Rich output: tables, grids, progress bars. Writes to standard output.</summary>
    public required IAnsiConsole Console { get; init; }

    /// <summary>
    /// Raw standard output for CSV, JSON and payloads: Spectre wraps text at the console width, which would
    /// corrupt machine-readable output.
    /// </summary>
    public required TextWriter Out { get; init; }

    /// <summary>Standard error: one line per error.</summary>
    public required TextWriter Error { get; init; }

    /// <summary>Reads an environment variable (USINE_SERVER). Default: the process environment.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>True when standard output is a terminal, so live progress bars make sense.</summary>
    public bool Interactive { get; init; }

    /// <summary>Who runs the tool, sent as <c>X-Usine-Actor</c> so the server's audit log names them. Default: the local user name.</summary>
    public string UserName { get; init; } = Environment.UserName;

    /// <summary>The clock used for "3s ago". Default: the system clock.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public static CliEnvironment FromProcess() => new()
    {
        Console = AnsiConsole.Console,
        Out = System.Console.Out,
        Error = System.Console.Error,
        Interactive = !System.Console.IsOutputRedirected && AnsiConsole.Console.Profile.Capabilities.Interactive,
    };
}
