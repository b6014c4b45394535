namespace Usine.Ingestion;

/// <summary>Counters of one source since the process started.</summary>
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
