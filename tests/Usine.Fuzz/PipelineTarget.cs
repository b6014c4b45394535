using System.Text;
using Usine.Avatars;
using Usine.Configuration;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Fuzz;

/// <summary>
/// Arbitrary bytes through <see cref="SourcePipeline.Process"/> of a realistic source, as a file import would cut
/// them into messages, and the promise every input must keep: <see cref="SourcePipeline.Process"/> returns, and
/// every message becomes exactly one record, duplicate or dead letter, with no value altered on the way.
/// </summary>
public sealed class PipelineTarget
{
    /// <summary>
    /// Screwing results with every kind of rule and mapping the pipeline knows: a pattern, ranges, an enum, units,
    /// an expression, templates over the payload, the topic and other fields, a plant read from the payload, an
    /// avatar with an attribute.
    /// </summary>
    public const string Yaml = """
        models:
          - name: screwing
            time: ts
            key: [vin, station, spindle, ts]
            avatar: { type: vehicle, id: "{vin}", attributes: { colour: "{$.paint}", built_in: "{plant}/{line}" } }
            fields:
              vin:     { type: string, required: true, pattern: "^[A-HJ-NPR-Z0-9]{17}$" }
              station: { type: string, required: true }
              line:    { type: string }
              spindle: { type: int, min: 1, max: 32 }
              ts:      { type: timestamp, required: true }
              torque:  { type: double, unit: Nm, min: 0, max: 200, required: true }
              angle:   { type: double }
              power:   { type: double, unit: kW }
              ok:      { type: bool }
              status:  { type: string, enum: [OK, NOK] }
              label:   { type: string }
        sources:
          - id: json
            plant: "{$.plant}"
            kind: http
            model: screwing
            context: { shop: "{topic.1}", line: "{$.line}", station: "{station}" }
            map:
              vin: "$.VIN"
              ts: "$.time"
              line: "$.line"
              spindle: "$.result.spindle"
              torque: { path: "$.result.torque", unit: lbf.ft }
              angle: "$.result.angles[1]"
              power: { expr: "$.voltage * $.current / 1000", unit: W }
              status: "$.result.status"
              label: "{plant}-{$.line}-{station}"
          - id: csv
            plant: flins
            kind: file
            path: drop
            format: csv
            model: screwing
            context: { shop: assembly, line: "{line}", station: "{station}" }
            map:
              torque: { path: "$.torque_lbft", unit: lbf.ft }
              power: { expr: "round($.watts) / 1000" }
              label: "{$.vin}@{station}"
        """;

    private const string Topic = "plants/assembly/L1/screwing";
    private static readonly DateTime ReceivedAt = new(2026, 1, 5, 8, 0, 0, DateTimeKind.Utc);
    private static readonly UsineDefinitions Definitions = DefinitionLoader.LoadText(Yaml, "fuzz.yaml");

    private readonly SourceDefinition _source;

    private PipelineTarget(string sourceId) => _source = Definitions.Sources[sourceId];

    /// <summary>NDJSON: each line of the input is one message on an MQTT-like topic.</summary>
    public static PipelineTarget Json { get; } = new("json");

    /// <summary>CSV: the first line of the input is the header, each record after it (quoted line breaks included) one message.</summary>
    public static PipelineTarget Csv { get; } = new("csv");

    public static PipelineTarget ByName(string name) => name switch
    {
        "json" => Json,
        "csv" => Csv,
        _ => throw new ArgumentException($"unknown fuzz target '{name}': json or csv", nameof(name)),
    };

    public string Name => _source.Id;

    /// <summary>Runs one input; throws <see cref="InvariantException"/> when the promise is broken, or whatever the pipeline threw.</summary>
    public void Run(ReadOnlySpan<byte> input)
    {
        var (messages, header) = Cut(input);
        if (messages.Count == 0)
        {
            return;
        }

        // A pipeline and a registry per input: one input's avatars must not change what the next one finds.
        var pipeline = new SourcePipeline(_source, Definitions);
        var output = new PipelineOutput();
        pipeline.Process(messages, "fuzz", new AvatarRegistry(), output, header);
        Check(messages, output);
    }

    private (List<RawMessage> Messages, string[]? Header) Cut(ReadOnlySpan<byte> input)
    {
        var messages = new List<RawMessage>();
        string[]? header = null;
        long line = 0;
        if (_source.Format == PayloadFormat.Csv)
        {
            var end = input.IndexOf((byte)'\n');
            var first = end < 0 ? input : input[..end];
            try
            {
                header = Usine.Pipeline.Csv.ParseRecord(Encoding.UTF8.GetString(first).TrimEnd('\r'), Usine.Sources.CsvOptions.Of(_source).Delimiter);
            }
            catch (FormatException)
            {
                return ([], null); // the importer refuses such a file before any message
            }

            input = end < 0 ? [] : input[(end + 1)..];
            line = 1;
        }

        var record = new List<byte>();
        long start = 0;
        while (!input.IsEmpty)
        {
            var end = input.IndexOf((byte)'\n');
            var text = end < 0 ? input : input[..end];
            input = end < 0 ? [] : input[(end + 1)..];
            line++;
            if (record.Count == 0)
            {
                start = line;
                if (text.IsEmpty)
                {
                    continue;
                }
            }
            else
            {
                record.Add((byte)'\n');
            }

            record.AddRange(text);
            if (header is not null && Usine.Pipeline.Csv.InsideQuotes(record.ToArray()) && !input.IsEmpty)
            {
                continue;
            }

            messages.Add(new RawMessage(start, ReceivedAt, record.ToArray(), header is null ? Topic : null));
            record.Clear();
        }

        return (messages, header);
    }

    private static void Check(List<RawMessage> messages, PipelineOutput output)
    {
        var seen = new HashSet<long>();
        foreach (var position in output.Records.Select(r => r.Position).Concat(output.DeadLetters.Select(d => d.Position)))
        {
            if (!seen.Add(position))
            {
                throw new InvariantException("a message became two results", $"the message at position {position} became more than one record or dead letter");
            }
        }

        var accounted = output.Records.Count + output.DeadLetters.Count + output.DuplicatesInBatch;
        if (accounted != messages.Count)
        {
            throw new InvariantException(
                "a message was lost", $"{messages.Count} messages became {output.Records.Count} records, {output.DuplicatesInBatch} duplicates and {output.DeadLetters.Count} dead letters");
        }

        var payloads = messages.ToDictionary(m => m.Position, m => m.Payload);
        foreach (var record in output.Records)
        {
            var payload = payloads[record.Position].Span;
            for (var i = 0; i < record.Values.Length; i++)
            {
                var value = record.Values[i];
                var field = record.Model.Fields[i].Name;
                if (value.Kind == ValueKind.Double && !double.IsFinite(value.Double))
                {
                    throw new InvariantException("a non-finite number was stored", $"field '{field}' of the record at position {record.Position} was stored as {value.Double}");
                }

                // A replacement character stored where the payload had none was made up by lenient decoding.
                if (value.Kind == ValueKind.String && value.String!.Contains('\uFFFD', StringComparison.Ordinal) && payload.IndexOf("\uFFFD"u8) < 0
                    && payload.IndexOf("\\ufffd"u8) < 0 && payload.IndexOf("\\uFFFD"u8) < 0)
                {
                    throw new InvariantException("a replacement character was made up", $"field '{field}' of the record at position {record.Position} holds U+FFFD that its payload does not");
                }
            }
        }
    }
}

/// <summary>A broken promise of the pipeline, as opposed to an exception it let through.</summary>
/// <param name="kind">The promise, without the values of one input, so that failures can be grouped by it.</param>
public sealed class InvariantException(string kind, string message) : Exception(message)
{
    public string Kind { get; } = kind;
}
