using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Avatars;
using Usine.Configuration;
using Usine.Internal;
using Usine.Pipeline;

namespace Usine.Ingestion;

/// <summary>
/// Runs every batch of every connector through its source's pipeline and commits the outcome with the
/// stream's checkpoint. Two stages overlap: while the store commits one batch, the next is processed.
/// Both queues are bounded and callers wait when they are full, which is how backpressure reaches the
/// connectors (an MQTT client stops acknowledging, an HTTP client waits for its answer).
/// </summary>
public sealed class IngestEngine : IIngestor, IAsyncDisposable
{
    private readonly UsineDefinitions _definitions;
    private readonly IRecordStore _store;
    private readonly IReadOnlyList<IPipelineStep> _steps;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly AvatarRegistry _avatars = new();
    private readonly ConcurrentDictionary<string, SourcePipeline> _pipelines = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SourceStats> _stats = new(StringComparer.Ordinal);
    private readonly Channel<Work> _toProcess = Channel.CreateBounded<Work>(new BoundedChannelOptions(4) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
    private readonly Channel<Work> _toCommit = Channel.CreateBounded<Work>(new BoundedChannelOptions(2) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true, SingleWriter = true });
    private readonly SemaphoreSlim _referentialLock = new(1, 1);
    private Task? _processLoop;
    private Task? _commitLoop;
    private int _generation;

    public IngestEngine(UsineDefinitions definitions, IRecordStore store, IEnumerable<IPipelineStep>? steps = null, ILogger<IngestEngine>? logger = null, TimeProvider? time = null)
    {
        _definitions = definitions;
        _store = store;
        _steps = steps?.ToArray() ?? [];
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    public UsineDefinitions Definitions => _definitions;

    /// <summary>Told of every committed batch (metrics, rates); set it before batches flow.</summary>
    public IIngestObserver? Observer { get; set; }

    public IReadOnlyDictionary<string, SourceStats> Stats => _stats;

    /// <summary>Which sources' latest commits failed, and why: what health, jobs, sources and alerts report.</summary>
    public CommitHealth Commits { get; } = new();

    /// <summary>
    /// Starts the sources' counters from what the store holds, so that a restart does not show a source with
    /// data as "received 0, last seen never". Call once, before batches flow.
    /// </summary>
    public void SeedStats(IReadOnlyDictionary<string, SourceTotals> totals)
    {
        foreach (var (id, t) in totals)
        {
            _stats.GetOrAdd(id, _ => new SourceStats()).Seed(t);
        }
    }

    public int AvatarCount => _avatars.Count;

    /// <summary>Time spent running pipelines, and committing, since the start (for benchmarks and metrics).</summary>
    public TimeSpan ProcessTime => TimeSpan.FromTicks(Interlocked.Read(ref _processTicks));

    public TimeSpan CommitTime => TimeSpan.FromTicks(Interlocked.Read(ref _commitTicks));

    private long _processTicks;
    private long _commitTicks;

    private sealed class Work(IngestBatch batch, CancellationToken ct)
    {
        public IngestBatch Batch { get; } = batch;
        public CancellationToken Cancellation { get; } = ct;
        public TaskCompletionSource<IngestResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public PipelineOutput Output { get; } = new();

        /// <summary>The source definition the batch was processed with: the commit stores what that definition produced.</summary>
        public Usine.Sources.SourceDefinition? Source { get; set; }

        public int Generation { get; set; }
        public long Bytes { get; set; }
        public DateTime OldestReceivedAt { get; init; }
    }

    /// <summary>
    /// Per source, the earliest receive time among the messages handed to the engine and not yet committed
    /// (queued, in the pipeline or in the store's transaction). A source with nothing pending is absent.
    /// </summary>
    public Dictionary<string, DateTime> OldestPending()
    {
        var oldest = new Dictionary<string, DateTime>(StringComparer.Ordinal);
        foreach (var (id, batches) in _pending)
        {
            if (batches.Oldest() is { } t)
            {
                oldest[id] = t;
            }
        }

        return oldest;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _store.InitializeAsync(_definitions, cancellationToken);
        _avatars.KeySource = _store as IAvatarKeySource;
        await ReloadReferentialAsync(cancellationToken);
        _processLoop = Task.Run(ProcessLoopAsync, CancellationToken.None);
        _commitLoop = Task.Run(CommitLoopAsync, CancellationToken.None);
    }

    public Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken) =>
        _store.GetCheckpointAsync(streamId, cancellationToken);

    public async Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken)
    {
        if (_processLoop is null)
        {
            throw new InvalidOperationException("the engine is not started");
        }

        if (!_definitions.Sources.ContainsKey(batch.SourceId))
        {
            throw new ArgumentException($"unknown source '{batch.SourceId}'", nameof(batch));
        }

        if (batch.Messages.Count == 0)
        {
            return new IngestResult(0, 0, 0, 0, batch.Checkpoint ?? 0);
        }

        var oldest = DateTime.MaxValue;
        foreach (var m in batch.Messages)
        {
            if (m.ReceivedAt < oldest)
            {
                oldest = m.ReceivedAt;
            }
        }

        var work = new Work(batch, cancellationToken) { OldestReceivedAt = oldest };

        // Lag and pending counts are about new data: a replay of last week's messages is not a week late.
        var pending = batch.Mode == IngestMode.Live ? _pending.GetOrAdd(batch.SourceId, _ => new PendingBatches()) : null;
        pending?.Add(work);
        try
        {
            await _toProcess.Writer.WriteAsync(work, cancellationToken);
            return await work.Done.Task.WaitAsync(cancellationToken);
        }
        finally
        {
            pending?.Remove(work);
        }
    }

    /// <summary>How long the oldest message of a source handed to the engine and not yet committed has waited since it was received; zero when none waits.</summary>
    public TimeSpan OldestPendingAge(string sourceId)
    {
        if (!_pending.TryGetValue(sourceId, out var p) || p.Oldest() is not { } oldest)
        {
            return TimeSpan.Zero;
        }

        var age = _time.GetUtcNow().UtcDateTime - oldest;
        return age > TimeSpan.Zero ? age : TimeSpan.Zero;
    }

    /// <summary>Messages of a source handed to the engine and not yet committed.</summary>
    public long PendingMessages(string sourceId) => _pending.TryGetValue(sourceId, out var p) ? p.Messages() : 0;

    private readonly ConcurrentDictionary<string, PendingBatches> _pending = new(StringComparer.Ordinal);

    /// <summary>The batches of one source in the engine; a handful at a time, so a locked list is cheap.</summary>
    private sealed class PendingBatches
    {
        private readonly List<Work> _works = [];

        public void Add(Work w)
        {
            lock (_works)
            {
                _works.Add(w);
            }
        }

        public void Remove(Work w)
        {
            lock (_works)
            {
                _works.Remove(w);
            }
        }

        public DateTime? Oldest()
        {
            lock (_works)
            {
                DateTime? min = null;
                foreach (var w in _works)
                {
                    var t = w.OldestReceivedAt;
                    if (min is null || t < min)
                    {
                        min = t;
                    }
                }

                return min;
            }
        }

        public long Messages()
        {
            lock (_works)
            {
                return _works.Sum(w => (long)w.Batch.Messages.Count);
            }
        }
    }

    private async Task ProcessLoopAsync()
    {
        await foreach (var work in _toProcess.Reader.ReadAllAsync())
        {
            if (work.Cancellation.IsCancellationRequested)
            {
                work.Done.TrySetCanceled(work.Cancellation);
                continue;
            }

            var batch = work.Batch;
            var started = _time.GetTimestamp();
            await _referentialLock.WaitAsync();
            try
            {
                work.Generation = _generation;
                var pipeline = PipelineFor(batch.SourceId);
                work.Source = pipeline.Source;
                if (batch.Quarantine is { } reason)
                {
                    Quarantine(batch, pipeline.Source, reason, work.Output);
                }
                else
                {
                    pipeline.Process(batch.Messages, batch.StreamId, _avatars, work.Output, batch.CsvHeader);
                }
                long bytes = 0;
                foreach (var m in batch.Messages)
                {
                    bytes += m.Payload.Length;
                }

                work.Bytes = bytes;
            }
            catch (Exception ex)
            {
                _logger.PipelineFailed(ex, batch.SourceId, batch.Messages.Count);
                work.Done.TrySetException(ex);
                continue;
            }
            finally
            {
                _referentialLock.Release();
                Interlocked.Add(ref _processTicks, _time.GetElapsedTime(started).Ticks);
            }

            await _toCommit.Writer.WriteAsync(work);
        }

        _toCommit.Writer.Complete();
    }

    private static void Quarantine(IngestBatch batch, Usine.Sources.SourceDefinition source, string reason, PipelineOutput output)
    {
        foreach (var m in batch.Messages)
        {
            output.DeadLetters.Add(new DeadLetter
            {
                SourceId = batch.SourceId,
                StreamId = batch.StreamId,
                Position = m.Position,
                Index = m.OnlyIndex,
                ReceivedAt = m.ReceivedAt,
                Stage = DeadLetterStage.Store,
                Reason = reason,
                Topic = m.Topic,
                Payload = m.Payload,
                PayloadBytes = m.Length,
                Plant = source.Plant.Constant,
            });
        }

        output.Decoded += batch.Messages.Count;
    }

    private async Task CommitLoopAsync()
    {
        await foreach (var work in _toCommit.Reader.ReadAllAsync())
        {
            var batch = work.Batch;
            if (work.Generation != Volatile.Read(ref _generation))
            {
                // Processed against avatars of a batch whose commit failed: the connector retries it.
                work.Done.TrySetException(new UsineException("an earlier batch failed to commit; retry", isTransient: true));
                continue;
            }

            var started = _time.GetTimestamp();
            try
            {
                var source = work.Source!;
                var checkpoint = batch.Checkpoint ?? batch.Messages[^1].Position;
                var r = await _store.CommitAsync(new CommitBatch(source, batch.StreamId, checkpoint, batch.Messages, work.Output, batch.CsvHeader, batch.Mode), CancellationToken.None);
                var result = new IngestResult(batch.Messages.Count, r.Stored, r.Duplicates + work.Output.DuplicatesInBatch, r.DeadLetters, checkpoint) { Replay = r.Replay };
                var committedAt = _time.GetUtcNow().UtcDateTime;

                // Out of the pending set before the caller resumes, so lag never counts a committed batch.
                if (_pending.TryGetValue(batch.SourceId, out var pending))
                {
                    pending.Remove(work);
                }

                // A source's counters and figures say what it delivered; messages processed again were counted when they came.
                if (batch.Mode == IngestMode.Live)
                {
                    _stats.GetOrAdd(batch.SourceId, _ => new SourceStats()).Add(result, work.Bytes, committedAt);
                    Notify(source, result, work, committedAt);
                }

                Commits.Success(batch.SourceId, committedAt);
                work.Done.TrySetResult(result);
                Interlocked.Add(ref _commitTicks, _time.GetElapsedTime(started).Ticks);
            }
            catch (Exception ex)
            {
                _logger.CommitFailed(ex, batch.SourceId, batch.Messages.Count);
                var failure = ex is UsineException ? ex : new UsineException($"commit failed: {ex.Message}", isTransient: true, ex);
                Commits.Failure(batch.SourceId, failure.Message, _time.GetUtcNow().UtcDateTime);
                await _referentialLock.WaitAsync();
                try
                {
                    Interlocked.Increment(ref _generation);
                    await ReloadReferentialAsync(CancellationToken.None);
                }
                catch (Exception reload)
                {
                    _logger.CommitFailed(reload, batch.SourceId, 0);
                }
                finally
                {
                    _referentialLock.Release();
                }

                work.Done.TrySetException(failure);
            }
        }
    }

    private void Notify(Sources.SourceDefinition source, IngestResult result, Work work, DateTime committedAt)
    {
        if (Observer is not { } observer)
        {
            return;
        }

        try
        {
            observer.Committed(source, result, work.Bytes, work.OldestReceivedAt, committedAt);
        }
        catch (Exception ex)
        {
            // The batch is durable whatever an observer does; a broken observer costs figures, not data.
            _logger.ObserverFailed(ex, source.Id);
        }
    }

    private async Task ReloadReferentialAsync(CancellationToken ct)
    {
        var loader = _avatars.StartLoad();
        await _store.LoadReferentialAsync(loader, ct);
        loader.Complete();
        _logger.ReferentialLoaded(loader.Avatars);
    }

    /// <summary>
    /// The pipeline of a source, built again when its definition or the model version it writes changed
    /// since it was built (the API replaces sources and adds model versions while the engine runs).
    /// </summary>
    private SourcePipeline PipelineFor(string sourceId)
    {
        var source = _definitions.Sources.TryGetValue(sourceId, out var s)
            ? s
            : throw new UsineException($"source '{sourceId}' was removed while its messages were on their way; send them again to a defined source");
        if (!_pipelines.TryGetValue(sourceId, out var p) || !ReferenceEquals(p.Source, source) || !ReferenceEquals(p.Model, _definitions.ModelOf(source)))
        {
            _pipelines[sourceId] = p = new SourcePipeline(source, _definitions, _steps);
        }

        return p;
    }

    public async ValueTask DisposeAsync()
    {
        _toProcess.Writer.TryComplete();
        if (_processLoop is not null)
        {
            await _processLoop;
        }

        if (_commitLoop is not null)
        {
            await _commitLoop;
        }

        _referentialLock.Dispose();
    }
}
