using Usine.Models;

namespace Usine.Pipeline;

/// <summary>Exactly what a source delivered, with its position in the stream it came from.</summary>
/// <param name="Position">Increasing within a stream (a line number for files, a counter for brokers).</param>
/// <param name="ReceivedAt">When Usine received it, UTC.</param>
/// <param name="Payload">The bytes as received.</param>
/// <param name="Topic">The MQTT topic or subject it arrived on, if any.</param>
/// <param name="ReceivedLength">Bytes as received, when more than <paramref name="Payload"/> holds: a reader cuts a
/// payload far over the size limit instead of buffering it whole; 0 otherwise.</param>
/// <param name="OnlyIndex">For the retry of a dead letter of one message of the payload: the index of that message
/// among those the payload decodes to, the only one processed again; null (always, for new data): all of them.</param>
public readonly record struct RawMessage(long Position, DateTime ReceivedAt, ReadOnlyMemory<byte> Payload, string? Topic = null, long ReceivedLength = 0, int? OnlyIndex = null)
{
    /// <summary>Size of the message as the source delivered it.</summary>
    public long Length => Math.Max(Payload.Length, ReceivedLength);
}

/// <summary>The stage of the pipeline a message failed at.</summary>
public enum DeadLetterStage
{
    Decode,
    Map,
    Validate,
    Step,
    Contextualize,
    Store,
}

public enum DeadLetterStatus
{
    Open,
    Replayed,
    Discarded,
}

/// <summary>A message that failed a stage, kept with everything needed to understand and replay it.</summary>
public sealed record DeadLetter
{
    public required string SourceId { get; init; }
    public required string StreamId { get; init; }
    public required long Position { get; init; }

    /// <summary>
    /// Which message of the raw message failed, when its payload decodes to messages (0 for JSON and CSV); null when
    /// the payload as a whole could not be decoded. The letter keeps the raw payload: its retry decodes it again and
    /// processes only this message (all of them when null).
    /// </summary>
    public int? Index { get; init; }

    public required DateTime ReceivedAt { get; init; }
    public required DeadLetterStage Stage { get; init; }
    public required string Reason { get; init; }
    public string? ErrorType { get; init; }
    public string? Model { get; init; }
    public int? ModelVersion { get; init; }
    public string? Topic { get; init; }
    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>Size of the payload as received; larger than <see cref="Payload"/> when it was cut at the size limit.</summary>
    public long PayloadBytes { get; init; }

    /// <summary>The plant the message is about, when it could be told: the source's plant, or its plant template read from the message.</summary>
    public string? Plant { get; init; }
}

/// <summary>A validated, contextualized fact ready to be stored.</summary>
public sealed class Record
{
    public required DataModel Model { get; init; }

    /// <summary>Derived from the model and the natural key: two records with the same id are the same fact.</summary>
    public required Guid RecordId { get; init; }

    public required string SourceId { get; init; }
    public required string Plant { get; init; }
    public required long Position { get; init; }

    /// <summary>Which message of the raw message at <see cref="Position"/> the record was read from: 0, 1, 2... in the order its format decoded them.</summary>
    public int Index { get; init; }

    public required DateTime EventTime { get; init; }

    /// <summary>Surrogate key of the avatar the record describes; 0 when the model binds no avatar.</summary>
    public long AvatarKey { get; init; }

    public string? AvatarId { get; init; }

    /// <summary>
    /// Surrogate key of the deepest level of the plant hierarchy the record was contextualized at (its station,
    /// line, shop, or else its plant), so that aggregates can group records by any level above it.
    /// </summary>
    public long ContextKey { get; init; }

    /// <summary>Values aligned with <see cref="DataModel.Fields"/> of <see cref="Model"/>.</summary>
    public required FieldValue[] Values { get; init; }
}
