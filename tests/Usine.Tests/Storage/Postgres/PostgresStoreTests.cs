using System.Globalization;
using Npgsql;
using Usine.Storage.Postgres;

namespace Usine.Tests.Storage.Postgres;

/// <summary>
/// What the PostgreSQL store does beyond the conformance suite: partitions made as records need them, the COPY path
/// of a large batch, the schema's versions, a writer connection the server dropped, and two processes on one schema.
/// </summary>
public sealed class PostgresStoreTests : IAsyncLifetime
{
    private static readonly DateTime Received = new(2026, 11, 26, 10, 0, 0, DateTimeKind.Utc);

    private readonly PostgresServer _server = new();
    private readonly List<(PostgresStore Store, IngestEngine Engine)> _open = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var (store, engine) in _open)
        {
            await engine.DisposeAsync();
            await store.DisposeAsync();
        }

        await _server.DropSchemasAsync();
    }

    private async Task<(PostgresStore Store, IngestEngine Engine)> OpenAsync(string name, RecordPartitioning partitioning = RecordPartitioning.Month)
    {
        var store = new PostgresStore(_server.Options(name) with { Partitioning = partitioning });
        var engine = new IngestEngine(TestDefinitions.TwoPlants(), store.Commit);
        await engine.StartAsync(CancellationToken.None);
        _open.Add((store, engine));
        return (store, engine);
    }

    private static Task<IngestResult> Ingest(IngestEngine engine, string stream, long firstPosition, IEnumerable<string> payloads) =>
        engine.IngestAsync(new IngestBatch
        {
            SourceId = "line1",
            StreamId = stream,
            Messages = [.. payloads.Select((p, i) => new RawMessage(firstPosition + i, Received, Encoding.UTF8.GetBytes(p)))],
        }, CancellationToken.None);

    private static List<T> Query<T>(PostgresStore store, string sql, Func<NpgsqlDataReader, T> map)
    {
        using var conn = store.OpenConnection();
        using var cmd = new NpgsqlCommand(sql, conn);
        using var r = cmd.ExecuteReader();
        var rows = new List<T>();
        while (r.Read())
        {
            rows.Add(map(r));
        }

        return rows;
    }

    private static long RecordCount(PostgresStore store) => store.Records.RecordCounts().GetValueOrDefault("screwing");

    [Fact]
    public async Task Records_land_in_a_partition_of_their_month_made_when_the_first_of_them_arrives()
    {
        var (store, engine) = await OpenAsync("main");
        Assert.Empty(Query(store, "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'm_screwing'::regclass", r => r.GetString(0)));

        await Ingest(engine, "http:line1", 1, [
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 10),
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2027-01-02T08:15:00Z", 11),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", "2027-01-31T23:59:59Z", 12)]);

        Assert.Equal([("m_screwing_p202611", 1L), ("m_screwing_p202701", 2L)],
            Query(store, "SELECT tableoid::regclass::text, count(*) FROM m_screwing GROUP BY 1 ORDER BY 1", r => (r.GetString(0), r.GetInt64(1))));
        Assert.Equal(["m_screwing_p202611", "m_screwing_p202701"],
            Query(store, "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'm_screwing'::regclass ORDER BY 1", r => r.GetString(0)));
    }

    [Fact]
    public async Task With_daily_partitions_each_day_of_records_gets_its_own()
    {
        var (store, engine) = await OpenAsync("daily", RecordPartitioning.Day);

        await Ingest(engine, "http:line1", 1, [
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T23:59:59Z", 10),
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-27T00:00:00Z", 11)]);

        Assert.Equal([("m_screwing_p20261126", 1L), ("m_screwing_p20261127", 1L)],
            Query(store, "SELECT tableoid::regclass::text, count(*) FROM m_screwing GROUP BY 1 ORDER BY 1", r => (r.GetString(0), r.GetInt64(1))));
    }

    [Fact]
    public async Task A_batch_of_twenty_thousand_records_goes_in_whole_and_the_same_batch_again_stores_nothing()
    {
        var (store, engine) = await OpenAsync("main");
        var start = new DateTime(2026, 11, 26, 6, 0, 0, DateTimeKind.Utc);
        var payloads = Enumerable.Range(0, 20_000)
            .Select(i => TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", start.AddSeconds(i).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), i % 200))
            .ToList();

        var first = await Ingest(engine, "http:line1", 1, payloads);
        var again = await Ingest(engine, "file:line1:again", 1, payloads);

        Assert.Equal((20_000, 0), (first.Stored, first.Duplicates));
        Assert.Equal((0, 20_000), (again.Stored, again.Duplicates));
        Assert.Equal(20_000, RecordCount(store));
        Assert.Equal(40_000, store.RawZone.CountRaw("line1", Received, Received.AddSeconds(1)));

        // 20,000 seconds from 06:00 run to 11:33:19: five whole hours and one of 1,999 records, in the rollup as in the records.
        Assert.Equal([(6, 3600L), (7, 3600L), (8, 3600L), (9, 3600L), (10, 3600L), (11, 2000L)],
            Query(store, "SELECT extract(hour FROM bucket)::int, n FROM r_screwing_1h ORDER BY bucket", r => (r.GetInt32(0), r.GetInt64(1))));
        Assert.True(store.Timings.Seconds.ContainsKey("stage"), "the records went through the COPY staging phase");
    }

    [Fact]
    public async Task Every_migration_is_recorded_once_and_opening_the_store_again_applies_none()
    {
        var (store, _) = await OpenAsync("main");
        var recorded = Query(store, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version", r => (r.GetInt32(0), r.GetString(1), r.GetDateTime(2)));
        Assert.Equal(Usine.Storage.Postgres.Internal.Migrations.All.Select(m => (m.Version, m.Name)), recorded.Select(m => (m.Item1, m.Item2)));
        Assert.Equal("0001_initial", recorded[0].Item2);

        var (reopened, _) = await OpenAsync("main");

        Assert.Equal(recorded, Query(reopened, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version", r => (r.GetInt32(0), r.GetString(1), r.GetDateTime(2))));
    }

    [Fact]
    public async Task A_commit_after_the_server_dropped_the_writer_connection_fails_as_transient_and_the_next_one_reconnects()
    {
        var (store, engine) = await OpenAsync("main");
        await Ingest(engine, "http:line1", 1, [TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 10)]);

        // The store's connections carry the test's name: the writer's and the pool's idle readers are dropped together.
        await using (var admin = await PostgresServer.ConnectAsync())
        await using (var kill = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", admin))
        {
            kill.Parameters.Add(new NpgsqlParameter { Value = _server.Prefix });
            Assert.True((long)(await kill.ExecuteScalarAsync())! >= 1, "the store's writer connection was open");
        }

        var failed = await Assert.ThrowsAnyAsync<Exception>(() => Ingest(engine, "http:line1", 2, [TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:16:00Z", 11)]));
        Assert.True(failed is UsineException { IsTransient: true }, $"expected a transient UsineException, got {failed.GetType().Name}: {failed.Message}");

        var r = await Ingest(engine, "http:line1", 2, [TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:16:00Z", 11)]);
        Assert.Equal(1, r.Stored);
        Assert.Equal(2, RecordCount(store));
        Assert.Equal(2, await store.Commit.GetCheckpointAsync("http:line1", CancellationToken.None));
    }

    [Fact]
    public async Task Two_processes_on_one_schema_store_a_record_once_and_number_their_dead_letters_from_one_sequence()
    {
        var (first, engine1) = await OpenAsync("main");
        await Ingest(engine1, "s1", 1, [TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 10)]);
        var (second, engine2) = await OpenAsync("main");
        string[] batch = [TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:20:00Z", 20), TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:25:00Z", 999)];

        var results = await Task.WhenAll(Ingest(engine1, "s1", 2, batch), Ingest(engine2, "s2", 1, batch));

        Assert.Equal(1, results.Sum(r => r.Stored));
        Assert.Equal(1, results.Sum(r => r.Duplicates));
        Assert.Equal(2, RecordCount(second));
        var ids = first.DeadLetters.List(new DeadLetterFilter(), 10).Select(l => l.Id).Order().ToList();
        Assert.Equal(2, ids.Distinct().Count());
        Assert.Equal([(8, 2L)], Query(first, "SELECT extract(hour FROM bucket)::int, n FROM r_screwing_1h", r => (r.GetInt32(0), r.GetInt64(1))));
    }

    [Fact]
    public async Task Two_processes_creating_new_avatars_at_once_take_their_keys_from_the_database_and_never_share_one()
    {
        var (first, engine1) = await OpenAsync("main");
        var (_, engine2) = await OpenAsync("main");

        // 200 vehicles each, none in common: each process makes its own avatars, in the same instants.
        static string[] Vehicles(int from) => [.. Enumerable.Range(from, 200).Select(i => TestDefinitions.Screwing($"VF1AAAAA5{i:D8}", "ST040", "2026-11-26T08:15:00Z", 10))];
        // Their plant, line and station are new to both: one of them stores them first, and the other's commit fails
        // as transient, its engine reloads the avatars, and its batch is tried again as a processor tries it.
        var results = await Task.WhenAll(Retrying(() => Ingest(engine1, "s1", 1, Vehicles(0))), Retrying(() => Ingest(engine2, "s2", 1, Vehicles(1000))));

        Assert.Equal(400, results.Sum(r => r.Stored));
        var keys = Query(first, "SELECT avatar_key FROM avatars WHERE type = 'vehicle'", r => r.GetInt64(0));
        Assert.Equal(400, keys.Count);
        Assert.Equal(400, keys.Distinct().Count());

        // A third process starts after them and hands out keys past every block they took.
        var (_, engine3) = await OpenAsync("main");
        await Ingest(engine3, "s3", 1, Vehicles(5000));
        var after = Query(first, "SELECT avatar_key FROM avatars WHERE type = 'vehicle'", r => r.GetInt64(0));
        Assert.Equal(600, after.Distinct().Count());
    }

    private static async Task<IngestResult> Retrying(Func<Task<IngestResult>> ingest)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ingest();
            }
            catch (UsineException ex) when (ex.IsTransient && attempt < 10)
            {
                await Task.Delay(100);
            }
        }
    }
}
