using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Configuration;
using Usine.Connectors.OpcUa;
using Usine.Ingestion;
using Usine.Sources;
using Usine.Storage.DuckDb;

namespace Usine.Benchmarks;

/// <summary>One minute of an OPC UA run: values committed, the worst and mean delay from a value's source timestamp to its commit, and memory.</summary>
public sealed record OpcUaBenchMinute(int Minute, long Values, double MeanLagSeconds, double MaxLagSeconds, long WorkingSetBytes, double CpuSeconds);

/// <summary>The figures of one OPC UA run.</summary>
public sealed record OpcUaBenchReport(int Items, double Seconds, long Values, long DeadLetters, long Gaps, double CpuSeconds, long PeakWorkingSetBytes, IReadOnlyList<OpcUaBenchMinute> Minutes)
{
    public double ValueRate => Values / Seconds;

    public double CpuSecondsPerThousand => CpuSeconds / (Values / 1000.0);
}

/// <summary>
/// <c>usine bench --opcua URL</c>: an opcua source subscribes to every Counter and Temperature under
/// <c>Objects/PaintShop</c> of a running server (the project's node-opcua test server started with
/// <c>--machines 5000 --period 1000</c> holds 10,000 such variables, each changing every second), sampled every
/// second, and runs for <c>--minutes</c> through the whole pipeline into DuckDB. Each minute it prints the values
/// committed, the delay from each batch's newest source timestamp to its commit, and this process's memory and CPU;
/// a source that keeps up commits the same number every minute at a flat delay.
/// </summary>
public static class OpcUaBench
{
    private const string Definitions = """
        models:
          - name: oven_value
            version: 1
            time: ts
            fields:
              tag:     { type: string, required: true }
              value:   { type: double }
              quality: { type: string }
              ts:      { type: timestamp, required: true }
            rollups:
              - { bucket: 1h, by: [tag], measures: { value: [count, avg, min, max] } }
        sources:
          - id: bench-opcua
            kind: opcua
            plant: bench
            model: oven_value
            settings:
              endpoint: ENDPOINT
              security: none
              publishingInterval: 1s
              samplingInterval: 1s
              nodes:
                - browse: "Objects/PaintShop/*/Counter"
                - browse: "Objects/PaintShop/*/Temperature"
            map: { tag: "$.browsePath", value: "$.value", quality: "$.status", ts: "$.sourceTimestamp" }
        """;

    public static async Task<OpcUaBenchReport> RunAsync(Uri endpoint, TimeSpan duration, string work, Action<string> log, CancellationToken ct)
    {
        var yaml = Definitions.Replace("ENDPOINT", endpoint.ToString(), StringComparison.Ordinal);
        var definitions = DefinitionLoader.LoadText(yaml, "opcua-bench.yaml", new SourceKindRegistry([OpcUaConnectors.Registration()]));
        var source = definitions.Sources["bench-opcua"];

        var store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(work, "usine-opcua") });
        var engine = new IngestEngine(definitions, store.Commit, logger: NullLogger<IngestEngine>.Instance);
        await engine.StartAsync(ct);
        var timed = new LagRecorder(engine);
        var connector = new OpcUaSourceConnector(source, dataDirectory: work, logger: NullLogger<OpcUaSourceConnector>.Instance);
        var runner = new SourceRunner(connector, timed, connector.RunnerOptions);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var running = runner.RunAsync(stop.Token);
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (runner.State != ConnectorState.Running || Stored(engine) == 0)
        {
            if (DateTime.UtcNow > deadline || running.IsCompleted)
            {
                throw new UsineException($"the opcua source did not start receiving from {endpoint}: {runner.LastError?.Message ?? runner.State.ToString()}");
            }

            await Task.Delay(100, ct);
        }

        var items = connector.Subscribed.Count;
        log($"opcua: {items:N0} monitored items on {endpoint}, sampled every second; running for {duration.TotalMinutes:N0} min");
        using var sampler = new PeakSampler();
        using var self = Process.GetCurrentProcess();
        var cpuStart = self.TotalProcessorTime;
        var valuesStart = Stored(engine);
        timed.Reset();
        var sw = Stopwatch.StartNew();
        var minutes = new List<OpcUaBenchMinute>();
        var (cpuLast, valuesLast) = (cpuStart, valuesStart);
        for (var minute = 1; minute <= Math.Ceiling(duration.TotalMinutes); minute++)
        {
            var end = TimeSpan.FromMinutes(Math.Min(minute, duration.TotalMinutes));
            if (end > sw.Elapsed)
            {
                await Task.Delay(end - sw.Elapsed, ct);
            }

            self.Refresh();
            var (values, cpu) = (Stored(engine), self.TotalProcessorTime);
            var (mean, max) = timed.Reset();
            var m = new OpcUaBenchMinute(minute, values - valuesLast, mean, max, self.WorkingSet64, (cpu - cpuLast).TotalSeconds);
            minutes.Add(m);
            log($"  minute {minute,3}: {m.Values,10:N0} values   lag mean {m.MeanLagSeconds,5:N2} s max {m.MaxLagSeconds,5:N2} s   {m.WorkingSetBytes / 1048576.0,6:N0} MiB   {m.CpuSeconds,5:N1} CPU-s");
            (valuesLast, cpuLast) = (values, cpu);
        }

        var seconds = sw.Elapsed.TotalSeconds;
        self.Refresh();
        var cpuSeconds = (self.TotalProcessorTime - cpuStart).TotalSeconds;
        var peak = sampler.Stop();
        var total = Stored(engine) - valuesStart;
        await stop.CancelAsync();
        try
        {
            await running;
        }
        catch (OperationCanceledException)
        {
            // It ends by cancellation.
        }

        var stats = engine.Stats["bench-opcua"];
        var gaps = connector.Gaps;
        await connector.DisposeAsync();
        await engine.DisposeAsync();
        await store.DisposeAsync();
        return new OpcUaBenchReport(items, seconds, total, stats.DeadLetters, gaps, cpuSeconds, peak, minutes);
    }

    private static long Stored(IngestEngine engine) => engine.Stats.TryGetValue("bench-opcua", out var s) ? s.Stored : 0;

    /// <summary>
    /// Passes each batch to the engine and, once it is committed, notes how old the newest source timestamp of the
    /// batch is: the delay a reader of the referential sees.
    /// </summary>
    private sealed class LagRecorder(IIngestor inner) : IIngestor
    {
        private readonly Lock _lock = new();
        private double _sum;
        private double _max;
        private int _count;

        public async Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken)
        {
            var result = await inner.IngestAsync(batch, cancellationToken);
            if (batch.Messages.Count > 0 && Newest(batch) is { } newest)
            {
                var lag = (DateTime.UtcNow - newest).TotalSeconds;
                lock (_lock)
                {
                    _sum += lag;
                    _max = Math.Max(_max, lag);
                    _count++;
                }
            }

            return result;
        }

        public Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken) => inner.GetCheckpointAsync(streamId, cancellationToken);

        public (double Mean, double Max) Reset()
        {
            lock (_lock)
            {
                var r = (_count == 0 ? 0 : _sum / _count, _max);
                (_sum, _max, _count) = (0, 0, 0);
                return r;
            }
        }

        private static DateTime? Newest(IngestBatch batch)
        {
            using var doc = JsonDocument.Parse(batch.Messages[^1].Payload);
            return doc.RootElement.TryGetProperty("sourceTimestamp", out var ts) && ts.TryGetDateTime(out var t) ? t.ToUniversalTime() : null;
        }
    }

    public static string Format(OpcUaBenchReport r) => string.Join(Environment.NewLine,
    [
        $"monitored items     {r.Items,15:N0}   (sampled every second)",
        $"values committed    {r.Values,15:N0}   in {r.Seconds:N0} s: {r.ValueRate:N0} values/s; {r.DeadLetters:N0} dead letters, {r.Gaps:N0} gaps",
        $"lag (source → commit) mean {r.Minutes.Average(m => m.MeanLagSeconds):N2} s, worst minute's max {r.Minutes.Max(m => m.MaxLagSeconds):N2} s",
        $"CPU                 {r.CpuSecondsPerThousand,15:N3} CPU-s per 1,000 values (this process)",
        $"memory              {r.PeakWorkingSetBytes / 1048576.0,15:N0} MiB peak resident; first minute {r.Minutes[0].WorkingSetBytes / 1048576.0:N0} MiB, last {r.Minutes[^1].WorkingSetBytes / 1048576.0:N0} MiB",
    ]);
}
