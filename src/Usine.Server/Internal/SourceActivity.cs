using System.Collections.Concurrent;

namespace Usine.Server.Internal;

/// <summary>
/// Recent activity of one source for the status page: messages committed per second over the last minute
/// and dead letters per minute over the last hour. Two rings of 60 slots each, reused as time moves on,
/// so the memory per source is fixed whatever the traffic.
/// </summary>
internal sealed class SourceActivity
{
    private readonly Ring _messages = new(TimeSpan.TicksPerSecond);
    private readonly Ring _deadLetters = new(TimeSpan.TicksPerMinute);

    public void Add(DateTime at, int messages, int deadLetters)
    {
        _messages.Add(at, messages);
        if (deadLetters > 0)
        {
            _deadLetters.Add(at, deadLetters);
        }
    }

    /// <summary>Messages committed in the 60 seconds up to <paramref name="now"/>, per second.</summary>
    public double RatePerSecond(DateTime now) => _messages.Sum(now) / 60.0;

    /// <summary>Dead letters of the 60 minutes up to <paramref name="now"/> (the current minute included).</summary>
    public long DeadLettersLastHour(DateTime now) => _deadLetters.Sum(now);

    /// <summary>60 counts, one per slot of <c>slotTicks</c>; a slot older than the window is reset when its turn comes again.</summary>
    private sealed class Ring(long slotTicks)
    {
        private const int Slots = 60;
        private readonly long[] _counts = new long[Slots];
        private readonly long[] _ids = new long[Slots];
        private readonly Lock _gate = new();

        public void Add(DateTime at, long count)
        {
            var id = at.Ticks / slotTicks;
            var slot = (int)(id % Slots);
            lock (_gate)
            {
                if (_ids[slot] != id)
                {
                    _ids[slot] = id;
                    _counts[slot] = 0;
                }

                _counts[slot] += count;
            }
        }

        public long Sum(DateTime now)
        {
            var current = now.Ticks / slotTicks;
            long sum = 0;
            lock (_gate)
            {
                for (var i = 0; i < Slots; i++)
                {
                    var age = current - _ids[i];
                    if (age is >= 0 and < Slots)
                    {
                        sum += _counts[i];
                    }
                }
            }

            return sum;
        }
    }
}

/// <summary>The platform's view of every committed batch: recent activity per source and the latency histogram.</summary>
internal sealed class IngestTracker(UsineMetrics metrics) : IIngestObserver
{
    private readonly ConcurrentDictionary<string, SourceActivity> _sources = new(StringComparer.Ordinal);

    public SourceActivity? For(string sourceId) => _sources.GetValueOrDefault(sourceId);

    public void Committed(SourceDefinition source, IngestResult result, long bytes, DateTime oldestReceivedAt, DateTime committedAt)
    {
        _sources.GetOrAdd(source.Id, static _ => new SourceActivity()).Add(committedAt, result.Received, result.DeadLetters);
        metrics.RecordLatency(source, committedAt - oldestReceivedAt);
    }
}
