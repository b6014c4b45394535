using System.Diagnostics;
using System.Globalization;
using DuckDB.NET.Data;
using Npgsql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Configuration;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Server;
using Usine.Connectors.Files;
using Usine.Connectors.Http;
using Usine.Connectors.Mqtt;
using Usine.Storage;
using Usine.Storage.DuckDb;
using Usine.Storage.Postgres;

namespace Usine.Benchmarks;

/// <summary>Settings of <c>usine bench</c>.</summary>
public sealed record BenchOptions
{
    /// <summary>Messages of the reference workload. Default 2,000,000.</summary>
    public long Messages { get; init; } = 2_000_000;

    /// <summary>Work directory for the files and stores. Default: a new temporary directory, deleted after.</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>Keep the work directory. Default false.</summary>
    public bool Keep { get; init; }

    /// <summary>
    /// Run the engine and the store alone, without the platform around them (jobs, metrics with a listener,
    /// alert rules): the difference is the cost of operations. Default false: the platform as served.
    /// </summary>
    public bool Bare { get; init; }

    /// <summary>
    /// Run the engine alone (as <see cref="Bare"/>) with the PostgreSQL store at this Npgsql connection string, in a
    /// schema of its own dropped afterwards. Default none: the embedded store.
    /// </summary>
    public string? Postgres { get; init; }
}

/// <summary>The figures of one run.</summary>
public sealed record BenchReport(
    long Messages, long Bytes, long Stored, long DeadLetters, long ExpectedDeadLetters,
    double UsineSeconds, double UsineMessagesPerSecond, double UsineCpuSecondsPerMillion, long UsinePeakWorkingSetBytes,
    double CeilingSeconds, double CeilingRowsPerSecond, double GenerateSeconds)
{
    public double Ratio => UsineMessagesPerSecond / CeilingRowsPerSecond;
}

/// <summary>
/// <c>usine bench</c>: the reference workload end to end (raw zone, records, dead letters, avatars, rollups and
/// checkpoints, committed in the embedded store), beside the ceiling measured in the same run on the same
/// files: DuckDB's own <c>read_json</c> loading them into a plain table with no checks.
/// </summary>
public static class BenchRunner
{
    public static async Task<BenchReport> RunAsync(BenchOptions options, Action<string> log, CancellationToken ct)
    {
        var work = options.WorkDirectory ?? Path.Combine(Path.GetTempPath(), "usine-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            var files = Path.Combine(work, "workload");
            log($"generating {options.Messages:N0} messages in {files}");
            var manifest = await Workload.WorkloadGenerator.GenerateAsync(new Workload.WorkloadOptions { Directory = files, Messages = options.Messages }, ct);
            log($"  {manifest.Bytes / 1e6:N0} MB in {manifest.Elapsed.TotalSeconds:N1} s, {manifest.BadMessages:N0} malformed on purpose");

            var definitions = await LoadDefinitionsAsync(work, ct);

            // Usine first, on a cold process heap, so that the peak memory is its own.
            var bare = options.Bare || options.Postgres is not null;
            log(options.Postgres is not null
                ? "usine (engine and PostgreSQL store alone): importing every file through the pipeline into PostgreSQL"
                : bare
                ? "usine (engine and store alone): importing every file through the pipeline into the embedded store"
                : "usine (the platform, with jobs, metrics and alert rules): importing every file through the pipeline into the embedded store");
            IUsineStore store;
            IngestEngine engine;
            FileImporter importer;
            IHost? platform = null;
            using var scrape = bare ? null : new MetricsScrape();
            var schema = "bench_" + Guid.NewGuid().ToString("N")[..8];
            if (bare)
            {
                store = options.Postgres is { } cs
                    ? new PostgresStore(new PostgresStoreOptions { ConnectionString = cs, Schema = schema })
                    : new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(work, "usine") });
                engine = new IngestEngine(definitions, store.Commit, logger: NullLogger<IngestEngine>.Instance);
                await engine.StartAsync(ct);
                importer = new FileImporter(engine, store.RawZone, TimeProvider.System);
            }
            else
            {
                // The platform as usine serve composes it, without HTTP.
                var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
                var data = Path.Combine(work, "usine");
                builder.Services.AddFileConnectors().AddHttpConnectors().AddMqttConnectors().AddUsine(new UsineOptions { ConfigPath = Path.Combine(work, "bench.yaml"), DataDirectory = data, StartConnectors = false });
                builder.Services.AddDuckDbStore(new DuckDbStoreOptions { DataDirectory = data });
                platform = builder.Build();
                await platform.StartAsync(ct);
                var services = platform.Services;
                (store, engine, importer) = (services.GetRequiredService<DuckDbStore>(), services.GetRequiredService<IngestEngine>(), services.GetRequiredService<FileImporter>());
            }

            using var sampler = new PeakSampler();
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            var gc0 = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            var sw = Stopwatch.StartNew();
            long stored = 0, dead = 0, seen = 0;
            foreach (var file in manifest.Files)
            {
                var r = await importer.ImportFileAsync(definitions.Sources[file.SourceId], file.Path, ct);
                stored += r.Stored;
                dead += r.DeadLetters;
                seen += r.Messages;
                log($"  {Path.GetFileName(file.Path)}: {r.Messages:N0} messages, {r.Stored:N0} records, {r.DeadLetters:N0} dead letters");
            }

            sw.Stop();
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            var peak = sampler.Stop();
            log($"  garbage collections: {GC.CollectionCount(0) - gc0.Item1} gen0, {GC.CollectionCount(1) - gc0.Item2} gen1, {GC.CollectionCount(2) - gc0.Item3} gen2");
            log($"  engine busy: pipeline {engine.ProcessTime.TotalSeconds:N1} s, commit {engine.CommitTime.TotalSeconds:N1} s of {sw.Elapsed.TotalSeconds:N1} s");
            var phases = store switch
            {
                DuckDbStore d => d.Timings.Seconds,
                PostgresStore p => p.Timings.Seconds,
                _ => new Dictionary<string, double>(),
            };
            log("  commit phases (s): " + string.Join(", ", phases.OrderByDescending(x => x.Value).Select(x => $"{x.Key} {x.Value:N1}")));
            if (platform is not null)
            {
                var alerting = platform.Services.GetRequiredService<AlertEngine>();
                log($"  alert rules evaluated: {alerting.Rules.Count}, firing at the end: {alerting.Firing.Count}; jobs: {platform.Services.GetRequiredService<JobRegistry>().List().Count}; metric measurements read: {scrape!.Measurements:N0}");
                await platform.StopAsync(ct);
                platform.Dispose();
            }
            else
            {
                await engine.DisposeAsync();
                await store.DisposeAsync();
                if (options.Postgres is { } cs)
                {
                    await using var conn = new NpgsqlConnection(cs);
                    await conn.OpenAsync(ct);
                    await using var drop = new NpgsqlCommand($"DROP SCHEMA {schema} CASCADE", conn);
                    await drop.ExecuteNonQueryAsync(ct);
                }
            }

            log("ceiling: DuckDB read_json of the same files into a plain table");
            var ceilingSeconds = Ceiling(Path.Combine(work, "ceiling.duckdb"), manifest.Files.Select(f => f.Path), out var ceilingRows);

            var report = new BenchReport(
                seen, manifest.Bytes, stored, dead, manifest.BadMessages,
                sw.Elapsed.TotalSeconds, seen / sw.Elapsed.TotalSeconds, cpu / (seen / 1e6), peak,
                ceilingSeconds, ceilingRows / ceilingSeconds, manifest.Elapsed.TotalSeconds);
            if (stored + dead != seen || dead != manifest.BadMessages)
            {
                log($"warning: {seen:N0} messages gave {stored:N0} records and {dead:N0} dead letters; {manifest.BadMessages:N0} dead letters were expected");
            }

            return report;
        }
        finally
        {
            if (!options.Keep)
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    /// <summary>Writes the benchmark's models and sources (bench.yaml, embedded) into the work directory and loads them.</summary>
    internal static async Task<UsineDefinitions> LoadDefinitionsAsync(string work, CancellationToken ct)
    {
        var yaml = Path.Combine(work, "bench.yaml");
        await using (var res = typeof(BenchRunner).Assembly.GetManifestResourceStream("bench.yaml")!)
        await using (var f = File.Create(yaml))
        {
            await res.CopyToAsync(f, ct);
        }

        return DefinitionLoader.LoadFile(yaml);
    }

    private static double Ceiling(string database, IEnumerable<string> files, out long rows)
    {
        using var conn = new DuckDBConnection($"Data Source={database}");
        conn.Open();
        using var cmd = conn.CreateCommand();
        var list = string.Join(", ", files.Select(f => "'" + f.Replace("'", "''", StringComparison.Ordinal) + "'"));
        cmd.CommandText = $"CREATE TABLE ceiling AS SELECT * FROM read_json([{list}], format = 'newline_delimited', ignore_errors = true, union_by_name = true)";
        var sw = Stopwatch.StartNew();
        cmd.ExecuteNonQuery();
        sw.Stop();
        cmd.CommandText = "SELECT count(*) FROM ceiling";
        rows = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        return sw.Elapsed.TotalSeconds;
    }

    public static string Format(BenchReport r) => string.Join(Environment.NewLine,
    [
        $"messages            {r.Messages,15:N0}   ({r.Bytes / 1e6:N0} MB, {r.ExpectedDeadLetters:N0} malformed)",
        $"usine end to end    {r.UsineMessagesPerSecond,15:N0} msg/s   ({r.UsineSeconds:N2} s; {r.Stored:N0} records, {r.DeadLetters:N0} dead letters)",
        $"ceiling read_json   {r.CeilingRowsPerSecond,15:N0} rows/s  ({r.CeilingSeconds:N2} s)",
        $"ratio               {r.Ratio,15:N2} x ceiling",
        $"cpu                 {r.UsineCpuSecondsPerMillion,15:N2} CPU-s per million messages",
        $"peak memory         {r.UsinePeakWorkingSetBytes / 1048576.0,15:N0} MiB resident during ingest",
    ]);
}

/// <summary>Samples the resident set every 50 ms; the peak is what the ingest cost in memory.</summary>
internal sealed class PeakSampler : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _peak;

    public PeakSampler() => _loop = Task.Run(async () =>
    {
        using var p = Process.GetCurrentProcess();
        while (!_stop.IsCancellationRequested)
        {
            p.Refresh();
            _peak = Math.Max(_peak, p.WorkingSet64);
            try
            {
                await Task.Delay(50, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    });

    public long Stop()
    {
        _stop.Cancel();
        _loop.Wait();
        return _peak;
    }

    public void Dispose() => _stop.Dispose();
}

/// <summary>
/// Listens to every instrument of the Usine meter and reads the observable ones every second, as a
/// Prometheus scrape would, so that the benchmark pays what a monitored server pays.
/// </summary>
internal sealed class MetricsScrape : IDisposable
{
    private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
    private readonly Timer _timer;
    private long _measurements;

    public MetricsScrape()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Usine")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, _, _, _) => Interlocked.Increment(ref _measurements));
        _listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _measurements));
        _listener.SetMeasurementEventCallback<int>((_, _, _, _) => Interlocked.Increment(ref _measurements));
        _listener.Start();
        _timer = new Timer(_ => _listener.RecordObservableInstruments(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public long Measurements => Interlocked.Read(ref _measurements);

    public void Dispose()
    {
        _timer.Dispose();
        _listener.Dispose();
    }
}
