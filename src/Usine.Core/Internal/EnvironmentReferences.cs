using System.Text.RegularExpressions;

namespace Usine.Internal;

/// <summary>
/// <c>${NAME}</c> in a definition's value reads the environment variable NAME at start-up, so that secrets (webhook
/// secrets, broker passwords, key passwords) stay out of the definition files.
/// </summary>
internal static partial class EnvironmentReferences
{
    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex Reference();

    /// <summary>Replaces each <c>${NAME}</c> of <paramref name="value"/>; a variable that is not set throws what <paramref name="missing"/> makes of its name.</summary>
    public static string Expand(string value, Func<string, Exception> missing) =>
        Reference().Replace(value, m => Environment.GetEnvironmentVariable(m.Groups[1].Value) ?? throw missing(m.Groups[1].Value));
}
