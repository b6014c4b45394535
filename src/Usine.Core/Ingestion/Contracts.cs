using Usine.Avatars;
using Usine.Configuration;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Ingestion;

/// <summary>A batch of raw messages of one source and stream, handed to the engine by a connector.</summary>
public sealed record IngestBatch
{
    public required string SourceId { get; init; }

    /// <summary>The stream the positions belong to: <c>mqtt:SOURCE</c>, <c>file:SOURCE:SHA256</c>, <c>http:SOURCE</c>...</summary>
    public required string StreamId { get; init; }

    public required IReadOnlyList<RawMessage> Messages { get; init; }

    /// <summary>Column names, for CSV sources.</summary>
    public IReadOnlyList<string>? CsvHeader { get; init; }

    /// <summary>Position saved as the stream's checkpoint; defaults to the last message's.</summary>
    public long? Checkpoint { get; init; }

    /// <summary>New data, or messages already received processed again. Default <see cref="IngestMode.Live"/>.</summary>
    public IngestMode Mode { get; init; } = IngestMode.Live;

    /// <summary>
    /// When set, the messages are not processed: each becomes a dead letter of the store stage with this reason,
    /// its raw payload kept for a retry. For messages that failed too many times to be tried again as they come
    /// (a cluster's processors give a message up after a bounded number of deliveries).
    /// </summary>
    public string? Quarantine { get; init; }
}

/// <summary>Whether a batch is new data or data processed again, which decides what its commit may write.</summary>
public enum IngestMode
{
    /// <summary>New data: raw messages land, dead letters are added, the checkpoint moves.</summary>
    Live,

    /// <summary>
    /// Raw messages read back (from the raw zone or the archive) and processed again: no raw rows, the
    /// checkpoint stays, records and link events already stored are not added again, and dead letters are
    /// upserted by (stream, position, index): the same failure changes nothing, a new failure updates the open
    /// dead letter, a success marks it replayed. Running it twice over the same messages changes nothing.
    /// </summary>
    Replay,

    /// <summary>
    /// Open dead letters retried on purpose (after a fix or an edit): like <see cref="Replay"/>, except that
    /// a letter that fails again counts one more attempt even when its stage and reason are the same.
    /// </summary>
    Retry,
}

/// <summary>What a batch became once durable.</summary>
public sealed record IngestResult(int Received, int Stored, int Duplicates, int DeadLetters, long Checkpoint)
{
    /// <summary>For a batch not of <see cref="IngestMode.Live"/>: what became of the dead letters it met.</summary>
    public ReplayCounts? Replay { get; init; }
}

/// <summary>
/// What a replayed batch did to dead letters, by (stream, position, index): <paramref name="New"/> failures seen for the
/// first time, <paramref name="Unchanged"/> failures already recorded as they are (or letters already replayed or
/// discarded), <paramref name="Updated"/> open letters whose stage, reason or attempts changed, and
/// <paramref name="Replayed"/> open letters whose message now succeeded.
/// </summary>
public sealed record ReplayCounts(int New, int Unchanged, int Updated, int Replayed)
{
    public static readonly ReplayCounts None = new(0, 0, 0, 0);

    public ReplayCounts Add(ReplayCounts other) =>
        new(New + other.New, Unchanged + other.Unchanged, Updated + other.Updated, Replayed + other.Replayed);
}

/// <summary>Anything that accepts batches: the engine, in every deployment.</summary>
public interface IIngestor
{
    /// <summary>Completes once the batch, its outputs and its checkpoint are durable; only then may the connector acknowledge.</summary>
    Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken);

    /// <summary>The last committed position of a stream, or null when nothing of it was ever committed.</summary>
    Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken);
}

/// <summary>Everything one batch produced, committed atomically with the stream's checkpoint.</summary>
public sealed record CommitBatch(
    SourceDefinition Source,
    string StreamId,
    long Checkpoint,
    IReadOnlyList<RawMessage> Raw,
    PipelineOutput Output,
    IReadOnlyList<string>? CsvHeader,
    IngestMode Mode = IngestMode.Live);

public sealed record CommitResult(int Landed, int Stored, int Duplicates, int DeadLetters)
{
    /// <summary>Set for a batch not of <see cref="IngestMode.Live"/>.</summary>
    public ReplayCounts? Replay { get; init; }
}

/// <summary>
/// The store a pipeline writes to. <see cref="CommitAsync"/> must be atomic: raw messages, records, rollup
/// updates, dead letters, new avatars, links and the checkpoint land together or not at all, and records
/// whose id is already stored are dropped. A batch not of <see cref="IngestMode.Live"/> follows the rules of
/// its <see cref="CommitBatch.Mode"/>.
/// </summary>
public interface IRecordStore : IAsyncDisposable
{
    Task InitializeAsync(UsineDefinitions definitions, CancellationToken cancellationToken);

    Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken);

    /// <summary>Feeds every avatar, the last link of each kind and current attributes to <paramref name="into"/>.</summary>
    Task LoadReferentialAsync(AvatarRegistry.Loader into, CancellationToken cancellationToken);

    Task<CommitResult> CommitAsync(CommitBatch batch, CancellationToken cancellationToken);
}

/// <summary>One message read back from the raw zone or from the archive, to be replayed through the current pipeline.</summary>
public sealed record RawZoneMessage(string SourceId, string StreamId, RawMessage Message);

/// <summary>
/// Told of every batch the engine commits, on the engine's commit loop: an implementation must be quick and
/// must not block (count, add to a ring, record a histogram sample), or it slows every source down.
/// </summary>
public interface IIngestObserver
{
    /// <param name="source">The batch's source.</param>
    /// <param name="result">What the batch became.</param>
    /// <param name="bytes">Payload bytes of the batch.</param>
    /// <param name="oldestReceivedAt">The earliest <see cref="Pipeline.RawMessage.ReceivedAt"/> of the batch.</param>
    /// <param name="committedAt">When the commit that made the batch queryable ended.</param>
    void Committed(SourceDefinition source, IngestResult result, long bytes, DateTime oldestReceivedAt, DateTime committedAt);
}
