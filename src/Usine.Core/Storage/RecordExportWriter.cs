using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Usine.Storage;

/// <summary>Writes the rows of a store's reader as CSV or NDJSON, streamed in large asynchronous writes.</summary>
public static class RecordExportWriter
{
    /// <summary>Writes every row of <paramref name="r"/>; <paramref name="plain"/> turns a driver's value into one JSON can carry.</summary>
    public static async Task WriteAsync(DbDataReader r, ExportFormat format, Stream output, Func<object, object?> plain, CancellationToken cancellationToken)
    {
        if (format is not (ExportFormat.Csv or ExportFormat.Ndjson))
        {
            throw new ArgumentException($"format: {format} is written by the store itself, not row by row", nameof(format));
        }

        var names = Enumerable.Range(0, r.FieldCount).Select(r.GetName).ToArray();
        var buffer = new ArrayBufferWriterStream(output);
        if (format == ExportFormat.Csv)
        {
            buffer.WriteText(string.Join(",", names.Select(CsvField)) + "\n");
        }

        var line = new StringBuilder();
        while (await r.ReadAsync(cancellationToken))
        {
            if (format == ExportFormat.Csv)
            {
                line.Clear();
                for (var i = 0; i < names.Length; i++)
                {
                    if (i > 0)
                    {
                        line.Append(',');
                    }

                    if (!r.IsDBNull(i))
                    {
                        line.Append(CsvField(CsvText(plain(r.GetValue(i)))));
                    }
                }

                buffer.WriteText(line.Append('\n').ToString());
            }
            else
            {
                using (var json = new Utf8JsonWriter(buffer.Writer))
                {
                    json.WriteStartObject();
                    for (var i = 0; i < names.Length; i++)
                    {
                        json.WritePropertyName(names[i]);
                        JsonSerializer.Serialize(json, r.IsDBNull(i) ? null : plain(r.GetValue(i)));
                    }

                    json.WriteEndObject();
                }

                buffer.WriteText("\n");
            }

            if (buffer.Pending >= 64 * 1024)
            {
                await buffer.FlushAsync(cancellationToken);
            }
        }

        await buffer.FlushAsync(cancellationToken);
    }

    private static string CsvText(object? v) => v switch
    {
        null => "",
        DateTime t => t.ToString("yyyy-MM-ddTHH:mm:ss.FFFFFFFZ", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    private static string CsvField(string s) =>
        s.AsSpan().IndexOfAny(",\"\n\r") >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;

    /// <summary>Collects bytes in memory up to a flush, so that rows are written in large asynchronous writes.</summary>
    private sealed class ArrayBufferWriterStream(Stream output)
    {
        public System.Buffers.ArrayBufferWriter<byte> Writer { get; } = new(128 * 1024);

        public int Pending => Writer.WrittenCount;

        public void WriteText(string s)
        {
            var span = Writer.GetSpan(Encoding.UTF8.GetMaxByteCount(s.Length));
            Writer.Advance(Encoding.UTF8.GetBytes(s, span));
        }

        public async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (Writer.WrittenCount > 0)
            {
                await output.WriteAsync(Writer.WrittenMemory, cancellationToken);
                Writer.ResetWrittenCount();
            }

            await output.FlushAsync(cancellationToken);
        }
    }

    /// <summary>Stored records per model.</summary>
}
