using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using Npgsql;
using Usine.Connectors.Files;
using Usine.Ingestion;
using Usine.Storage.DuckDb;
using Usine.Storage.Postgres;
using Usine.Transport.Nats;

namespace Usine.Benchmarks;

/// <summary>What one run of the reference workload in cluster mode measured, role by role.</summary>
public sealed record ClusterBenchReport(
    long Messages, long Records, long DeadLetters, int Replicas, int Processors,
    double CaptureSeconds, double CaptureCpuSeconds, double NatsCpuDuringCapture,
    double ProcessSeconds, double ProcessCpuSeconds, double NatsCpuDuringProcess, double PostgresCpuDuringProcess,
    long PeakLag);

/// <summary>
/// The reference workload in cluster mode, one role after the other in this process: capture publishes every
/// message of the workload's files to JetStream (as a capture role's file import does), then processors drain
/// the stream into PostgreSQL. Each role's wall time and CPU are its own phase's; the servers' CPU (nats-server,
/// PostgreSQL) is read from /proc before and after each phase.
/// </summary>
public static class ClusterBench
{
    public static async Task<ClusterBenchReport> RunAsync(int messages, string natsUrls, string postgres, int replicas, int processors, string? workDirectory, Action<string> log, CancellationToken ct)
    {
        var work = workDirectory ?? Path.Combine(Path.GetTempPath(), "usine-cluster-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        var tag = Guid.NewGuid().ToString("N")[..8];
        var options = new NatsTransportOptions
        {
            Urls = natsUrls,
            Stream = "BENCH_" + tag,
            SubjectPrefix = "bench." + tag,
            Consumer = "bench-" + tag,
            Replicas = replicas,
        };
        var schema = "cluster_bench_" + tag;
        await using var nats = new NatsConnection(new NatsOpts { Url = natsUrls, Name = "usine-bench" });
        var js = new NatsJSContext(nats);
        try
        {
            log($"generating {messages:N0} messages in {work}");
            var manifest = await Workload.WorkloadGenerator.GenerateAsync(new Workload.WorkloadOptions { Directory = Path.Combine(work, "workload"), Messages = messages }, ct);
            var definitions = await BenchRunner.LoadDefinitionsAsync(work, ct);

            // Capture: the files imported through a capture role's sink, JetStream, with a local store for stream metadata only.
            log($"capture: publishing every message to JetStream (R{replicas})");
            var stream = new RawStream(js, options);
            await stream.EnsureStreamAsync(ct);
            var publisher = new JetStreamPublisher(stream, definitions, NullLogger<JetStreamPublisher>.Instance);
            await using var local = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(work, "capture") });
            await local.Commit.InitializeAsync(definitions, ct);
            var importer = new FileImporter(publisher, local.RawZone, TimeProvider.System) { BatchSize = 2000 };
            var (natsCpu0, _) = ServerCpu();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            foreach (var file in manifest.Files)
            {
                await importer.ImportFileAsync(definitions.Sources[file.SourceId], file.Path, ct);
            }

            var captureSeconds = sw.Elapsed.TotalSeconds;
            var captureCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            var (natsCpu1, pgCpu1) = ServerCpu();
            log($"  {manifest.Messages:N0} messages in {captureSeconds:N1} s, {publisher.Published:N0} stored by JetStream");

            // Process: processors drain the stream into PostgreSQL, each with its engine.
            log($"process: {processors} processor(s) draining into PostgreSQL (schema {schema})");
            var engines = new List<(PostgresStore Store, IngestEngine Engine, JetStreamProcessor Processor)>();
            for (var i = 0; i < processors; i++)
            {
                var store = new PostgresStore(new PostgresStoreOptions { ConnectionString = postgres, Schema = schema });
                var engine = new IngestEngine(definitions, store.Commit, logger: NullLogger<IngestEngine>.Instance);
                await engine.StartAsync(ct);
                engines.Add((store, engine, new JetStreamProcessor(new RawStream(js, options), engine, NullLogger<JetStreamProcessor>.Instance)));
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            sw.Restart();
            var runs = engines.Select(e => Task.Run(() => e.Processor.RunAsync(stop.Token), CancellationToken.None)).ToArray();
            long peakLag = 0;
            while (engines.Sum(e => e.Processor.Processed + e.Processor.GivenUp) < manifest.Messages)
            {
                peakLag = Math.Max(peakLag, engines.Max(e => e.Processor.Lag));
                await Task.Delay(200, ct);
            }

            var processSeconds = sw.Elapsed.TotalSeconds;
            var processCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            var (natsCpu2, pgCpu2) = ServerCpu();
            await stop.CancelAsync();
            await Task.WhenAll(runs);
            long records, dead;
            await using (var db = NpgsqlDataSource.Create(postgres))
            {
                records = 0;
                foreach (var model in definitions.Models.Keys)
                {
                    await using var count = db.CreateCommand($"SELECT count(*) FROM {schema}.m_{model}");
                    records += Convert.ToInt64(await count.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
                }

                await using var letters = db.CreateCommand($"SELECT count(*) FROM {schema}.dead_letters");
                dead = Convert.ToInt64(await letters.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
            }

            foreach (var (store, engine, _) in engines)
            {
                await engine.DisposeAsync();
                await store.DisposeAsync();
            }

            log($"  {manifest.Messages:N0} messages in {processSeconds:N1} s: {records:N0} records, {dead:N0} dead letters ({manifest.BadMessages:N0} malformed on purpose)");
            return new ClusterBenchReport(manifest.Messages, records, dead, replicas, processors,
                captureSeconds, captureCpu, natsCpu1 - natsCpu0,
                processSeconds, processCpu, natsCpu2 - natsCpu1, pgCpu2 - pgCpu1, peakLag);
        }
        finally
        {
            try
            {
                await js.DeleteStreamAsync(options.Stream, ct);
                await using var db = NpgsqlDataSource.Create(postgres);
                await using var drop = db.CreateCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE");
                await drop.ExecuteNonQueryAsync(ct);
            }
            catch (Exception ex) when (ex is NatsException or NpgsqlException)
            {
                log($"cleaning up failed: {ex.Message}");
            }

            Directory.Delete(work, recursive: true);
        }
    }

    public static string Format(ClusterBenchReport r)
    {
        var m = r.Messages / 1e6;
        return string.Join(Environment.NewLine,
            $"messages            {r.Messages,15:N0}  ({r.Records:N0} records, {r.DeadLetters:N0} dead letters)",
            $"capture             {r.Messages / r.CaptureSeconds,15:N0} msg/s  {r.CaptureCpuSeconds / m,8:N1} CPU-s per million (Usine), nats-server {r.NatsCpuDuringCapture / m:N1}",
            $"process ({r.Processors})         {r.Messages / r.ProcessSeconds,15:N0} msg/s  {r.ProcessCpuSeconds / m,8:N1} CPU-s per million (Usine), nats-server {r.NatsCpuDuringProcess / m:N1}, PostgreSQL {r.PostgresCpuDuringProcess / m:N1}",
            $"peak lag            {r.PeakLag,15:N0} messages",
            $"replicas            {r.Replicas,15}");
    }

    /// <summary>CPU seconds used so far by every nats-server and every PostgreSQL process of this machine (exited backends through their parent's children's time).</summary>
    private static (double Nats, double Postgres) ServerCpu()
    {
        double nats = 0, pg = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                var close = stat.LastIndexOf(')');
                var name = stat[(open + 1)..close];
                var fields = stat[(close + 2)..].Split(' ');
                var ticks = double.Parse(fields[11], CultureInfo.InvariantCulture) + double.Parse(fields[12], CultureInfo.InvariantCulture)
                    + double.Parse(fields[13], CultureInfo.InvariantCulture) + double.Parse(fields[14], CultureInfo.InvariantCulture);
                if (name == "nats-server")
                {
                    nats += ticks / 100;
                }
                else if (name.StartsWith("postgres", StringComparison.Ordinal))
                {
                    pg += ticks / 100;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException or IndexOutOfRangeException)
            {
                // A process that ended while it was read.
            }
        }

        return (nats, pg);
    }
}
