using DuckDB.NET.Data;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Tests.Storage;

/// <summary>The DuckDB schema by versions: embedded migration files, applied once each, recorded in schema_migrations.</summary>
public sealed class MigrationTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-migrations-").FullName;
    private DuckDbStore _store = null!;
    private IngestEngine _engine = null!;

    public async Task InitializeAsync() => await OpenAsync();

    private async Task OpenAsync()
    {
        _store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = _dir, MemoryLimit = "256MB", Threads = 1 });
        _engine = new IngestEngine(TestDefinitions.Load(), _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
    }

    private async Task CloseAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
    }

    public async Task DisposeAsync()
    {
        await CloseAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Changes the closed store's file directly, as an older version of Usine would have left it.</summary>
    private void Alter(string sql)
    {
        using var conn = new DuckDBConnection($"Data Source={Path.Combine(_dir, "usine.duckdb")}");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private List<string> Versions() => _store.Read("SELECT version || ' ' || name FROM schema_migrations ORDER BY version", r => r.GetString(0));

    /// <summary>What a store holds, table by table, to compare before and after a migration.</summary>
    private string Contents() => string.Join(", ", new[] { "raw_messages", "m_screwing", "r_screwing_1h", "avatars", "avatar_link_events", "avatar_levels", "dead_letters", "checkpoints", "source_hours" }
        .Select(t => $"{t}={_store.Count($"SELECT count(*) FROM {t}")}"));

    private async Task<IngestResult> IngestSome() =>
        await _engine.IngestAsync(new IngestBatch
        {
            SourceId = "line1",
            StreamId = "http:line1",
            Messages = TestDefinitions.Messages(
                TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 10),
                TestDefinitions.Screwing(TestDefinitions.Vin2, "ST050", "2026-11-26T08:20:00Z", 20),
                "{broken"),
        }, CancellationToken.None);

    [Fact]
    public async Task A_new_store_has_every_migration_recorded_once_and_a_restart_applies_none_again()
    {
        var expected = Migrations.All.Select(m => $"{m.Version} {m.Name}").ToList();
        Assert.Equal(["1 0001_initial", "2 0002_avatar_levels", "3 0003_lineage"], expected);
        Assert.Equal(expected, Versions());
        var appliedAt = _store.Read("SELECT CAST(applied_at AS VARCHAR) FROM schema_migrations ORDER BY version", r => r.GetString(0));

        await CloseAsync();
        await OpenAsync();

        Assert.Equal(expected, Versions());
        Assert.Equal(appliedAt, _store.Read("SELECT CAST(applied_at AS VARCHAR) FROM schema_migrations ORDER BY version", r => r.GetString(0)));
    }

    [Fact]
    public async Task A_store_written_before_schema_versions_opens_with_its_data_unchanged()
    {
        Assert.Equal(2, (await IngestSome()).Stored);
        var before = Contents();
        await CloseAsync();
        Alter("DROP TABLE schema_migrations");

        await OpenAsync();

        Assert.Equal(before, Contents());
        Assert.Equal(Migrations.All.Count, Versions().Count);
        var again = await IngestSome();
        Assert.Equal((0, 2), (again.Stored, again.Duplicates));
        Assert.Equal(2, _store.Count("SELECT count(*) FROM m_screwing"));
    }

    [Fact]
    public async Task A_store_older_than_the_levels_of_the_hierarchy_gets_them_computed_once()
    {
        Assert.Equal(2, (await IngestSome()).Stored);
        var levels = _store.Read("SELECT context_key || ' ' || coalesce(shop, '') || ' ' || coalesce(line, '') || ' ' || coalesce(station, '') FROM avatar_levels ORDER BY ALL", r => r.GetString(0));
        Assert.Equal(4, levels.Count);
        await CloseAsync();
        Alter("DROP TABLE schema_migrations; DROP TABLE avatar_levels");

        await OpenAsync();

        Assert.Equal(levels, _store.Read("SELECT context_key || ' ' || coalesce(shop, '') || ' ' || coalesce(line, '') || ' ' || coalesce(station, '') FROM avatar_levels ORDER BY ALL", r => r.GetString(0)));
    }
}
