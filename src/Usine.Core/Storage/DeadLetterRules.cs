using System.Text.RegularExpressions;

namespace Usine.Storage;

/// <summary>
/// The rule a dead letter broke, read from its reason without the values it quotes, so that triage groups
/// "field 'temp' = 228.5 degC is above the maximum 220" and "field 'temp' = 999 degC is above the maximum 220"
/// as one rule, "field 'temp' is above the maximum 220", whose examples are 228.5 degC and 999 degC.
/// </summary>
/// <remarks>
/// The rule is computed where the letters are (each store's SQL function <c>dead_letter_rule(stage, reason)</c>, made
/// from these patterns), so that a group can be filtered, replayed and discarded by its rule in one statement whatever
/// its size; the same patterns pick out the example values here. They are written for DuckDB's RE2, PostgreSQL's
/// regular expressions and .NET alike: no look-around, no
/// back-references, ASCII classes only. A validation reason is "field 'NAME' = VALUE RULE", one per problem and
/// joined by "; ": the value goes, the rule stays with its limits. Other stages quote values in double quotes or as
/// numbers (sizes, cell counts, JSON positions): those become <c>"…"</c> and <c>N</c>.
/// </remarks>
public static partial class DeadLetterRules
{
    public const string ValidationPattern =
        "field '([^']*)' = (.*?) (is above the maximum |is below the minimum |is not one of |does not match |is not an? )";

    public const string QuotedPattern = "\"(?:[^\"\\\\]|\\\\.)*\"";

    // A number that is a word of its own: not the digit of a name such as zone2 or a quoted field name.
    public const string NumberPattern = "(^|[^0-9A-Za-z_.'$-])(-?[0-9]+(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)";

    /// <summary>The values a reason quotes (the offending values, for a validation), joined; null when it quotes none.</summary>
    public static string? Values(string stage, string reason)
    {
        if (stage == "validate")
        {
            var values = Validation().Matches(reason).Select(m => $"{m.Groups[1].Value} = {m.Groups[2].Value}").ToList();
            return values.Count switch
            {
                0 => null,
                1 => values[0][(values[0].IndexOf(" = ", StringComparison.Ordinal) + 3)..],
                _ => string.Join("; ", values),
            };
        }

        var quoted = Quoted().Matches(reason).Select(m => m.Value);
        var numbers = Number().Matches(Quoted().Replace(reason, "\"…\"")).Select(m => m.Groups[2].Value);
        var all = quoted.Concat(numbers).ToList();
        return all.Count == 0 ? null : string.Join(", ", all);
    }

    [GeneratedRegex(ValidationPattern, RegexOptions.CultureInvariant)]
    private static partial Regex Validation();

    [GeneratedRegex(QuotedPattern, RegexOptions.CultureInvariant)]
    private static partial Regex Quoted();

    [GeneratedRegex(NumberPattern, RegexOptions.CultureInvariant)]
    private static partial Regex Number();
}
