using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Ingestion;
using Usine.Internal;
using Usine.Pipeline;

namespace Usine.Operations;

/// <summary>What a replay did, summed over its batches.</summary>
/// <param name="Read">Messages read from the raw zone, the archive or the dead letters.</param>
/// <param name="Stored">Records stored for the first time.</param>
/// <param name="Duplicates">Records that were stored already (or twice in one batch) and were not stored again.</param>
/// <param name="Failed">Messages that failed a stage this time.</param>
/// <param name="DeadLetters">What became of the dead letters the messages met.</param>
/// <param name="Streams">Streams the messages belonged to.</param>
public sealed record ReplayResult(long Read, long Stored, long Duplicates, long Failed, ReplayCounts DeadLetters, int Streams);

/// <summary>Where the CSV header of a stream is known; null for a stream whose source does not read CSV.</summary>
public delegate Task<IReadOnlyList<string>?> CsvHeaderLookup(string sourceId, string streamId, CancellationToken cancellationToken);

/// <summary>
/// Feeds messages received earlier through the current pipelines, stream by stream and in batches, in a mode
/// that is not <see cref="IngestMode.Live"/>. It reads any <see cref="IAsyncEnumerable{T}"/>, so the raw zone,
/// the archive and the dead letters replay the same way; the messages must come grouped by stream.
/// </summary>
public sealed class ReplayRunner(IIngestor engine, ILogger? logger = null)
{
    private const int TransientRetries = 3;
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    /// <summary>Messages per batch; each batch is one transaction. Default 5000.</summary>
    public int BatchSize { get; init; } = 5_000;

    public async Task<ReplayResult> RunAsync(
        IAsyncEnumerable<RawZoneMessage> messages, IngestMode mode, CsvHeaderLookup csvHeader, Job? job, CancellationToken cancellationToken)
    {
        if (mode == IngestMode.Live)
        {
            throw new ArgumentException("a replay runs in mode replay or retry, never live", nameof(mode));
        }

        long read = 0, stored = 0, duplicates = 0, failed = 0;
        var counts = ReplayCounts.None;
        var streams = 0;
        var pending = new Queue<Task<IngestResult>>();
        var batch = new List<RawMessage>(BatchSize);
        string? source = null;
        string? stream = null;
        IReadOnlyList<string>? header = null;

        void Add(IngestResult r)
        {
            read += r.Received;
            stored += r.Stored;
            duplicates += r.Duplicates;
            failed += r.DeadLetters;
            counts = counts.Add(r.Replay ?? ReplayCounts.None);
            job?.Count(r.Received, r.Stored, r.Duplicates, r.DeadLetters);
        }

        async Task Flush()
        {
            if (batch.Count == 0)
            {
                return;
            }

            var b = new IngestBatch { SourceId = source!, StreamId = stream!, Messages = batch.ToArray(), CsvHeader = header, Mode = mode };
            batch.Clear();
            pending.Enqueue(IngestAsync(b, cancellationToken));

            // Two batches in flight: the engine processes one while the store commits the other.
            while (pending.Count > 1)
            {
                Add(await pending.Dequeue());
            }
        }

        await foreach (var m in messages.WithCancellation(cancellationToken))
        {
            var newStream = !string.Equals(m.StreamId, stream, StringComparison.Ordinal) || !string.Equals(m.SourceId, source, StringComparison.Ordinal);
            if (newStream || batch.Count >= BatchSize)
            {
                await Flush();
            }

            if (newStream)
            {
                source = m.SourceId;
                stream = m.StreamId;
                header = await csvHeader(source, stream, cancellationToken);
                streams++;
            }

            batch.Add(m.Message);
        }

        await Flush();
        while (pending.Count > 0)
        {
            Add(await pending.Dequeue());
        }

        return new ReplayResult(read, stored, duplicates, failed, counts, streams);
    }

    private async Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await engine.IngestAsync(batch, ct);
            }
            catch (UsineException ex) when (ex.IsTransient && attempt < TransientRetries)
            {
                // A batch of another connector failed to commit before this one; the engine has reloaded its
                // referential, and a replayed batch writes by (stream, position), so sending it again is safe.
                _logger.ReplayBatchRetried(ex, batch.SourceId, batch.StreamId, attempt);
            }
        }
    }
}
