using System.Globalization;

namespace Usine.Tests.EndToEnd;

/// <summary>One generated message: its id (the model's key), its bytes, and why it must become a dead letter, if it must.</summary>
internal sealed record CheckedMessage(string Id, byte[] Payload, string? Malformed);

/// <summary>
/// Messages of the model <c>checked</c> whose outcome is known in advance: most are valid, and every
/// <c>malformedEvery</c>-th is broken in one of the ways a plant or an attacker breaks them. Every payload, however
/// broken, starts with its id in plain ASCII, so that a dead letter can be traced back to the message it was.
/// </summary>
internal static class CheckedMessages
{
    public const string Model = """
        models:
          - name: checked
            time: ts
            key: [id]
            fields:
              id:      { type: string, required: true, pattern: "^[a-z][0-9]{6}$" }
              station: { type: string, required: true }
              ts:      { type: timestamp, required: true }
              torque:  { type: double, unit: Nm, min: 0, max: 200, required: true }
              angle:   { type: double }
              note:    { type: string }
        """;

    /// <summary>The ways a message is broken, each with the JSON (or bytes) that does it.</summary>
    public static readonly string[] Kinds =
    [
        "bad JSON", "missing required field", "out of range", "wrong type",
        "lone surrogate escape", "invalid UTF-8", "non-finite number", "duplicate key", "NUL in a string",
    ];

    private static readonly DateTime T0 = new(2026, 1, 5, 6, 0, 0, DateTimeKind.Utc);

    /// <param name="prefix">The first letter of every id, so that two sets never share one.</param>
    /// <param name="bomEvery">When above 0, every such valid message starts with a UTF-8 byte-order mark, which is no error.</param>
    public static List<CheckedMessage> Generate(char prefix, int count, int malformedEvery, int bomEvery = 0)
    {
        var list = new List<CheckedMessage>(count);
        for (var i = 1; i <= count; i++)
        {
            var id = prefix + i.ToString("D6", CultureInfo.InvariantCulture);
            var ts = T0.AddSeconds(i).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            var head = $"{{\"id\":\"{id}\",\"station\":\"ST{i % 12:D2}\",\"ts\":\"{ts}\"";
            var torque = (10 + (i % 150) + 0.25).ToString(CultureInfo.InvariantCulture);
            if (i % malformedEvery == 0)
            {
                var kind = Kinds[i / malformedEvery % Kinds.Length];
                list.Add(new CheckedMessage(id, Broken(kind, id, ts, torque), kind));
                continue;
            }

            var json = Encoding.UTF8.GetBytes($"{head},\"torque\":{torque},\"angle\":{i % 360}.5,\"note\":\"n{i}\"}}");
            list.Add(new CheckedMessage(id, bomEvery > 0 && i % bomEvery == 0 ? [0xEF, 0xBB, 0xBF, .. json] : json, null));
        }

        return list;
    }

    private static byte[] Broken(string kind, string id, string ts, string torque)
    {
        var start = $"{{\"id\":\"{id}\",\"ts\":\"{ts}\",";
        return kind switch
        {
            "bad JSON" => Encoding.UTF8.GetBytes($"{start}\"station\":\"ST01\",\"torque\": broken"),
            "missing required field" => Encoding.UTF8.GetBytes($"{start}\"station\":\"ST01\"}}"),
            "out of range" => Encoding.UTF8.GetBytes($"{start}\"station\":\"ST01\",\"torque\":999}}"),
            "wrong type" => Encoding.UTF8.GetBytes($"{start}\"station\":\"ST01\",\"torque\":\"high\"}}"),
            "lone surrogate escape" => Encoding.UTF8.GetBytes($"{start}\"station\":\"sur-\\udfff\",\"torque\":{torque}}}"),
            "invalid UTF-8" => [.. Encoding.UTF8.GetBytes($"{start}\"station\":\"ST"), 0xFF, .. Encoding.UTF8.GetBytes($"01\",\"torque\":{torque}}}")],
            "non-finite number" => Encoding.UTF8.GetBytes($"{start}\"station\":\"ST01\",\"torque\":{torque},\"angle\":1e400}}"),
            "duplicate key" => Encoding.UTF8.GetBytes($"{start}\"station\":\"ST01\",\"torque\":{torque},\"torque\":12}}"),
            "NUL in a string" => Encoding.UTF8.GetBytes($"{start}\"station\":\"ST01\",\"torque\":{torque},\"note\":\"ctl-\\u0000x\"}}"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a kind of malformed message"),
        };
    }

    /// <summary>SQL for the sorted, comma-separated ids of what a source stored as records.</summary>
    public static string StoredIds(string sourceId) =>
        $"SELECT coalesce(string_agg(id, ',' ORDER BY id), '') FROM m_checked WHERE source_id = '{sourceId}'";

    /// <summary>SQL for the sorted, comma-separated ids read from the payloads of a source's dead letters, repeats included.</summary>
    public static string DeadLetterIds(string sourceId) =>
        $"SELECT coalesce(string_agg(id, ',' ORDER BY id), '') FROM (SELECT {IdOfPayload} AS id FROM dead_letters WHERE source_id = '{sourceId}')";

    /// <summary>
    /// The id at the start of a raw payload, read from its bytes (a payload may not be valid UTF-8): DuckDB casts a BLOB
    /// to text with its quotes and other bytes escaped, <c>{\x22id\x22:\x22m000001\x22</c>, and the pattern's <c>\\x22</c> is
    /// that backslash followed by <c>x22</c>.
    /// </summary>
    public const string IdOfPayload = """regexp_extract(CAST(payload AS VARCHAR), 'id\\x22:\\x22([a-z][0-9]{6})', 1)""";

    public static string Join(IEnumerable<CheckedMessage> messages) => string.Join(',', messages.Select(m => m.Id).Order(StringComparer.Ordinal));
}
