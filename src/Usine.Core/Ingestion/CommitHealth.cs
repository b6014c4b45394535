namespace Usine.Ingestion;

/// <summary>The commits of one source failing, from the first failure of the streak to the latest.</summary>
/// <param name="SourceId">The source whose batches cannot be committed.</param>
/// <param name="Reason">Why the latest one failed, as the store said it.</param>
/// <param name="Since">When the first commit of the streak failed, UTC.</param>
/// <param name="LastAt">When the latest one failed, UTC.</param>
/// <param name="Attempts">Failed commits in the streak.</param>
public sealed record CommitFailure(string SourceId, string Reason, DateTime Since, DateTime LastAt, int Attempts);

/// <summary>
/// Whether the store commits: per source, the streak of failed commits that its latest commit belongs to. A
/// source is failing from a failed commit until one of its commits succeeds, or until the store is known to
/// commit again (<see cref="Recovered"/>, after a probe write). Health, jobs, sources and alerts read it, so
/// that a full disk or a broken data directory is seen as soon as a commit fails, whatever the cause.
/// </summary>
public sealed class CommitHealth
{
    private readonly Dictionary<string, CommitFailure> _failing = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _lastAttemptTicks;

    /// <summary>Raised after a commit of a source failed (every time), outside any lock.</summary>
    public event Action<CommitFailure>? Failed;

    /// <summary>Raised once a failing source commits again, or the store is known to commit again, outside any lock.</summary>
    public event Action<string>? Cleared;

    /// <summary>The sources whose latest commit failed, oldest streak first.</summary>
    public IReadOnlyList<CommitFailure> Failing
    {
        get
        {
            lock (_gate)
            {
                return [.. _failing.Values.OrderBy(f => f.Since).ThenBy(f => f.SourceId, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>The streak of failed commits of <paramref name="sourceId"/>; null when its latest commit succeeded.</summary>
    public CommitFailure? Of(string sourceId)
    {
        lock (_gate)
        {
            return _failing.GetValueOrDefault(sourceId);
        }
    }

    /// <summary>When a commit was last attempted (succeeded or not), UTC; null before the first.</summary>
    public DateTime? LastAttemptAt
    {
        get
        {
            var t = Interlocked.Read(ref _lastAttemptTicks);
            return t == 0 ? null : new DateTime(t, DateTimeKind.Utc);
        }
    }

    /// <summary>Notes a failed commit of <paramref name="sourceId"/>.</summary>
    public void Failure(string sourceId, string reason, DateTime at)
    {
        CommitFailure failure;
        lock (_gate)
        {
            Interlocked.Exchange(ref _lastAttemptTicks, at.Ticks);
            failure = _failing.TryGetValue(sourceId, out var streak)
                ? streak with { Reason = reason, LastAt = at, Attempts = streak.Attempts + 1 }
                : new CommitFailure(sourceId, reason, at, at, 1);
            _failing[sourceId] = failure;
        }

        Failed?.Invoke(failure);
    }

    /// <summary>Notes a successful commit of <paramref name="sourceId"/>, which ends its streak of failures.</summary>
    public void Success(string sourceId, DateTime at)
    {
        Interlocked.Exchange(ref _lastAttemptTicks, at.Ticks);
        bool cleared;
        lock (_gate)
        {
            cleared = _failing.Remove(sourceId);
        }

        if (cleared)
        {
            Cleared?.Invoke(sourceId);
        }
    }

    /// <summary>The store committed a write of its own (a probe): every streak ends, as the next commits should succeed.</summary>
    public void Recovered()
    {
        List<string> cleared;
        lock (_gate)
        {
            cleared = [.. _failing.Keys];
            _failing.Clear();
        }

        foreach (var id in cleared)
        {
            Cleared?.Invoke(id);
        }
    }
}
