using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Ingestion;
using Usine.Server;
using Usine.Storage;
using Usine.Storage.DuckDb;

namespace Usine.Benchmarks;

/// <summary>Median and 95th percentile of one measured query, in milliseconds.</summary>
public sealed record Timing(string Name, double P50, double P95);

/// <summary>The figures of one exploration run, per storage layout.</summary>
/// <param name="GenerateSeconds">Time to fill the store, records, avatars and rollup.</param>
/// <param name="StoreBytes">The database file (and its write-ahead log) once filled.</param>
/// <param name="StartSeconds">Time to start the platform on the filled store, per layout (it loads every avatar).</param>
/// <param name="PeakResidentBytes">The process's peak resident set at the end.</param>
public sealed record ExploreBenchReport(long Records, long Avatars, int Plants, int Days, double GenerateSeconds, long StoreBytes,
    IReadOnlyList<(string Layout, double StartSeconds, IReadOnlyList<Timing> Timings)> Layouts, long PeakResidentBytes);

/// <summary>
/// <c>usine bench --explore</c>: the exploration API on a store filled directly with SQL (N screwing results of
/// N/25 vehicles, 25 stations in each of 15 plants, over 7 days, and the hourly rollup computed from them), served
/// by Kestrel on loopback. Each query is timed through HTTP and, for aggregates, the same SQL straight on DuckDB
/// in the same process; then, unless told not to, the record table is rewritten sorted by plant and event time
/// and everything is timed again.
/// </summary>
public static class ExploreBench
{
    private const int Plants = 15;
    private const int Days = 7;
    private const int PerVehicle = 25;
    private const int Iterations = 40;
    private static readonly DateTime Start = new(2026, 11, 2, 0, 0, 0, DateTimeKind.Utc);

    /// <param name="sorted">Also rewrite the records sorted by plant and event time and time everything again.</param>
    public static async Task<ExploreBenchReport> RunAsync(long records, string work, bool sorted, Action<string> log, CancellationToken ct)
    {
        var vehicles = Math.Max(1, (records + PerVehicle - 1) / PerVehicle);
        var data = Path.Combine(work, "usine");
        var definitions = await BenchRunner.LoadDefinitionsAsync(work, ct);
        log($"generating {records:N0} screwing results of {vehicles:N0} vehicles in {Plants} plants over {Days} days");
        var clock = Stopwatch.StartNew();
        var store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = data });
        await store.Commit.InitializeAsync(definitions, ct);
        try
        {
            Generate(store, records, vehicles, data, log, ct);
        }
        finally
        {
            await store.DisposeAsync();
        }

        var generate = clock.Elapsed.TotalSeconds;
        var bytes = StoreBytes(data);
        log($"  generated in {generate:N1} s ({records / generate:N0} records/s); store {bytes / 1e9:N2} GB on disk ({(double)bytes / records:N0} bytes a record)");
        var layouts = new List<(string, double, IReadOnlyList<Timing>)>
        {
            await MeasureAsync("arrival order (event time)", work, data, vehicles, log, ct),
        };

        if (sorted)
        {
            log("rewriting m_screwing sorted by plant, event_time");
            clock.Restart();
            store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = data });
            await store.Commit.InitializeAsync(definitions, ct);
            try
            {
                Exec(store, """
                    CREATE TABLE m_screwing_sorted AS SELECT * FROM m_screwing ORDER BY plant, event_time;
                    DROP TABLE m_screwing;
                    ALTER TABLE m_screwing_sorted RENAME TO m_screwing;
                    CHECKPOINT;
                    """);
            }
            finally
            {
                await store.DisposeAsync();
            }

            log($"  rewritten in {clock.Elapsed.TotalSeconds:N1} s");
            layouts.Add(await MeasureAsync("sorted by plant, event_time", work, data, vehicles, log, ct));
        }

        return new ExploreBenchReport(records, vehicles, Plants, Days, generate, bytes, layouts, Process.GetCurrentProcess().PeakWorkingSet64);
    }

    private static long StoreBytes(string data) =>
        new DirectoryInfo(data).EnumerateFiles("usine.duckdb*").Sum(f => f.Length);

    /// <summary>
    /// Records as ingestion would store them: in event-time order, each vehicle passing 25 stations a minute apart,
    /// avatar keys given in order of first sight (so they follow time), plants interleaved. They are written one hour
    /// of event time at a time, each hour sorted on its own, so that memory and temporary files stay those of an hour
    /// whatever the number of records; each hour's rollup is computed from its records right after them.
    /// </summary>
    private static void Generate(DuckDbStore store, long records, long vehicles, string data, Action<string> log, CancellationToken ct)
    {
        const long Minute = 60_000_000;
        var spacing = (long)(TimeSpan.FromDays(Days).TotalMicroseconds / vehicles);
        var start = $"TIMESTAMP '{Start:yyyy-MM-dd HH:mm:ss}'";
        using var conn = store.OpenReader();
        void Run(string sql)
        {
            using var cmd = conn.CreateCommand();
            cmd.CommandText = sql;
            cmd.ExecuteNonQuery();
        }

        var clock = Stopwatch.StartNew();
        Run($"""
            INSERT INTO avatars
                SELECT 1000 + v, 'vehicle', 'VF1' || lpad(v::VARCHAR, 14, '0'), 'plant' || lpad((v % {Plants})::VARCHAR, 2, '0'), 0,
                       {start} + to_microseconds(v * {spacing})
                FROM range({vehicles}) t(v);
            CHECKPOINT;
            """);
        log($"  {vehicles:N0} avatars in {clock.Elapsed.TotalSeconds:N1} s");

        // The last vehicle's last station comes (PerVehicle - 1) minutes after its first one.
        var end = (vehicles - 1) * spacing + (PerVehicle - 1) * Minute + 1;
        var hour = 60 * Minute;
        var hours = (end + hour - 1) / hour;
        for (var h = 0L; h < hours; h++)
        {
            ct.ThrowIfCancellationRequested();
            var (from, to) = (h * hour, (h + 1) * hour);
            var first = Math.Max(0, (from - (PerVehicle - 1) * Minute) / spacing);
            var last = Math.Min(vehicles, ((to - 1) / spacing) + 1);
            Run($"""
                INSERT INTO m_screwing (record_id, plant, avatar_key, avatar_id, event_time, model_version, source_id, stream_id, raw_position, stored_at,
                                        vin, station, spindle, ts, torque, angle, status, program)
                    SELECT uuid(), plant, 1000 + v, vin, t, 1, 'bench-' || plant, 'bench', i, t,
                           vin, 'ST' || lpad((k * 10 + 10)::VARCHAR, 3, '0'), (i % 8) + 1, t,
                           20 + (hash(i) % 1000) / 10.0, (hash(i * 7) % 3600) / 10.0, CASE WHEN hash(i) % 50 = 0 THEN 'NOK' ELSE 'OK' END, 'P1'
                    FROM (SELECT v * {PerVehicle} + k AS i, v, k, 'VF1' || lpad(v::VARCHAR, 14, '0') AS vin,
                                 'plant' || lpad((v % {Plants})::VARCHAR, 2, '0') AS plant, {start} + to_microseconds(u) AS t
                          FROM (SELECT v, k, v * {spacing} + k * {Minute} AS u FROM range({first}, {last}) a(v), range({PerVehicle}) b(k))
                          WHERE u >= {from} AND u < {to} AND v * {PerVehicle} + k < {records})
                    ORDER BY t;
                INSERT INTO r_screwing_1h (bucket, plant, station, n, torque_count, torque_sum, torque_min, torque_max)
                    SELECT time_bucket(INTERVAL 3600 SECOND, event_time), plant, coalesce(CAST(station AS VARCHAR), ''), count(*),
                           count(torque), coalesce(sum(torque), 0), min(torque), max(torque)
                    FROM m_screwing WHERE event_time >= {start} + to_microseconds({from}) AND event_time < {start} + to_microseconds({to}) GROUP BY ALL;
                """);
            if ((h + 1) % 24 == 0 || h == hours - 1)
            {
                var done = Math.Min(records, (long)Math.Round((double)(h + 1) * hour / end * records));
                log($"  {h + 1,4}/{hours} hours, about {done:N0} records, {clock.Elapsed.TotalSeconds:N0} s, store {StoreBytes(data) / 1e9:N2} GB");
            }
        }

        Run("CHECKPOINT");
        var stored = store.Count("SELECT count(*) FROM m_screwing");
        if (stored != records)
        {
            throw new UsineException($"the generator wrote {stored:N0} records instead of {records:N0}");
        }
    }

    private static void Exec(DuckDbStore store, string sql)
    {
        using var conn = store.OpenReader();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static async Task<(string, double, IReadOnlyList<Timing>)> MeasureAsync(string layout, string work, string data, long vehicles, Action<string> log, CancellationToken ct)
    {
        log($"layout: {layout}");
        var clock = Stopwatch.StartNew();
        var app = UsineServer.Build(new UsineOptions
        {
            ConfigPath = Path.Combine(work, "bench.yaml"),
            DataDirectory = data,
            StartConnectors = false,
            EvaluateAlerts = false,
            ArchiveTimeOfDay = null,
        }, new Dictionary<string, string?> { [UsineHttpOptions.Section + ":Urls"] = "http://127.0.0.1:0" }, logging: _ => { });
        await app.StartAsync(ct);
        var store = app.Services.GetRequiredService<DuckDbStore>();
        var started = clock.Elapsed.TotalSeconds;
        log($"  platform started in {started:N1} s ({app.Services.GetRequiredService<IngestEngine>().AvatarCount:N0} avatars loaded)");
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            var days = Enumerable.Range(0, Days).Select(d => Start.AddDays(d)).ToList();
            string Day(int i) => days[i % Days].ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            string Next(int i) => days[i % Days].AddDays(1).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            string Plant(int i) => "plant" + (i % Plants).ToString("D2", CultureInfo.InvariantCulture);
            string Ts(int i, int add = 0) => $"TIMESTAMP '{days[i % Days].AddDays(add):yyyy-MM-dd HH:mm:ss}'";

            var timings = new List<Timing>
            {
                await TimeAsync("API GET /health (HTTP floor)", async _ => (await http.GetAsync("/health", ct)).Dispose()),
            };
            log("  hourly aggregate of one plant-day, served from the rollup");
            timings.Add(await TimeAsync("API aggregate (rollup)", async i => await Get(http,
                $"/api/models/screwing/aggregate?bucket=1h&measures=count,torque:avg,torque:max&by=station&plant={Plant(i)}&from={Day(i)}&to={Next(i)}", ct)));
            timings.Add(Time("DuckDB same SQL (rollup)", i => Sql(store,
                $"""
                SELECT time_bucket(INTERVAL 3600 SECOND, bucket) AS bucket, station, CAST(sum(n) AS BIGINT) AS count,
                       CAST(sum(torque_sum) AS DOUBLE) / nullif(sum(torque_count), 0) AS torque_avg, max(torque_max) AS torque_max
                FROM r_screwing_1h WHERE bucket >= {Ts(i)} AND bucket < {Ts(i, 1)} AND plant = '{Plant(i)}' GROUP BY ALL ORDER BY bucket, station
                """)));

            timings.Add(Time("DuckDB same SQL, parameters (rollup)", i => Sql(store,
                """
                SELECT time_bucket(INTERVAL 3600 SECOND, bucket) AS bucket, station, CAST(sum(n) AS BIGINT) AS count,
                       CAST(sum(torque_sum) AS DOUBLE) / nullif(sum(torque_count), 0) AS torque_avg, max(torque_max) AS torque_max
                FROM r_screwing_1h WHERE bucket >= $1 AND bucket < $2 AND plant = $3 GROUP BY ALL ORDER BY bucket, station
                """, days[i % Days], days[i % Days].AddDays(1), Plant(i))));
            timings.Add(await TimeAsync("store AggregateAsync (rollup)", async i => await store.Records.AggregateAsync(new AggregateQuery
            {
                Model = "screwing",
                Bucket = AggregateBucket.All.Single(b => b.Name == "1h"),
                Measures = [new(null, AggregateFunction.Count), new("torque", AggregateFunction.Avg), new("torque", AggregateFunction.Max)],
                By = ["station"],
                Filter = new RecordFilter { Plant = Plant(i), From = days[i % Days], To = days[i % Days].AddDays(1) },
            }, null, ct)));

            timings.Add(await TimeAsync("API aggregate, 1 bucket (rollup)", async i => await Get(http,
                $"/api/models/screwing/aggregate?bucket=1d&measures=count,torque:avg,torque:max&plant={Plant(i)}&from={Day(i)}&to={Next(i)}", ct)));
            timings.Add(Time("DuckDB same SQL, 1 bucket (rollup)", i => Sql(store,
                $"""
                SELECT time_bucket(INTERVAL 86400 SECOND, bucket) AS bucket, CAST(sum(n) AS BIGINT) AS count,
                       CAST(sum(torque_sum) AS DOUBLE) / nullif(sum(torque_count), 0) AS torque_avg, max(torque_max) AS torque_max
                FROM r_screwing_1h WHERE bucket >= {Ts(i)} AND bucket < {Ts(i, 1)} AND plant = '{Plant(i)}' GROUP BY ALL ORDER BY bucket
                """)));

            log("  hourly aggregate of one plant-day, computed from records");

            // Every plant-day the series below read is read once before any is timed: at 100 million records the
            // store is far larger than DuckDB's memory limit, and whichever series came first would otherwise pay
            // for reading each plant-day from disk, and the others would find it cached.
            Warm(i => Sql(store,
                $"SELECT count(*), sum(torque) FROM m_screwing WHERE event_time >= {Ts(i)} AND event_time < {Ts(i, 1)} AND plant = '{Plant(i)}'"));
            timings.Add(await TimeAsync("API aggregate (records)", async i => await Get(http,
                $"/api/models/screwing/aggregate?source=records&bucket=1h&measures=count,torque:avg,torque:max&by=station&plant={Plant(i)}&from={Day(i)}&to={Next(i)}", ct)));
            timings.Add(Time("DuckDB same SQL (records)", i => Sql(store,
                $"""
                SELECT time_bucket(INTERVAL 3600 SECOND, event_time) AS bucket, coalesce(CAST(station AS VARCHAR), '') AS station, count(*) AS count,
                       CAST(sum(torque) AS DOUBLE) / nullif(count(torque), 0) AS torque_avg, CAST(max(torque) AS DOUBLE) AS torque_max
                FROM m_screwing WHERE event_time >= {Ts(i)} AND event_time < {Ts(i, 1)} AND plant = '{Plant(i)}' GROUP BY ALL ORDER BY bucket, station
                """)));

            timings.Add(Time("DuckDB same SQL, parameters (records)", i => Sql(store,
                """
                SELECT time_bucket(INTERVAL 3600 SECOND, event_time) AS bucket, coalesce(CAST(station AS VARCHAR), '') AS station, count(*) AS count,
                       CAST(sum(torque) AS DOUBLE) / nullif(count(torque), 0) AS torque_avg, CAST(max(torque) AS DOUBLE) AS torque_max
                FROM m_screwing WHERE event_time >= $1 AND event_time < $2 AND plant = $3 GROUP BY ALL ORDER BY bucket, station
                """, days[i % Days], days[i % Days].AddDays(1), Plant(i))));
            timings.Add(await TimeAsync("store AggregateAsync (records)", async i => await store.Records.AggregateAsync(new AggregateQuery
            {
                Model = "screwing",
                Bucket = AggregateBucket.All.Single(b => b.Name == "1h"),
                Measures = [new(null, AggregateFunction.Count), new("torque", AggregateFunction.Avg), new("torque", AggregateFunction.Max)],
                By = ["station"],
                Filter = new RecordFilter { Plant = Plant(i), From = days[i % Days], To = days[i % Days].AddDays(1) },
                Source = AggregateSource.Records,
            }, null, ct)));

            log("  full history of one vehicle");
            string Vin(int i) => "VF1" + ((i * 7919L) % vehicles).ToString("D14", CultureInfo.InvariantCulture);
            Warm(i => Sql(store, $"SELECT count(*) FROM m_screwing WHERE avatar_key = {1000 + ((i * 7919L) % vehicles)}"));
            timings.Add(await TimeAsync("API avatar history", async i => await Get(http, $"/api/avatars/{Vin(i)}/history", ct)));
            timings.Add(Time("DuckDB history by avatar_key", i => Sql(store,
                $"SELECT * FROM m_screwing WHERE avatar_key = {1000 + ((i * 7919L) % vehicles)} ORDER BY event_time DESC, record_id DESC LIMIT 1000")));
            timings.Add(Time("DuckDB avatar by id", i => Sql(store,
                $"SELECT avatar_key FROM avatars WHERE id = '{Vin(i)}'")));
            foreach (var t in timings)
            {
                log($"    {t.Name,-40} p50 {t.P50,8:N2} ms   p95 {t.P95,8:N2} ms");
            }

            return (layout, started, timings);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    private static async Task Get(HttpClient http, string path, CancellationToken ct)
    {
        using var r = await http.GetAsync(path, ct);
        var body = await r.Content.ReadAsStringAsync(ct);
        if (!r.IsSuccessStatusCode || body.Length < 20)
        {
            throw new UsineException($"GET {path} answered {(int)r.StatusCode}: {body}");
        }
    }

    private static void Sql(DuckDbStore store, string sql, params object[] args)
    {
        using var conn = store.OpenReader();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        foreach (var a in args)
        {
            cmd.Parameters.Add(new DuckDB.NET.Data.DuckDBParameter(a));
        }

        using var r = cmd.ExecuteReader();
        var rows = 0;
        while (r.Read())
        {
            for (var c = 0; c < r.FieldCount; c++)
            {
                _ = r.GetValue(c);
            }

            rows++;
        }

        if (rows == 0)
        {
            throw new UsineException("the benchmark query found no row: " + sql);
        }
    }

    private static async Task<Timing> TimeAsync(string name, Func<int, Task> run)
    {
        var samples = new List<double>();
        for (var i = -5; i < Iterations; i++)
        {
            var sw = Stopwatch.StartNew();
            await run(i + 5);
            if (i >= 0)
            {
                samples.Add(sw.Elapsed.TotalMilliseconds);
            }
        }

        return Summary(name, samples);
    }

    /// <summary>Runs <paramref name="run"/> untimed for every index a timed series uses, warm-up included.</summary>
    private static void Warm(Action<int> run)
    {
        for (var i = 0; i < Iterations + 5; i++)
        {
            run(i);
        }
    }

    private static Timing Time(string name, Action<int> run) => TimeAsync(name, i =>
    {
        run(i);
        return Task.CompletedTask;
    }).GetAwaiter().GetResult();

    private static Timing Summary(string name, List<double> samples)
    {
        samples.Sort();
        return new Timing(name, samples[samples.Count / 2], samples[(int)Math.Ceiling(samples.Count * 0.95) - 1]);
    }

    public static string Format(ExploreBenchReport r)
    {
        var lines = new List<string>
        {
            $"records             {r.Records,15:N0} screwing results of {r.Avatars:N0} vehicles, {r.Plants} plants, {r.Days} days",
            $"generated in        {r.GenerateSeconds,15:N1} s ({r.Records / r.GenerateSeconds:N0} records/s)",
            $"store on disk       {r.StoreBytes / 1e9,15:N2} GB ({(double)r.StoreBytes / r.Records:N0} bytes a record)",
            $"peak resident       {r.PeakResidentBytes / (1024.0 * 1024),15:N0} MiB",
        };
        foreach (var (layout, start, timings) in r.Layouts)
        {
            lines.Add($"layout: {layout} (platform started in {start:N1} s)");
            lines.AddRange(timings.Select(t => $"  {t.Name,-40} p50 {t.P50,8:N2} ms   p95 {t.P95,8:N2} ms"));
            double P50(string n) => timings.Single(t => t.Name == n).P50;
            lines.Add($"  API / DuckDB (rollup)                    {P50("API aggregate (rollup)") / P50("DuckDB same SQL (rollup)"),8:N2} x");
            lines.Add($"  API / DuckDB (records)                   {P50("API aggregate (records)") / P50("DuckDB same SQL (records)"),8:N2} x");
        }

        return string.Join(Environment.NewLine, lines);
    }
}
