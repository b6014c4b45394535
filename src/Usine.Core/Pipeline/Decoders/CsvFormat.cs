using System.Text;
using Usine.Pipeline;

namespace Usine.Sources;

/// <summary>What the CSV format reads from a source definition.</summary>
public sealed record CsvOptions
{
    public static CsvOptions Default { get; } = new();

    /// <summary>The character between cells (YAML <c>delimiter</c>, one character or <c>tab</c>). Default comma.</summary>
    public char Delimiter { get; init; } = ',';

    /// <summary>The options of a CSV source; the defaults for any other.</summary>
    public static CsvOptions Of(SourceDefinition source) => source.FormatOptions as CsvOptions ?? Default;
}

/// <summary>One CSV line per raw message, read against the header line of its stream.</summary>
internal sealed class CsvFormat : PayloadFormat
{
    public override string Name => "csv";

    public override IReadOnlyList<string> SourceKeys => ["delimiter"];

    public override object? ReadOptions(IReadOnlyDictionary<string, string> values) =>
        values.TryGetValue("delimiter", out var d)
            ? new CsvOptions
            {
                Delimiter = d switch
                {
                    "\\t" or "tab" => '\t',
                    { Length: 1 } => d[0],
                    _ => throw new ArgumentException("delimiter must be one character (or 'tab')", "delimiter"),
                },
            }
            : null;

    public override IPayloadDecoder CreateDecoder(SourceDefinition source) => new CsvDecoder(source.Id, CsvOptions.Of(source).Delimiter);
}

internal sealed class CsvDecoder(string sourceId, char delimiter) : IPayloadDecoder
{
    private Dictionary<string, int>? _header;

    public void StartBatch(IReadOnlyList<string>? header)
    {
        if (header is null)
        {
            throw new ArgumentException($"source '{sourceId}' reads CSV: the header line is needed", nameof(header));
        }

        _header = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < header.Count; i++)
        {
            _header.TryAdd(header[i].Trim(), i);
        }
    }

    public void Decode(in RawMessage message, IDecodedMessages messages)
    {
        var header = _header ?? throw new InvalidOperationException("StartBatch gives the header before a CSV line is decoded");
        if (!Utf8Text.TryRead(message.Payload, out var payload, out var problem))
        {
            messages.Reject(problem);
            return;
        }

        string[] cells;
        try
        {
            var text = Encoding.UTF8.GetString(payload.Span);
            cells = Csv.ParseRecord(text.AsSpan().TrimEnd("\r\n"), delimiter);
        }
        catch (FormatException ex)
        {
            messages.Reject("invalid CSV: " + ex.Message, ex);
            return;
        }

        if (cells.Length != header.Count)
        {
            messages.Reject($"invalid CSV: {cells.Length} cells where the header has {header.Count}");
            return;
        }

        // An empty cell is a missing value, not an empty string.
        var values = new Scalar[cells.Length];
        for (var i = 0; i < cells.Length; i++)
        {
            values[i] = cells[i].Length == 0 ? new Scalar(ScalarKind.Null) : Scalar.FromText(cells[i]);
        }

        messages.Add(header, values);
    }
}
