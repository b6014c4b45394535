using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using NATS.Client.Core;
using Usine.Pipeline;

namespace Usine.Transport.Nats;

/// <summary>
/// How a raw message travels through JetStream: its subject (<c>{prefix}.{plant}.{source}.{stream key}</c>) and
/// the headers that carry what the engine needs besides the payload. The message id is the stream id and the
/// position, so that JetStream drops a message a capture role sends again.
/// </summary>
public static class RawMessages
{
    public const string SourceHeader = "Usine-Source";
    public const string StreamHeader = "Usine-Stream";
    public const string PositionHeader = "Usine-Position";
    public const string ReceivedHeader = "Usine-Received";
    public const string TopicHeader = "Usine-Topic";
    public const string LengthHeader = "Usine-Length";
    public const string CsvHeaderHeader = "Usine-Csv-Header";
    public const string MessageIdHeader = "Nats-Msg-Id";

    /// <summary>The subject of a stream's messages.</summary>
    public static string Subject(string prefix, string plant, string sourceId, string streamId) =>
        $"{prefix}.{Token(plant)}.{Token(sourceId)}.{StreamKey(streamId)}";

    /// <summary>Every subject of a stream whatever its plant and source, for reading its last message.</summary>
    public static string AnySubjectOf(string prefix, string streamId) => $"{prefix}.*.*.{StreamKey(streamId)}";

    /// <summary>A stream id in one subject token: the first 16 hex digits of its SHA-256, since ids hold dots and colons.</summary>
    public static string StreamKey(string streamId)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(streamId), hash);
        return Convert.ToHexStringLower(hash[..8]);
    }

    /// <summary>A plant or source id as a subject token: what is not a letter, digit, '-' or '_' becomes '_'.</summary>
    public static string Token(string value)
    {
        if (value.Length == 0)
        {
            return "_";
        }

        var chars = value.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            var c = chars[i];
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                chars[i] = '_';
            }
        }

        return new string(chars);
    }

    /// <summary>The message id JetStream deduplicates on.</summary>
    public static string MessageId(string streamId, long position) => streamId + "#" + position.ToString(CultureInfo.InvariantCulture);

    /// <summary>The headers of one raw message of a batch.</summary>
    public static NatsHeaders Headers(string sourceId, string streamId, in RawMessage message, string? csvHeader)
    {
        var headers = new NatsHeaders
        {
            [MessageIdHeader] = MessageId(streamId, message.Position),
            [SourceHeader] = sourceId,
            [StreamHeader] = streamId,
            [PositionHeader] = message.Position.ToString(CultureInfo.InvariantCulture),
            [ReceivedHeader] = message.ReceivedAt.Ticks.ToString(CultureInfo.InvariantCulture),
        };
        if (message.Topic is { } topic)
        {
            headers[TopicHeader] = topic;
        }

        if (message.ReceivedLength > message.Payload.Length)
        {
            headers[LengthHeader] = message.ReceivedLength.ToString(CultureInfo.InvariantCulture);
        }

        if (csvHeader is not null)
        {
            headers[CsvHeaderHeader] = csvHeader;
        }

        return headers;
    }

    /// <summary>A CSV header as one header value (a JSON array), or null.</summary>
    public static string? EncodeCsvHeader(IReadOnlyList<string>? header) => header is null ? null : JsonSerializer.Serialize(header);

    /// <summary>A message read back from the stream: its source, stream, raw message and CSV header; an error naming the header missing.</summary>
    public static (string SourceId, string StreamId, RawMessage Message, IReadOnlyList<string>? CsvHeader) Read(NatsHeaders? headers, byte[]? data)
    {
        if (headers is null)
        {
            throw new FormatException("the message has no headers: it was not published by a capture role of Usine");
        }

        var source = Required(headers, SourceHeader);
        var stream = Required(headers, StreamHeader);
        var position = long.Parse(Required(headers, PositionHeader), CultureInfo.InvariantCulture);
        var received = new DateTime(long.Parse(Required(headers, ReceivedHeader), CultureInfo.InvariantCulture), DateTimeKind.Utc);
        string? topic = headers.TryGetValue(TopicHeader, out var t) ? t.ToString() : null;
        long length = headers.TryGetValue(LengthHeader, out var l) ? long.Parse(l.ToString(), CultureInfo.InvariantCulture) : 0;
        IReadOnlyList<string>? csv = headers.TryGetValue(CsvHeaderHeader, out var c) ? JsonSerializer.Deserialize<string[]>(c.ToString()) : null;
        return (source, stream, new RawMessage(position, received, data ?? [], topic, length), csv);
    }

    /// <summary>The position in the headers of a stored message as the stream API returns them (base64 of the header block).</summary>
    public static long? PositionOf(string storedHeaders)
    {
        var block = Encoding.UTF8.GetString(Convert.FromBase64String(storedHeaders));
        foreach (var line in block.Split("\r\n"))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && line.AsSpan(0, colon).Trim().Equals(PositionHeader, StringComparison.OrdinalIgnoreCase))
            {
                return long.Parse(line.AsSpan(colon + 1).Trim(), CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    private static string Required(NatsHeaders headers, string name) =>
        headers.TryGetValue(name, out var value) && value.Count > 0 && !string.IsNullOrEmpty(value[0])
            ? value[0]!
            : throw new FormatException($"the message has no {name} header: it was not published by a capture role of Usine");
}
