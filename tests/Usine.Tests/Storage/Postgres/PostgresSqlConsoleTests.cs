using Usine.Storage.Postgres;

namespace Usine.Tests.Storage.Postgres;

/// <summary>The SQL console of the PostgreSQL store: read-only, one statement, and plant-scoped by PostgreSQL's own row-level security.</summary>
public sealed class PostgresSqlConsoleTests : IAsyncLifetime
{
    private static readonly DateTime Received = new(2026, 11, 26, 10, 0, 0, DateTimeKind.Utc);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly PostgresServer _server = new();
    private PostgresStore _store = null!;
    private IngestEngine _engine = null!;

    private ISqlConsole Console => _store.SqlConsole ?? throw new InvalidOperationException("the store has no SQL console");

    public async Task InitializeAsync()
    {
        _store = new PostgresStore(_server.Options("console"));
        _engine = new IngestEngine(TestDefinitions.TwoPlants(), _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
        await Ingest("line1", [.. Enumerable.Range(0, 3).Select(i => TestDefinitions.Screwing($"VF1AAAAA11111111{i}", $"ST0{i}", "2026-11-26T08:15:00Z", 10 + i))]);
        await Ingest("line2", [.. Enumerable.Range(0, 2).Select(i => TestDefinitions.Screwing($"VF1BBBBB22222222{i}", $"ST0{i}", "2026-11-26T08:15:00Z", 20 + i))]);
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        await _server.DropSchemasAsync();
    }

    private Task<IngestResult> Ingest(string source, string[] payloads) =>
        _engine.IngestAsync(new IngestBatch
        {
            SourceId = source,
            StreamId = "http:" + source,
            Messages = [.. payloads.Select((p, i) => new RawMessage(i + 1, Received, Encoding.UTF8.GetBytes(p)))],
        }, CancellationToken.None);

    private async Task<long> Scalar(string sql, IReadOnlySet<string>? plants = null) =>
        Convert.ToInt64((await Console.QueryAsync(sql, 100, Timeout, CancellationToken.None, plants)).Rows[0][0], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_caller_who_sees_every_plant_reads_every_table_and_one_kept_to_a_plant_only_its_rows_whatever_the_query_names()
    {
        Assert.Equal(5, await Scalar("SELECT count(*) FROM m_screwing"));
        Assert.True(await Scalar("SELECT count(*) FROM raw_messages") >= 5);

        var flins = new HashSet<string> { "flins" };
        Assert.Equal(3, await Scalar("SELECT count(*) FROM m_screwing", flins));
        Assert.Equal(3, await Scalar($"SELECT count(*) FROM {_store.Options.Schema}.m_screwing", flins));
        Assert.Equal(0, await Scalar("SELECT count(*) FROM m_screwing WHERE plant = 'douai'", flins));
        Assert.Equal(3, await Scalar("SELECT sum(torque_count) FROM v_screwing_1h", flins));
        Assert.Equal(0, await Scalar("SELECT count(*) FROM avatars WHERE plant <> 'flins'", flins));
        Assert.Equal(0, await Scalar("SELECT count(*) FROM m_screwing", new HashSet<string>()));
        Assert.Equal(2, await Scalar("SELECT count(*) FROM m_screwing", new HashSet<string> { "douai" }));
    }

    [Fact]
    public async Task A_caller_kept_to_a_plant_cannot_read_the_tables_that_carry_no_plant()
    {
        var ex = await Assert.ThrowsAsync<QueryRefusedException>(() => Console.QueryAsync("SELECT * FROM raw_messages", 10, Timeout, CancellationToken.None, new HashSet<string> { "flins" }));
        Assert.True(ex.OutOfScope);
        Assert.Contains("raw_messages", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("DELETE FROM m_screwing", "only read-only SELECT")]
    [InlineData("SELECT 1; DROP TABLE m_screwing", "one statement at a time")]
    [InlineData("SELECT set_config('role', 'postgres', true)", "set_config")]
    [InlineData("SELECT \"pg_catalog\".\"set_config\"('usine.plants', 'douai', true)", "set_config")]
    [InlineData("SELECT E'\\'', 1", "backslashes")]
    [InlineData("WITH gone AS (DELETE FROM m_screwing RETURNING 1) SELECT count(*) FROM gone", "read-only transaction")]
    public async Task What_writes_or_could_change_its_role_is_refused_with_a_reason(string sql, string reason)
    {
        var ex = await Assert.ThrowsAsync<QueryRefusedException>(() => Console.QueryAsync(sql, 10, Timeout, CancellationToken.None, new HashSet<string> { "flins" }));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.Equal(5, await Scalar("SELECT count(*) FROM m_screwing"));
    }

    [Fact]
    public async Task A_query_longer_than_its_limit_is_cancelled()
    {
        await Assert.ThrowsAsync<TimeoutException>(() => Console.QueryAsync("SELECT pg_sleep(5)", 10, TimeSpan.FromMilliseconds(200), CancellationToken.None));
    }
}
