using DuckDB.NET.Data;

namespace Usine.Cli.Internal;

/// <summary>
/// Counts the records of an export, which the server streams without announcing a count: CSV and NDJSON as
/// their bytes go by, Parquet from the file's footer once it is written.
/// </summary>
internal sealed class ExportRows(string format)
{
    private readonly bool _csv = format == "csv";
    private bool _quoted;
    private long _lines;

    /// <summary>Sees the next bytes of the export. A line break inside a quoted CSV field does not end a record.</summary>
    public void Add(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b == (byte)'"' && _csv)
            {
                _quoted = !_quoted;
            }
            else if (b == (byte)'\n' && !_quoted)
            {
                _lines++;
            }
        }
    }

    /// <summary>The records of the written file: its lines, less the CSV header; for Parquet, what its footer says.</summary>
    public long Count(string path) => format switch
    {
        "parquet" => ParquetRows(path),
        "csv" => Math.Max(0, _lines - 1),
        _ => _lines,
    };

    private static long ParquetRows(string path)
    {
        // DuckDB answers count(*) on a Parquet file from its metadata, without reading the rows.
        using var connection = new DuckDBConnection("Data Source=:memory:");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM read_parquet('{path.Replace("'", "''", StringComparison.Ordinal)}')";
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
