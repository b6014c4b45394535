using System.Text.Json;

namespace Usine.Pipeline;

/// <summary>
/// Turns the bytes of one raw message into the messages the mapping stage reads: none (a keep-alive, an empty
/// batch), one (a JSON object, a CSV line) or many (the metrics of a Sparkplug payload, the data changes of an
/// OPC UA publish response). Made by <see cref="Sources.PayloadFormat.CreateDecoder"/>, one per processing lane:
/// it may keep state between messages (a CSV header, a parser), and is never called from two threads at once.
/// </summary>
public interface IPayloadDecoder
{
    /// <summary>
    /// Called before each batch with the header line of its stream, for formats whose streams begin with one
    /// (CSV); null for the others. A format that needs it and gets null throws <see cref="ArgumentException"/>.
    /// </summary>
    void StartBatch(IReadOnlyList<string>? header);

    /// <summary>
    /// Hands each message of <paramref name="message"/> to <paramref name="messages"/> in order, before it returns:
    /// the mapping stage reads a message during the call that hands it over, so what it points into (a parsed
    /// document, a buffer) may be freed or reused as soon as that call returns. Bad input is reported through
    /// <paramref name="messages"/>, not thrown; an exception still becomes a dead letter at stage decode.
    /// </summary>
    void Decode(in RawMessage message, IDecodedMessages messages);
}

/// <summary>
/// Where a decoder puts what it reads from one raw message. Every call but <see cref="Reject"/> takes the next
/// index (0, 1, 2...), which the record or dead letter keeps beside the raw position (its lineage).
/// </summary>
public interface IDecodedMessages
{
    /// <summary>The next message is a JSON object, read in place (nothing is copied).</summary>
    void Add(JsonElement message);

    /// <summary>
    /// The next message is a flat row of named values (a CSV line, a metric, a data change): a mapping
    /// <c>$.name</c> reads <c>values[names[name]]</c>.
    /// </summary>
    void Add(IReadOnlyDictionary<string, int> names, Scalar[] values);

    /// <summary>The next message cannot be decoded: a dead letter at stage decode with its index; the messages after it go on.</summary>
    void AddInvalid(string reason, Exception? error = null);

    /// <summary>
    /// The payload as a whole cannot be decoded (not UTF-8, not JSON, a CSV line of the wrong width): one dead letter
    /// at stage decode for the raw message, with no index, so that its retry decodes the whole payload again. Only
    /// before any message of the payload was handed over, and then nothing more.
    /// </summary>
    void Reject(string reason, Exception? error = null);
}
