using Usine.Models;

namespace Usine.Storage.DuckDb.Internal;

internal static class Sql
{
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static string TypeOf(FieldType t) => t switch
    {
        FieldType.String => "VARCHAR",
        FieldType.Int => "BIGINT",
        FieldType.Double => "DOUBLE",
        FieldType.Bool => "BOOLEAN",
        _ => "TIMESTAMP",
    };

    public static string RecordTable(string model) => "m_" + model;

    public static string StageTable(string model) => "stage_" + model;

    public static string RollupTable(string model, RollupDefinition r) => "r_" + model + "_" + Sanitize(r.Name);

    /// <summary>The view over a rollup table that adds the averages.</summary>
    public static string RollupView(string model, RollupDefinition r) => "v_" + model + "_" + Sanitize(r.Name);

    public static string Sanitize(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_').ToArray();
        return new string(chars);
    }

    public static string Timestamp(DateTime utc) => "TIMESTAMP '" + utc.ToString("yyyy-MM-dd HH:mm:ss.ffffff", System.Globalization.CultureInfo.InvariantCulture) + "'";
}
