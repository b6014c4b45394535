using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Internal;

namespace Usine.Operations;

/// <summary>What a job is: an unbounded stream per live source, or a bounded run.</summary>
public enum JobKind
{
    Stream,
    Import,
    Replay,
    Backfill,
    Archive,

    /// <summary>Deletion of raw messages and archive partitions past their retention.</summary>
    Retention,
}

/// <summary>
/// The state of a job. Running: data flows. Idle: nothing to do right now (a drop folder that is empty, a
/// stream with no traffic). Degraded: working but impaired (reconnecting, retrying). Failed: stopped by an
/// error it cannot recover from by itself. Stopped: ended normally, or shut down.
/// </summary>
public enum JobState
{
    Running,
    Idle,
    Degraded,
    Failed,
    Stopped,
}

/// <summary>One state change of a job.</summary>
public sealed record JobTransition(DateTime At, JobState From, JobState To, string? Reason);

/// <summary>
/// A job with its state, counters, last error and the history of its state changes. Thread-safe: connectors
/// update it from their own loops while the API reads it.
/// </summary>
public sealed class Job
{
    private const int HistoryLimit = 100;
    private readonly JobRegistry _registry;
    private readonly Queue<JobTransition> _history = new();
    private readonly object _gate = new();
    private long _received;
    private long _stored;
    private long _duplicates;
    private long _rejected;
    private long _sequenceGaps;
    private long _lastActivityTicks;
    private string? _detail;

    internal Job(JobRegistry registry, string id, JobKind kind, string? sourceId, string? description, DateTime startedAt, JobState state)
    {
        _registry = registry;
        Id = id;
        Kind = kind;
        SourceId = sourceId;
        Description = description;
        StartedAt = startedAt;
        State = state;
        StateSince = startedAt;
    }

    public string Id { get; }
    public JobKind Kind { get; }
    public string? SourceId { get; }
    public string? Description { get; }
    public DateTime StartedAt { get; }
    public DateTime? EndedAt { get; private set; }
    public JobState State { get; private set; }
    public DateTime StateSince { get; private set; }
    public string? LastError { get; private set; }
    public DateTime? LastErrorAt { get; private set; }

    /// <summary>Total units of work, when known (the lines of a file, the raw messages of a replay range).</summary>
    public long? Total { get; set; }

    public long Received => Interlocked.Read(ref _received);
    public long Stored => Interlocked.Read(ref _stored);
    public long Duplicates => Interlocked.Read(ref _duplicates);
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>
    /// Gaps the source's own message numbering showed (a Sparkplug edge node's seq): messages its peer sent that
    /// never arrived. Zero for sources that do not number their messages.
    /// </summary>
    public long SequenceGaps => Interlocked.Read(ref _sequenceGaps);

    /// <summary>
    /// What the source says of the parts it reads from, beside its state, such as
    /// <c>1 of 3 edge nodes offline: BodyShop/E1 since 10:02:11Z (NDEATH (bdSeq 3))</c>; null when there is nothing to say.
    /// </summary>
    public string? Detail
    {
        get => Volatile.Read(ref _detail);
        set => Volatile.Write(ref _detail, value);
    }

    /// <summary>Counts gaps in the source's own message numbering (see <see cref="SequenceGaps"/>).</summary>
    public void CountSequenceGaps(long gaps) => Interlocked.Add(ref _sequenceGaps, gaps);

    /// <summary>When the job last handed data to the engine, UTC; null before the first batch.</summary>
    public DateTime? LastActivityAt
    {
        get
        {
            var t = Interlocked.Read(ref _lastActivityTicks);
            return t == 0 ? null : new DateTime(t, DateTimeKind.Utc);
        }
    }

    public IReadOnlyList<JobTransition> History
    {
        get
        {
            lock (_gate)
            {
                return [.. _history];
            }
        }
    }

    /// <summary>Adds the outcome of one batch to the counters.</summary>
    public void Count(long received, long stored, long duplicates, long rejected)
    {
        Interlocked.Add(ref _received, received);
        Interlocked.Add(ref _stored, stored);
        Interlocked.Add(ref _duplicates, duplicates);
        Interlocked.Add(ref _rejected, rejected);
    }

    /// <summary>
    /// Adds the outcome of one committed batch to the counters and notes the activity. An idle stream that
    /// receives data is running again; a degraded or failed one keeps its state, which only the component
    /// that knows the cause (the connector) may clear.
    /// </summary>
    public void Record(Ingestion.IngestResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        Record(result.Received, result.Stored, result.Duplicates, result.DeadLetters);
    }

    /// <inheritdoc cref="Record(Ingestion.IngestResult)"/>
    public void Record(long received, long stored, long duplicates, long rejected)
    {
        Count(received, stored, duplicates, rejected);
        Interlocked.Exchange(ref _lastActivityTicks, _registry.Time.GetUtcNow().UtcDateTime.Ticks);
        if (Kind == JobKind.Stream && State == JobState.Idle)
        {
            TrySetState(JobState.Idle, JobState.Running, "data arrived");
        }
    }

    /// <summary>Moves the job to <paramref name="state"/> only if it is still in <paramref name="expected"/>, so a decision taken on a stale read never overwrites a newer state.</summary>
    public bool TrySetState(JobState expected, JobState state, string? reason = null) => Change(state, reason, expected);

    /// <summary>Moves the job to <paramref name="state"/>; a change is kept in the history and logged. Failed and degraded keep the reason as last error.</summary>
    public void SetState(JobState state, string? reason = null) => Change(state, reason, null);

    private bool Change(JobState state, string? reason, JobState? expected)
    {
        JobTransition? change = null;
        lock (_gate)
        {
            if (expected is { } e && State != e)
            {
                return false;
            }

            var now = _registry.Time.GetUtcNow().UtcDateTime;
            if (state is JobState.Failed or JobState.Degraded && reason is not null)
            {
                LastError = reason;
                LastErrorAt = now;
            }

            if (state == State)
            {
                return false;
            }

            change = new JobTransition(now, State, state, reason);
            _history.Enqueue(change);
            if (_history.Count > HistoryLimit)
            {
                _history.Dequeue();
            }

            State = state;
            StateSince = now;
            if (Kind != JobKind.Stream && state is JobState.Stopped or JobState.Failed)
            {
                EndedAt = now;
            }
        }

        _registry.OnChanged(this, change);
        return true;
    }
}

/// <summary>Every job of this process: live streams and bounded runs, newest first.</summary>
public sealed class JobRegistry
{
    private const int FinishedKept = 500;
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly ILogger _logger;
    private long _sequence;

    public JobRegistry(TimeProvider? time = null, ILogger<JobRegistry>? logger = null)
    {
        Time = time ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    public TimeProvider Time { get; }

    /// <summary>Raised after every state change, outside any lock.</summary>
    public event Action<Job, JobTransition>? StateChanged;

    /// <summary>The stream job of a live source: one per source, created on first use, id <c>stream:SOURCE</c>.</summary>
    public Job Stream(string sourceId, JobState initial = JobState.Idle) =>
        _jobs.GetOrAdd("stream:" + sourceId, id => new Job(this, id, JobKind.Stream, sourceId, null, Time.GetUtcNow().UtcDateTime, initial));

    /// <summary>Starts a bounded run (import, replay, backfill, archive, retention), in state running.</summary>
    public Job Start(JobKind kind, string? sourceId, string? description)
    {
        var id = $"{kind.ToString().ToLowerInvariant()}-{Interlocked.Increment(ref _sequence)}";
        var job = new Job(this, id, kind, sourceId, description, Time.GetUtcNow().UtcDateTime, JobState.Running);
        _jobs[id] = job;
        Trim();
        _logger.JobStarted(id, sourceId ?? "-", description ?? "");
        return job;
    }

    public Job? Get(string id) => _jobs.GetValueOrDefault(id);

    public IReadOnlyList<Job> List() => [.. _jobs.Values.OrderByDescending(j => j.StartedAt).ThenByDescending(j => j.Id, StringComparer.Ordinal)];

    /// <summary>
    /// Marks idle every running stream that handed no data to the engine for <paramref name="idleAfter"/>
    /// of its source (null: never idle), counting from its last batch or from when it started running,
    /// whichever is later. Called periodically; streams become running again with their next batch.
    /// </summary>
    public void MarkSilentStreamsIdle(Func<Job, TimeSpan?> idleAfter)
    {
        ArgumentNullException.ThrowIfNull(idleAfter);
        var now = Time.GetUtcNow().UtcDateTime;
        foreach (var job in _jobs.Values)
        {
            if (job.Kind != JobKind.Stream || job.State != JobState.Running || idleAfter(job) is not { } after)
            {
                continue;
            }

            var since = job.LastActivityAt is { } last && last > job.StateSince ? last : job.StateSince;
            if (now - since >= after)
            {
                job.TrySetState(JobState.Running, JobState.Idle, $"no data for {Math.Round((now - since).TotalSeconds)} s (idle after {after.TotalSeconds} s)");
            }
        }
    }

    internal void OnChanged(Job job, JobTransition change)
    {
        if (change.To is JobState.Failed)
        {
            _logger.JobFailed(job.Id, change.From, change.To, change.Reason ?? "");
        }
        else
        {
            _logger.JobStateChanged(job.Id, change.From, change.To, change.Reason ?? "");
        }

        StateChanged?.Invoke(job, change);
    }

    private void Trim()
    {
        var finished = _jobs.Values.Where(j => j.EndedAt is not null).OrderBy(j => j.EndedAt).ToList();
        for (var i = 0; i < finished.Count - FinishedKept; i++)
        {
            _jobs.TryRemove(finished[i].Id, out _);
        }
    }
}
