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
}

/// <summary>What a batch became once durable.</summary>
public sealed record IngestResult(int Received, int Stored, int Duplicates, int DeadLetters, long Checkpoint);

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
    IReadOnlyList<string>? CsvHeader);

public sealed record CommitResult(int Landed, int Stored, int Duplicates, int DeadLetters);

/// <summary>
/// The store a pipeline writes to. <see cref="CommitAsync"/> must be atomic: raw messages, records, rollup
/// updates, dead letters, new avatars, links and the checkpoint land together or not at all, and records
/// whose id is already stored are dropped.
/// </summary>
public interface IRecordStore : IAsyncDisposable
{
    Task InitializeAsync(UsineDefinitions definitions, CancellationToken cancellationToken);

    Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken);

    Task<(IReadOnlyList<Avatar> Avatars, IReadOnlyList<AvatarLinkEvent> LastLinks)> LoadReferentialAsync(CancellationToken cancellationToken);

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
