using System.Text;

namespace Usine.Server.Ui;

/// <summary>A query result as RFC 4180 CSV, values formatted as the page shows them.</summary>
internal static class Csv
{
    public static string Write(QueryResult result)
    {
        var sb = new StringBuilder();
        sb.AppendJoin(',', result.Columns.Select(c => Field(c.Name))).Append("\r\n");
        foreach (var row in result.Rows)
        {
            sb.AppendJoin(',', row.Select(v => v is null ? "" : Field(Ui.Value(v)))).Append("\r\n");
        }

        return sb.ToString();
    }

    private static string Field(string text) =>
        text.AsSpan().IndexOfAny(",\"\r\n") < 0 ? text : "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
