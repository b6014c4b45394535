namespace Usine.Sources;

/// <summary>
/// Checks the <c>settings:</c> of the sources of one kind (its <see cref="SourceKindRegistration.Settings"/>). The
/// definitions loader runs it on each source of that kind as it reads it, so a setting that cannot work fails the
/// load with the file and line of the setting, like any other definition error, instead of failing later when the
/// connector starts.
/// </summary>
public interface ISourceSettingsValidator
{
    /// <summary>Throws <see cref="SourceSettingException"/> for a setting (or a key of the source) that cannot work; its message names the source.</summary>
    void Validate(SourceDefinition source);
}

/// <summary>A setting of a source that cannot work, with the setting's name and what to write instead.</summary>
/// <remarks>
/// An <see cref="ArgumentException"/>, since a connector created from such a definition in code is a caller
/// mistake; the definitions loader turns it into a <see cref="DefinitionException"/> at the setting's line.
/// </remarks>
public sealed class SourceSettingException : ArgumentException
{
    /// <param name="setting">The key under <c>settings:</c> (or a key of the source itself, such as <c>topic</c>) the problem is about; null for the source as a whole.</param>
    public SourceSettingException(string? setting, string problem)
        : base(problem) => Setting = setting;

    public SourceSettingException() : this(null, "invalid source setting") { }

    public SourceSettingException(string message) : this(null, message) { }

    public SourceSettingException(string message, Exception inner) : base(message, inner) { }

    public string? Setting { get; }
}

/// <summary>Helpers connectors share to read their settings.</summary>
public static partial class SourceSettings
{
    /// <summary>
    /// Replaces each <c>${NAME}</c> in a setting's value by the environment variable NAME, so that secrets stay
    /// out of the definition files; throws naming the variable when it is not set.
    /// </summary>
    public static string ExpandEnvironment(string value, string setting, string what) =>
        Internal.EnvironmentReferences.Expand(value, name =>
            new SourceSettingException(setting, $"{what}: setting {setting} refers to the environment variable {name}, which is not set; set it in the environment of the Usine process"));

    /// <summary>The known key closest to <paramref name="key"/> (a typo or a wrong case), or null when none is close.</summary>
    public static string? Closest(string key, IEnumerable<string> known)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            var d = Distance(key.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (d < bestDistance)
            {
                best = candidate;
                bestDistance = d;
            }
        }

        // Beyond a third of the word, a suggestion is more noise than help.
        return best is not null && bestDistance <= Math.Max(1, key.Length / 3) ? best : null;
    }

    /// <summary>The message for a key the connector does not know, after <paramref name="what"/> (the source): the closest valid key when there is one, and the list.</summary>
    public static string UnknownKey(string what, string kind, string key, IReadOnlyCollection<string> known)
    {
        var list = $"the {kind} settings are {string.Join(", ", known)}";
        return Closest(key, known) is { } near
            ? $"{what}: unknown setting '{key}'; write '{near}' ({list})"
            : $"{what}: unknown setting '{key}' ({list})";
    }

    private static int Distance(string a, string b)
    {
        // Levenshtein distance, one row at a time.
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
