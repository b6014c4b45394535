using static Usine.Storage.DeadLetterRules;

namespace Usine.Storage.DuckDb.Internal;

/// <summary>The rule a dead letter broke, as DuckDB computes it (<see cref="DeadLetterRules"/>).</summary>
internal static class DeadLetterRuleMacro
{
    /// <summary>Defines <c>dead_letter_rule(stage, reason)</c> in the database.</summary>
    public static string CreateMacro =>
        "CREATE OR REPLACE MACRO dead_letter_rule(stage, reason) AS CASE WHEN stage = 'validate' THEN "
        + $"regexp_replace(reason, {Sql.Literal(ValidationPattern)}, 'field ''\\1'' \\3', 'g') ELSE "
        + $"regexp_replace(regexp_replace(reason, {Sql.Literal(QuotedPattern)}, '\"…\"', 'g'), {Sql.Literal(NumberPattern)}, '\\1N', 'g') END";
}
