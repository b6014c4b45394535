using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Connectors.Mqtt;
using Usine.Ingestion;
using Usine.Sources;
using Usine.Storage;
using Usine.Storage.DuckDb;

namespace Usine.Benchmarks;

/// <summary>The figures of one MQTT run.</summary>
public sealed record MqttBenchReport(long Messages, double PublishSeconds, double IngestSeconds, long Stored, long DeadLetters, long PeakWorkingSetBytes)
{
    public double PublishRate => Messages / PublishSeconds;

    public double IngestRate => (Stored + DeadLetters) / IngestSeconds;
}

/// <summary>
/// <c>usine bench --mqtt URL</c>: the screwing part of the reference workload published with QoS 1 to a real
/// broker by several publishers while the MQTT source is stopped (its persistent session queues them), then
/// the source starts and drains the queue: subscribe, pipeline, commit, acknowledge. The ingest rate is
/// measured from the start of the source to the last commit, so that the publishers, which share the
/// machine, do not take the cores it needs.
/// </summary>
public static class MqttBench
{
    /// <param name="batchSize">The source's <c>batchSize</c>; null for its default.</param>
    /// <param name="receiveMaximum">The connector's receive maximum; null for its default.</param>
    public static async Task<MqttBenchReport> RunAsync(Uri broker, long messages, int? batchSize, ushort? receiveMaximum, string work, Action<string> log, CancellationToken ct)
    {
        var files = Path.Combine(work, "workload-mqtt");
        var manifest = await Workload.WorkloadGenerator.GenerateAsync(new Workload.WorkloadOptions { Directory = files, Messages = (long)Math.Ceiling(messages / 0.4) }, ct);
        var screwing = manifest.Files.Single(f => f.Model == "screwing");
        var lines = (await File.ReadAllLinesAsync(screwing.Path, ct)).Take((int)messages).Select(l => (ReadOnlyMemory<byte>)System.Text.Encoding.UTF8.GetBytes(l)).ToArray();

        var definitions = await BenchRunner.LoadDefinitionsAsync(work, ct);
        var run = Guid.NewGuid().ToString("N")[..8];
        var http = definitions.Sources["bench-screwing"];
        var source = http with
        {
            Id = "bench-mqtt",
            Kind = MqttConnectors.Kind,
            Settings = batchSize is { } b
                ? new Dictionary<string, string> { ["topic"] = $"usine-bench/{run}/#", ["broker"] = broker.ToString(), ["clientId"] = "usine-bench-" + run, ["batchSize"] = b.ToString(System.Globalization.CultureInfo.InvariantCulture) }
                : new Dictionary<string, string> { ["topic"] = $"usine-bench/{run}/#", ["broker"] = broker.ToString(), ["clientId"] = "usine-bench-" + run },
        };
        definitions.Sources[source.Id] = source;

        var store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(work, "usine-mqtt") });
        var engine = new IngestEngine(definitions, store.Commit, logger: NullLogger<IngestEngine>.Instance);
        await engine.StartAsync(ct);
        var options = receiveMaximum is { } rm ? new MqttConnectorOptions { ReceiveMaximum = rm } : new MqttConnectorOptions();
        log($"mqtt: batchSize {(batchSize is null ? "default" : batchSize.Value.ToString("N0", System.Globalization.CultureInfo.InvariantCulture))}, receive maximum {options.ReceiveMaximum:N0}");

        // The source subscribes once and stops: its persistent session keeps the subscription, and the broker
        // queues what is published meanwhile, as it would during a restart of Usine.
        await using (var first = await StartAsync(source, engine, options, ct))
        {
        }

        log($"mqtt: publishing {lines.Length:N0} screwing results with QoS 1 to {broker} while the source is stopped");
        var publishers = Enumerable.Range(0, 4).Select(i => new MqttPublisher(new MqttPublisherOptions { Broker = broker, ClientId = $"usine-bench-pub-{run}-{i}" })).ToArray();
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(publishers.Select((p, i) => Task.Run(async () =>
        {
            // Each publisher keeps many publishes in flight; the broker acknowledges them in order.
            var inflight = new List<Task>(256);
            for (var n = i; n < lines.Length; n += publishers.Length)
            {
                inflight.Add(p.PublishAsync($"usine-bench/{run}/{i}", lines[n], ct));
                if (inflight.Count == 256)
                {
                    await Task.WhenAll(inflight);
                    inflight.Clear();
                }
            }

            await Task.WhenAll(inflight);
        }, ct)));
        var published = sw.Elapsed.TotalSeconds;
        foreach (var p in publishers)
        {
            await p.DisposeAsync();
        }

        log($"  published in {published:N1} s; the source starts and drains the broker's queue");
        using var sampler = new PeakSampler();
        sw.Restart();
        long done;
        await using (var second = await StartAsync(source, engine, options, ct))
        {
            while ((done = Total(engine)) < lines.Length)
            {
                if (sw.Elapsed > TimeSpan.FromSeconds(published * 10 + 60))
                {
                    throw new UsineException($"only {done:N0} of {lines.Length:N0} messages were committed: a broker drops QoS 1 messages "
                        + "once its queue for a subscriber is full (mosquitto: max_queued_messages); raise it or publish fewer");
                }

                await Task.Delay(20, ct);
            }
        }

        var ingest = sw.Elapsed.TotalSeconds;
        var peak = sampler.Stop();
        log($"  engine busy: pipeline {engine.ProcessTime.TotalSeconds:N1} s, commit {engine.CommitTime.TotalSeconds:N1} s of {ingest:N1} s");
        log("  commit phases (s): " + string.Join(", ", store.Timings.Seconds.OrderByDescending(x => x.Value).Select(x => $"{x.Key} {x.Value:N2}")));
        var stats = engine.Stats["bench-mqtt"];
        await engine.DisposeAsync();
        await store.DisposeAsync();
        return new MqttBenchReport(lines.Length, published, ingest, stats.Stored, stats.DeadLetters, peak);
    }

    private sealed class RunningConnector(SourceRunner connector, Task running, CancellationTokenSource stop) : BackgroundRun(running, stop)
    {
        public SourceRunner Connector => connector;
    }

    private static async Task<RunningConnector> StartAsync(SourceDefinition source, IngestEngine engine, MqttConnectorOptions options, CancellationToken ct)
    {
        var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var mqtt = new MqttSourceConnector(source, options, NullLogger<MqttSourceConnector>.Instance);
        var connector = new SourceRunner(mqtt, engine, mqtt.RunnerOptions);
        var running = connector.RunAsync(stop.Token);
        await BackgroundSources.WaitUntilRunningAsync(connector, running, "the MQTT source", ct);
        return new RunningConnector(connector, running, stop);
    }

    private static long Total(IngestEngine engine) =>
        engine.Stats.TryGetValue("bench-mqtt", out var s) ? s.Stored + s.DeadLetters + s.Duplicates : 0;

    public static string Format(MqttBenchReport r) => string.Join(Environment.NewLine,
    [
        $"mqtt messages       {r.Messages,15:N0}",
        $"published (QoS 1)   {r.PublishRate,15:N0} msg/s   ({r.PublishSeconds:N2} s, 4 publishers)",
        $"ingested            {r.IngestRate,15:N0} msg/s   ({r.IngestSeconds:N2} s from the start of the source to the last commit; {r.Stored:N0} records, {r.DeadLetters:N0} dead letters)",
        $"peak memory         {r.PeakWorkingSetBytes / 1048576.0,15:N0} MiB resident",
    ]);
}
