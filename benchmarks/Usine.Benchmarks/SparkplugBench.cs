using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Configuration;
using Usine.Connectors.Mqtt;
using Usine.Connectors.Sparkplug;
using Usine.Ingestion;
using Usine.Sources;
using Usine.Storage.DuckDb;

namespace Usine.Benchmarks;

/// <summary>The figures of one Sparkplug run.</summary>
public sealed record SparkplugBenchReport(long Messages, int MetricsPerMessage, double PublishSeconds, double IngestSeconds, long Stored, long DeadLetters, double CpuSeconds, long PeakWorkingSetBytes)
{
    public long Metrics => Messages * MetricsPerMessage;

    public double MetricRate => (Stored + DeadLetters) / IngestSeconds;

    public double CpuSecondsPerMillion => CpuSeconds / ((Stored + DeadLetters) / 1e6);
}

/// <summary>
/// <c>usine bench --sparkplug URL</c>: edge nodes' NDATA (metrics carrying aliases only, as Sparkplug edge nodes
/// send them) published with QoS 1 to a real broker while the sparkplug source is stopped, after their births;
/// then the source starts and drains the queue: births, alias resolution, seq checks, the annotated raw message,
/// one record per metric, commit, acknowledgement. Drained as the MQTT scenario is, so that the publishers do
/// not take the cores the source needs.
/// </summary>
public static class SparkplugBench
{
    private const int EdgeNodes = 4;

    private const string Definitions = """
        models:
          - name: sparkplug_metric
            version: 1
            time: ts
            fields:
              tag:   { type: string, required: true }
              value: { type: double }
              ts:    { type: timestamp, required: true }
              edge:  { type: string }
            rollups:
              - { bucket: 1h, by: [tag], measures: { value: [count, avg, min, max] } }
        sources:
          - id: bench-sparkplug
            kind: sparkplug
            plant: bench
            model: sparkplug_metric
            settings: { broker: "BROKER", hostId: HOSTID, clientId: CLIENTID, groups: [GROUP] }
            map: { tag: "$.metric", value: "$.value", ts: "$.timestamp", edge: "$.edge" }
        """;

    public static async Task<SparkplugBenchReport> RunAsync(Uri broker, long messages, int metricsPerMessage, string work, Action<string> log, CancellationToken ct)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var group = "bench" + run;
        var yaml = Definitions.Replace("BROKER", broker.ToString(), StringComparison.Ordinal).Replace("HOSTID", "usine-bench-" + run, StringComparison.Ordinal)
            .Replace("CLIENTID", "usine-bench-sparkplug-" + run, StringComparison.Ordinal).Replace("GROUP", group, StringComparison.Ordinal);
        var definitions = DefinitionLoader.LoadText(yaml, "sparkplug-bench.yaml", new SourceKindRegistry([SparkplugConnectors.Registration()]));
        var source = definitions.Sources["bench-sparkplug"];

        var store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(work, "usine-sparkplug") });
        var engine = new IngestEngine(definitions, store.Commit, logger: NullLogger<IngestEngine>.Instance);
        await engine.StartAsync(ct);

        // Subscribe once: the persistent session keeps the subscription and queues what is published meanwhile.
        await using (await StartAsync(source, engine, ct))
        {
        }

        var perNode = (int)Math.Ceiling(messages / (double)EdgeNodes);
        log($"sparkplug: publishing {EdgeNodes} births and {perNode * EdgeNodes:N0} NDATA of {metricsPerMessage} metrics with QoS 1 to {broker} while the source is stopped");
        var start = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds();
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, EdgeNodes).Select(node => Task.Run(async () =>
        {
            await using var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = broker, ClientId = $"usine-bench-edge-{run}-{node}" });
            var edge = "E" + node;
            await publisher.PublishAsync($"spBv1.0/{group}/NBIRTH/{edge}", Birth(metricsPerMessage, start), ct);
            var inflight = new List<Task>(256);
            for (var n = 0; n < perNode; n++)
            {
                inflight.Add(publisher.PublishAsync($"spBv1.0/{group}/NDATA/{edge}", Data(metricsPerMessage, (ulong)((n + 1) % 256), start + n, n), ct));
                if (inflight.Count == 256)
                {
                    await Task.WhenAll(inflight);
                    inflight.Clear();
                }
            }

            await Task.WhenAll(inflight);
        }, ct)));
        var published = sw.Elapsed.TotalSeconds;
        var expected = (long)EdgeNodes * (perNode + 1) * metricsPerMessage;

        log($"  published in {published:N1} s; the source starts and drains the broker's queue ({expected:N0} metrics)");
        using var sampler = new PeakSampler();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        sw.Restart();
        long done;
        SparkplugHostCounters counters;
        await using (var second = await StartAsync(source, engine, ct))
        {
            while ((done = Total(engine)) < expected)
            {
                if (sw.Elapsed > TimeSpan.FromSeconds(published * 10 + 60))
                {
                    throw new UsineException($"only {done:N0} of {expected:N0} metrics were committed: a broker drops QoS 1 messages once its queue for a subscriber is full (mosquitto: max_queued_messages)");
                }

                await Task.Delay(20, ct);
            }

            counters = second.Host.Counters;
        }

        var ingest = sw.Elapsed.TotalSeconds;
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var peak = sampler.Stop();
        log($"  engine busy: pipeline {engine.ProcessTime.TotalSeconds:N1} s, commit {engine.CommitTime.TotalSeconds:N1} s of {ingest:N1} s; host: {counters}");
        var stats = engine.Stats["bench-sparkplug"];
        await engine.DisposeAsync();
        await store.DisposeAsync();
        return new SparkplugBenchReport(perNode * (long)EdgeNodes, metricsPerMessage, published, ingest, stats.Stored, stats.DeadLetters, cpuSeconds, peak);
    }

    private static ReadOnlyMemory<byte> Birth(int metrics, long at)
    {
        var payload = new SparkplugPayload { Timestamp = (ulong)at, Seq = 0 };
        payload.Metrics.Add(new SparkplugMetric { Name = "bdSeq", DataType = SparkplugDataType.UInt64 }.SetLong(0));
        for (var i = 0; i < metrics; i++)
        {
            payload.Metrics.Add(new SparkplugMetric { Name = $"Line 1/Station {i}/Current", Alias = (ulong)i + 1, DataType = SparkplugDataType.Double, Timestamp = (ulong)at }.SetDouble(0));
        }

        return SparkplugCodec.Write(payload);
    }

    private static ReadOnlyMemory<byte> Data(int metrics, ulong seq, long at, int n)
    {
        var payload = new SparkplugPayload { Timestamp = (ulong)at, Seq = seq };
        for (var i = 0; i < metrics; i++)
        {
            payload.Metrics.Add(new SparkplugMetric { Alias = (ulong)i + 1, Timestamp = (ulong)at }.SetDouble(200 + ((n + i) % 50)));
        }

        return SparkplugCodec.Write(payload);
    }

    private sealed class Running(SourceRunner runner, SparkplugHost host, Task running, CancellationTokenSource stop) : BackgroundRun(running, stop)
    {
        public SourceRunner Runner => runner;

        public SparkplugHost Host => host;
    }

    private static async Task<Running> StartAsync(SourceDefinition source, IngestEngine engine, CancellationToken ct)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var connector = new SparkplugSourceConnector(source, logger: NullLogger<SparkplugSourceConnector>.Instance);
        var runner = new SourceRunner(connector, engine, connector.RunnerOptions);
        var running = runner.RunAsync(stop.Token);
        await BackgroundSources.WaitUntilRunningAsync(runner, running, "the sparkplug source", ct);
        return new Running(runner, connector.Host, running, stop);
    }

    private static long Total(IngestEngine engine) =>
        engine.Stats.TryGetValue("bench-sparkplug", out var s) ? s.Stored + s.DeadLetters + s.Duplicates : 0;

    public static string Format(SparkplugBenchReport r) => string.Join(Environment.NewLine,
    [
        $"sparkplug messages  {r.Messages,15:N0}   ({r.MetricsPerMessage} metrics each, {EdgeNodes} edge nodes)",
        $"published (QoS 1)   {r.Messages / r.PublishSeconds,15:N0} msg/s   ({r.PublishSeconds:N2} s)",
        $"ingested            {r.MetricRate,15:N0} metrics/s   ({r.IngestSeconds:N2} s from the start of the source to the last commit; {r.Stored:N0} records, {r.DeadLetters:N0} dead letters)",
        $"CPU                 {r.CpuSecondsPerMillion,15:N1} CPU-s per million metrics (this process)",
        $"peak memory         {r.PeakWorkingSetBytes / 1048576.0,15:N0} MiB resident",
    ]);
}
