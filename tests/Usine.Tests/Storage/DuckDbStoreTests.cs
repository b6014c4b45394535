namespace Usine.Tests.Storage;

public sealed class DuckDbStoreTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-store-").FullName;
    private DuckDbStore _store = null!;
    private IngestEngine _engine = null!;

    public async Task InitializeAsync() => await OpenAsync();

    private async Task OpenAsync()
    {
        _store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = _dir, MemoryLimit = "256MB" });
        _engine = new IngestEngine(TestDefinitions.Load(), _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<IngestResult> Ingest(string stream, params string[] payloads) =>
        _engine.IngestAsync(new IngestBatch { SourceId = "line1", StreamId = stream, Messages = TestDefinitions.Messages(payloads) }, CancellationToken.None);

    private long Count(string sql) => _store.Count(sql);

    [Fact]
    public async Task A_batch_lands_raw_records_dead_letters_avatars_and_its_checkpoint_together()
    {
        var r = await Ingest("http:line1",
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12.5),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST050", "2026-11-26T08:16:00Z", 14),
            "{broken");

        Assert.Equal(new IngestResult(3, 2, 0, 1, 3), r);
        Assert.Equal(3, Count("SELECT count(*) FROM raw_messages"));
        Assert.Equal(2, Count("SELECT count(*) FROM m_screwing"));
        Assert.Equal(1, Count("SELECT count(*) FROM dead_letters WHERE stage = 'decode' AND status = 'open'"));
        Assert.Equal(3, await _store.Commit.GetCheckpointAsync("http:line1", CancellationToken.None));
        Assert.Equal(2, Count("SELECT count(*) FROM avatars WHERE type = 'vehicle'"));
        Assert.Equal(1, Count("SELECT count(*) FROM m_screwing WHERE avatar_id = 'VF1AAAAA111111111' AND plant = 'flins' AND torque = 12.5 AND raw_position = 1 AND source_id = 'line1'"));
    }

    [Theory]
    [InlineData("DELETE FROM m_screwing", "only read-only SELECT")]
    [InlineData("CREATE TABLE x (a INT)", "only read-only SELECT")]
    [InlineData("COPY m_screwing TO 'x.csv'", "only read-only SELECT")]
    [InlineData("SELECT 1; SELECT 2", "one statement")]
    [InlineData("SELECT * FROM read_csv('/etc/passwd')", "read_csv")]
    [InlineData("SELECT * FROM '/etc/passwd'", "looks like a file")]
    [InlineData("SELEC 1", "invalid SQL")]
    public async Task Sql_that_writes_or_reads_files_is_refused_with_a_reason(string sql, string reason)
    {
        var ex = await Assert.ThrowsAsync<QueryRefusedException>(() => _store.SqlConsole!.QueryAsync(sql, 10, TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_read_only_query_answers_with_columns_and_rows_up_to_the_limit()
    {
        await Ingest("s",
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 10),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", "2026-11-26T08:16:00Z", 20));

        var r = await _store.SqlConsole!.QueryAsync("SELECT avatar_id, torque FROM m_screwing ORDER BY torque", 1, TimeSpan.FromSeconds(5), CancellationToken.None);

        Assert.Equal(["avatar_id", "torque"], r.Columns.Select(c => c.Name));
        Assert.True(r.Truncated);
        Assert.Equal(new object?[] { TestDefinitions.Vin1, 10.0 }, Assert.Single(r.Rows));
    }

    [Fact]
    public async Task A_query_over_its_time_limit_is_cancelled_with_a_clear_error()
    {
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => _store.SqlConsole!.QueryAsync(
            "SELECT count(*) FROM range(100000000000) a", 10, TimeSpan.FromMilliseconds(200), CancellationToken.None));
        Assert.Contains("longer than its limit", ex.Message, StringComparison.Ordinal);
    }
}
