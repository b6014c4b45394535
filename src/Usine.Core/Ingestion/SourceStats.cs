namespace Usine.Ingestion;

/// <summary>
/// What a source delivered, as the store counted it: messages landed, of those stored, duplicates and dead
/// letters, and when its last message was committed. The starting point of <see cref="SourceStats"/>.
/// </summary>
public sealed record SourceTotals(long Received, long Stored, long Duplicates, long DeadLetters, DateTime? LastSeen);

/// <summary>
/// Counters of one source: what the store held when the process started (<see cref="SourceTotals"/>) plus what
/// committed since. <see cref="Bytes"/> alone counts since the start, the store keeping no payload sizes per hour.
/// </summary>
public sealed class SourceStats
{
    private long _received;
    private long _stored;
    private long _duplicates;
    private long _deadLetters;
    private long _bytes;
    private long _lastSeenTicks;

    public long Received => Interlocked.Read(ref _received);
    public long Stored => Interlocked.Read(ref _stored);
    public long Duplicates => Interlocked.Read(ref _duplicates);
    public long DeadLetters => Interlocked.Read(ref _deadLetters);
    public long Bytes => Interlocked.Read(ref _bytes);

    public DateTime? LastSeen
    {
        get
        {
            var t = Interlocked.Read(ref _lastSeenTicks);
            return t == 0 ? null : new DateTime(t, DateTimeKind.Utc);
        }
    }

    internal void Seed(SourceTotals totals)
    {
        Interlocked.Add(ref _received, totals.Received);
        Interlocked.Add(ref _stored, totals.Stored);
        Interlocked.Add(ref _duplicates, totals.Duplicates);
        Interlocked.Add(ref _deadLetters, totals.DeadLetters);
        if (totals.LastSeen is { } t)
        {
            // A batch committed meanwhile is newer: keep it.
            var ticks = t.Ticks;
            long seen;
            do
            {
                seen = Interlocked.Read(ref _lastSeenTicks);
            }
            while (seen < ticks && Interlocked.CompareExchange(ref _lastSeenTicks, ticks, seen) != seen);
        }
    }

    internal void Add(IngestResult r, long bytes, DateTime now)
    {
        Interlocked.Add(ref _received, r.Received);
        Interlocked.Add(ref _stored, r.Stored);
        Interlocked.Add(ref _duplicates, r.Duplicates);
        Interlocked.Add(ref _deadLetters, r.DeadLetters);
        Interlocked.Add(ref _bytes, bytes);
        Interlocked.Exchange(ref _lastSeenTicks, now.Ticks);
    }
}
