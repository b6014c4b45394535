using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Usine.Server.Internal;

/// <summary>
/// The one <see cref="Meter"/> of Usine, named <c>Usine</c>, and all its instruments; docs/metrics.md lists
/// them with their Prometheus names. Counters of sources are observed from the engine's own per-source
/// totals when scraped, so ingestion pays nothing for them; the latency histogram takes one sample per
/// committed batch.
/// </summary>
internal sealed class UsineMetrics : IDisposable
{
    public const string MeterName = "Usine";

    /// <summary>From 1 ms to 60 s: a commit on a quiet system, up to a source stuck behind a slow store.</summary>
    public static readonly IReadOnlyList<double> LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private static readonly JobState[] States = Enum.GetValues<JobState>();
    private readonly Usine.Ingestion.IngestEngine _engine;
    private readonly Usine.Configuration.UsineDefinitions _definitions;
    private readonly JobRegistry _jobs;
    private readonly TimeProvider _time;
    private readonly DateTime _startedAt;
    private readonly Meter _meter;
    private readonly Histogram<double> _latency;
    private readonly ConcurrentDictionary<string, KeyValuePair<string, object?>[]> _tags = new(StringComparer.Ordinal);

    public UsineMetrics(Usine.Ingestion.IngestEngine engine, Usine.Configuration.UsineDefinitions definitions, JobRegistry jobs, TimeProvider time, UsineStarted started, ClusterMonitor? cluster = null)
    {
        _engine = engine;
        _definitions = definitions;
        _jobs = jobs;
        _time = time;
        _startedAt = started.At;
        _meter = new Meter(MeterName, typeof(UsineMetrics).Assembly.GetName().Version?.ToString(3));
        _meter.CreateObservableCounter("usine.source.received", () => PerSource(s => s?.Received ?? 0), "{message}",
            "Messages handed to the engine and committed, per source: stored, duplicate or rejected.");
        _meter.CreateObservableCounter("usine.source.stored", () => PerSource(s => s?.Stored ?? 0), "{record}",
            "Records stored, per source.");
        _meter.CreateObservableCounter("usine.source.duplicates", () => PerSource(s => s?.Duplicates ?? 0), "{message}",
            "Messages dropped because their record was already stored (same record id or natural key), per source.");
        _meter.CreateObservableCounter("usine.source.rejected", () => PerSource(s => s?.DeadLetters ?? 0), "{message}",
            "Messages that became dead letters, per source.");
        _meter.CreateObservableCounter("usine.source.received.size", () => PerSource(s => s?.Bytes ?? 0), "By",
            "Payload bytes of the committed messages, per source.");
        _meter.CreateObservableGauge("usine.source.last_seen", LastSeen, "s",
            "Seconds since the last batch of the source was committed; since the process started when none was.");
        _meter.CreateObservableGauge("usine.source.lag", Lag, "s",
            "Age of the oldest message handed to the engine and not yet committed (its receive time to now); 0 when nothing is pending.");
        _meter.CreateObservableGauge("usine.job.state", JobStates, "1",
            "1 for the state a job is in, 0 for the others; streams always, bounded runs while running and for an hour after they end.");
        if (cluster is not null)
        {
            _meter.CreateObservableGauge<long>("usine.cluster.lag", () => cluster.Last is { } last ? [new Measurement<long>(last.Pending, new KeyValuePair<string, object?>("state", "pending")), new Measurement<long>(last.Unacknowledged, new KeyValuePair<string, object?>("state", "unacknowledged"))] : Array.Empty<Measurement<long>>(),
                "{message}", "In a cluster: messages of the JetStream stream the processors have not yet been given (pending) or not yet committed (unacknowledged), as last seen.");
        }

        _latency = _meter.CreateHistogram("usine.ingest.latency", "s",
            "Per committed batch: seconds from the receive time of its oldest message to the end of the commit that made it queryable.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
    }

    public void RecordLatency(SourceDefinition source, TimeSpan latency) =>
        _latency.Record(Math.Max(0, latency.TotalSeconds), Tags(source));

    private KeyValuePair<string, object?>[] Tags(SourceDefinition source) =>
        _tags.GetOrAdd(source.Id, static (id, s) => [new("source", id), new("plant", s.Plant.Text)], source);

    private List<Measurement<long>> PerSource(Func<Usine.Ingestion.SourceStats?, long> value)
    {
        var stats = _engine.Stats;
        var list = new List<Measurement<long>>(_definitions.Sources.Count);
        foreach (var source in _definitions.Sources.Values)
        {
            list.Add(new Measurement<long>(value(stats.GetValueOrDefault(source.Id)), Tags(source)));
        }

        return list;
    }

    private List<Measurement<double>> LastSeen()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var list = new List<Measurement<double>>(_definitions.Sources.Count);
        foreach (var source in _definitions.Sources.Values)
        {
            var last = _engine.Stats.GetValueOrDefault(source.Id)?.LastSeen ?? _startedAt;
            list.Add(new Measurement<double>(Math.Max(0, (now - last).TotalSeconds), Tags(source)));
        }

        return list;
    }

    private List<Measurement<double>> Lag()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var pending = _engine.OldestPending();
        var list = new List<Measurement<double>>(_definitions.Sources.Count);
        foreach (var source in _definitions.Sources.Values)
        {
            var lag = pending.TryGetValue(source.Id, out var oldest) ? Math.Max(0, (now - oldest).TotalSeconds) : 0;
            list.Add(new Measurement<double>(lag, Tags(source)));
        }

        return list;
    }

    private List<Measurement<int>> JobStates()
    {
        var recent = _time.GetUtcNow().UtcDateTime - TimeSpan.FromHours(1);
        var list = new List<Measurement<int>>();
        foreach (var job in _jobs.List())
        {
            if (job.EndedAt is { } ended && ended < recent)
            {
                continue;
            }

            var kind = job.Kind.ToString().ToLowerInvariant();
            var current = job.State;
            foreach (var state in States)
            {
                list.Add(new Measurement<int>(state == current ? 1 : 0,
                    new KeyValuePair<string, object?>("job", job.Id),
                    new KeyValuePair<string, object?>("kind", kind),
                    new KeyValuePair<string, object?>("source", job.SourceId ?? ""),
                    new KeyValuePair<string, object?>("state", state.ToString().ToLowerInvariant())));
            }
        }

        return list;
    }

    public void Dispose() => _meter.Dispose();
}
