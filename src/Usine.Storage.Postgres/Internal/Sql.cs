using System.Globalization;
using Usine.Models;

namespace Usine.Storage.Postgres.Internal;

/// <summary>Names and literals of the PostgreSQL store's SQL.</summary>
internal static class Sql
{
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static string TypeOf(FieldType t) => t switch
    {
        FieldType.String => "text",
        FieldType.Int => "bigint",
        FieldType.Double => "double precision",
        FieldType.Bool => "boolean",
        _ => "timestamp with time zone",
    };

    public static string RecordTable(string model) => "m_" + model;

    public static string StageTable(string model) => "stage_" + model;

    public static string RollupTable(string model, RollupDefinition r) => "r_" + model + "_" + Sanitize(r.Name);

    /// <summary>The view over a rollup table that adds the averages.</summary>
    public static string RollupView(string model, RollupDefinition r) => "v_" + model + "_" + Sanitize(r.Name);

    public static string Sanitize(string name) =>
        new([.. name.Select(c => char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_')]);

    public static string Timestamp(DateTime utc) =>
        "TIMESTAMPTZ '" + utc.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00'";

    /// <summary>A fixed-width bucket of <paramref name="column"/>, counted from 2000-01-03 (a Monday) as DuckDB's time_bucket does.</summary>
    public static string Bucket(TimeSpan width, string column) =>
        string.Create(CultureInfo.InvariantCulture, $"date_bin(INTERVAL '{(long)width.TotalSeconds} seconds', {column}, TIMESTAMPTZ '2000-01-03 00:00:00+00')");
}
