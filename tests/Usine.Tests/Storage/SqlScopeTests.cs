using DuckDB.NET.Data;

namespace Usine.Tests.Storage;

/// <summary>Read-only SQL limited to a set of plants, on a real store holding records of two plants.</summary>
public sealed class SqlScopeTests : IAsyncLifetime
{
    private const string Vin3 = "VF1CCCCC333333333";

    private static readonly HashSet<string> Flins = new(StringComparer.Ordinal) { "flins" };

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-sqlscope-").FullName;
    /// <summary>The test definitions, where each record also gives its vehicle the station it was last seen at.</summary>
    private readonly UsineDefinitions _definitions = TestDefinitions.TwoPlants();
    private DuckDbStore _store = null!;
    private IngestEngine _engine = null!;

    /// <summary>
    /// Two vehicles screwed in flins, one in douai, and the first flins vehicle screwed again in douai: its
    /// avatar belongs to flins, but that record and its link to a douai station do not.
    /// </summary>
    public async Task InitializeAsync()
    {
        _store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = _dir, MemoryLimit = "256MB", Threads = 1 });
        _engine = new IngestEngine(_definitions, _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
        await Ingest("line1", "s1",
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 10),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST050", "2026-11-26T08:20:00Z", 20));
        await Ingest("line2", "s2",
            TestDefinitions.Screwing(Vin3, "ST040", "2026-11-26T08:30:00Z", 30),
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST060", "2026-11-26T09:10:00Z", 40));
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task Ingest(string source, string stream, params string[] payloads)
    {
        var r = await _engine.IngestAsync(new IngestBatch { SourceId = source, StreamId = stream, Messages = TestDefinitions.Messages(payloads) }, CancellationToken.None);
        Assert.Equal(payloads.Length, r.Stored);
    }

    private Task<QueryResult> Query(string sql, IReadOnlySet<string>? plants) =>
        _store.SqlConsole!.QueryAsync(sql, 1000, TimeSpan.FromSeconds(10), CancellationToken.None, plants);

    private async Task<List<string>> Rows(string sql, IReadOnlySet<string>? plants) =>
        [.. (await Query(sql, plants)).Rows.Select(r => string.Join("|", r.Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture))))];

    private async Task<string> Refused(string sql)
    {
        var ex = await Assert.ThrowsAsync<QueryRefusedException>(() => Query(sql, Flins));
        return ex.Message;
    }

    [Fact]
    public async Task DuckDB_resolves_a_bare_name_to_a_temporary_view_before_the_table_it_shadows()
    {
        // What scoping rests on, checked on DuckDB itself: bare names in any case, quoted or not, and the bodies of
        // stored views find the temporary view; only a name with its database reaches the table.
        using var conn = new DuckDBConnection($"Data Source={Path.Combine(_dir, "shadow.duckdb")}");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = """
            CREATE TABLE t (plant VARCHAR);
            INSERT INTO t VALUES ('flins'), ('douai');
            CREATE VIEW v AS SELECT * FROM t;
            CREATE TEMP VIEW t AS SELECT * FROM shadow.main.t WHERE plant = 'flins';
            """;
        cmd.ExecuteNonQuery();
        string Plants(string from)
        {
            using var q = conn.CreateCommand();
            q.CommandText = $"SELECT string_agg(plant, ',' ORDER BY plant) FROM {from}";
            return (string)q.ExecuteScalar()!;
        }

        Assert.Equal("flins", Plants("t"));
        Assert.Equal("flins", Plants("T"));
        Assert.Equal("flins", Plants("\"T\""));
        Assert.Equal("flins", Plants("main.t"));
        Assert.Equal("flins", Plants("v"));
        Assert.Equal("douai,flins", Plants("shadow.main.t"));
        Assert.Equal("douai,flins", Plants("shadow.t"));
    }

    [Fact]
    public async Task A_scoped_query_of_records_returns_only_the_rows_of_its_plants()
    {
        const string sql = "SELECT plant, avatar_id, station, torque FROM m_screwing ORDER BY torque";

        Assert.Equal(
            [$"flins|{TestDefinitions.Vin1}|ST040|10", $"flins|{TestDefinitions.Vin2}|ST050|20", $"douai|{Vin3}|ST040|30", $"douai|{TestDefinitions.Vin1}|ST060|40"],
            await Rows(sql, null));
        Assert.Equal([$"flins|{TestDefinitions.Vin1}|ST040|10", $"flins|{TestDefinitions.Vin2}|ST050|20"], await Rows(sql, Flins));
        Assert.Equal([$"douai|{Vin3}|ST040|30", $"douai|{TestDefinitions.Vin1}|ST060|40"], await Rows(sql, new HashSet<string> { "douai" }));
        Assert.Equal(await Rows(sql, null), await Rows(sql, new HashSet<string> { "flins", "douai" }));
    }

    [Fact]
    public async Task A_scoped_query_of_rollups_returns_only_the_buckets_of_its_plants()
    {
        Assert.Equal(
            ["2026-11-26 08:00:00|douai|ST040|1|30", "2026-11-26 08:00:00|flins|ST040|1|10", "2026-11-26 08:00:00|flins|ST050|1|20", "2026-11-26 09:00:00|douai|ST060|1|40"],
            await Rows("SELECT strftime(bucket, '%Y-%m-%d %H:%M:%S'), plant, station, n, torque_avg FROM v_screwing_1h ORDER BY ALL", null));
        Assert.Equal(
            ["2026-11-26 08:00:00|flins|ST040|1|10", "2026-11-26 08:00:00|flins|ST050|1|20"],
            await Rows("SELECT strftime(bucket, '%Y-%m-%d %H:%M:%S'), plant, station, n, torque_avg FROM v_screwing_1h ORDER BY ALL", Flins));
        Assert.Equal(
            ["flins|ST040|1|10", "flins|ST050|1|20"],
            await Rows("SELECT plant, station, n, torque_sum FROM r_screwing_1h ORDER BY ALL", Flins));
    }

    [Fact]
    public async Task A_scoped_query_of_avatars_returns_only_the_avatars_of_its_plants()
    {
        const string sql = "SELECT type, id, plant FROM avatars WHERE type IN ('plant', 'vehicle') ORDER BY type, id";

        Assert.Equal(["plant|douai|douai", "plant|flins|flins", $"vehicle|{TestDefinitions.Vin1}|flins", $"vehicle|{TestDefinitions.Vin2}|flins", $"vehicle|{Vin3}|douai"], await Rows(sql, null));
        Assert.Equal(["plant|flins|flins", $"vehicle|{TestDefinitions.Vin1}|flins", $"vehicle|{TestDefinitions.Vin2}|flins"], await Rows(sql, Flins));
        Assert.Equal(["flins"], await Rows("SELECT DISTINCT plant FROM avatars", Flins));
    }

    [Theory]
    [InlineData("avatar_links")]
    [InlineData("avatar_link_events")]
    public async Task A_scoped_query_of_links_returns_only_links_between_avatars_of_its_plants(string relation)
    {
        // Resolved by an unscoped query, so that the scoped one is compared with what the store holds.
        var all = $"SELECT f.id, t.id, t.plant FROM {relation} l JOIN avatars f ON f.avatar_key = l.from_key JOIN avatars t ON t.avatar_key = l.to_key ORDER BY ALL";
        Assert.Equal(
            [$"{TestDefinitions.Vin1}|douai/assembly/L1/ST060|douai", $"{TestDefinitions.Vin1}|flins/assembly/L1/ST040|flins",
                $"{TestDefinitions.Vin2}|flins/assembly/L1/ST050|flins", $"{Vin3}|douai/assembly/L1/ST040|douai"],
            await Rows(all, null));

        var keys = await Rows($"SELECT from_key, kind, to_key FROM {relation} ORDER BY ALL", Flins);
        var expected = await Rows(
            $"SELECT l.from_key, l.kind, l.to_key FROM {relation} l JOIN avatars f ON f.avatar_key = l.from_key JOIN avatars t ON t.avatar_key = l.to_key "
            + "WHERE f.plant = 'flins' AND t.plant = 'flins' ORDER BY ALL", null);
        Assert.Equal(2, expected.Count);
        Assert.Equal(expected, keys);
    }

    [Fact]
    public async Task A_scoped_query_of_avatar_attributes_returns_only_those_of_avatars_of_its_plants()
    {
        const string sql = "SELECT a.id, x.value FROM avatar_attributes x JOIN avatars a USING (avatar_key) ORDER BY ALL";

        // The first vehicle is a flins avatar, but its last station was set by its douai record: that tells about douai.
        Assert.Equal([$"{TestDefinitions.Vin1}|ST060", $"{TestDefinitions.Vin2}|ST050", $"{Vin3}|ST040"], await Rows(sql, null));
        Assert.Equal([$"{TestDefinitions.Vin2}|ST050"], await Rows(sql, Flins));
        Assert.Equal(["1"], await Rows("SELECT count(*) FROM avatar_attributes", Flins));
    }

    [Fact]
    public async Task A_link_keeps_the_validity_it_has_in_the_whole_history()
    {
        // The flins link of the first vehicle ended when it was linked to the douai station; the scoped view says so too.
        const string sql = "SELECT f.id, t.id, strftime(l.valid_from, '%H:%M'), coalesce(strftime(l.valid_to, '%H:%M'), '-') "
            + "FROM avatar_links l JOIN avatars f ON f.avatar_key = l.from_key JOIN avatars t ON t.avatar_key = l.to_key ORDER BY ALL";

        Assert.Equal(
            [$"{TestDefinitions.Vin1}|flins/assembly/L1/ST040|08:15|09:10", $"{TestDefinitions.Vin2}|flins/assembly/L1/ST050|08:20|-"],
            await Rows(sql, Flins));
    }

    [Theory]
    [InlineData("m_screwing", "plant = 'flins'")]
    [InlineData("r_screwing_1h", "plant = 'flins'")]
    [InlineData("v_screwing_1h", "plant = 'flins'")]
    [InlineData("avatars", "plant = 'flins'")]
    public async Task Scoped_and_unscoped_queries_agree_on_the_rows_of_the_plant(string relation, string condition)
    {
        var scoped = await Rows($"SELECT * FROM {relation} ORDER BY ALL", Flins);
        var unscoped = await Rows($"SELECT * FROM {relation} WHERE {condition} ORDER BY ALL", null);

        Assert.NotEmpty(scoped);
        Assert.Equal(unscoped, scoped);
        Assert.NotEqual(unscoped.Count, (await Rows($"SELECT * FROM {relation}", null)).Count);
    }

    [Fact]
    public async Task An_empty_scope_reads_nothing()
    {
        var none = new HashSet<string>();

        Assert.Equal(["0|0|0|0"], await Rows(
            "SELECT (SELECT count(*) FROM m_screwing), (SELECT count(*) FROM v_screwing_1h), (SELECT count(*) FROM avatars), (SELECT count(*) FROM avatar_links)", none));
    }

    [Theory]
    [InlineData("SELECT DISTINCT plant FROM M_SCREWING")]
    [InlineData("SELECT DISTINCT plant FROM \"M_Screwing\"")]
    [InlineData("SELECT DISTINCT plant FROM \"m_screwing\"")]
    [InlineData("WITH x AS (SELECT * FROM m_screwing) SELECT DISTINCT plant FROM x")]
    [InlineData("WITH raw AS (SELECT plant FROM avatars) SELECT DISTINCT plant FROM raw")]
    [InlineData("SELECT DISTINCT plant FROM (SELECT plant FROM m_screwing UNION ALL SELECT plant FROM avatars UNION ALL SELECT plant FROM r_screwing_1h)")]
    [InlineData("SELECT DISTINCT a.plant FROM m_screwing s, LATERAL (SELECT plant FROM avatars a WHERE a.avatar_key = s.avatar_key) a")]
    [InlineData("SELECT DISTINCT plant FROM avatars WHERE avatar_key IN (SELECT avatar_key FROM m_screwing)")]
    [InlineData("SELECT (SELECT string_agg(DISTINCT plant, ',') FROM m_screwing)")]
    [InlineData("WITH RECURSIVE up(k, plant) AS (SELECT avatar_key, plant FROM avatars UNION SELECT a.parent_key, a.plant FROM avatars a JOIN up ON a.avatar_key = up.k) SELECT DISTINCT plant FROM up")]
    [InlineData("SELECT DISTINCT plant FROM (FROM m_screwing USING SAMPLE 100 PERCENT (bernoulli))")]
    public async Task Queries_that_reach_records_in_other_ways_still_see_only_the_plants_of_the_scope(string sql)
    {
        Assert.Equal(["flins"], await Rows(sql, Flins));
    }

    [Fact]
    public async Task A_CTE_named_like_a_record_table_reads_the_scoped_records()
    {
        const string sql = "WITH m_screwing AS (SELECT * FROM m_screwing WHERE plant = 'douai') SELECT count(*) FROM m_screwing";

        Assert.Equal(["2"], await Rows(sql, null));
        Assert.Equal(["0"], await Rows(sql, Flins));
    }

    [Fact]
    public async Task A_pivot_over_plants_counts_nothing_outside_the_scope()
    {
        const string sql = "PIVOT (SELECT plant FROM m_screwing) ON plant IN ('flins', 'douai') USING count(*)";

        Assert.Equal(["2|2"], await Rows(sql, null));
        Assert.Equal(["2|0"], await Rows(sql, Flins));
    }

    [Fact]
    public async Task Describe_and_summarize_read_the_scoped_relation()
    {
        var columns = (await Query("DESCRIBE m_screwing", Flins)).Rows.Select(r => r[0]).ToList();
        Assert.Equal(["record_id", "plant", "avatar_key"], columns.Take(3));
        Assert.Contains("torque", columns);
        Assert.Equal(["4"], await Rows("SELECT count FROM (SUMMARIZE SELECT plant FROM m_screwing)", null));
        Assert.Equal(["2"], await Rows("SELECT count FROM (SUMMARIZE SELECT plant FROM m_screwing)", Flins));
    }

    [Theory]
    [InlineData("SELECT * FROM raw_messages", "'raw_messages' cannot be read")]
    [InlineData("SELECT * FROM dead_letters", "'dead_letters' cannot be read")]
    [InlineData("SELECT * FROM streams", "'streams' cannot be read")]
    [InlineData("SELECT * FROM checkpoints", "'checkpoints' cannot be read")]
    [InlineData("SELECT * FROM source_hours", "'source_hours' cannot be read")]
    [InlineData("SELECT * FROM audit_log", "'audit_log' cannot be read")]
    [InlineData("SELECT * FROM archive_files", "'archive_files' cannot be read")]
    [InlineData("SELECT * FROM stage_screwing", "'stage_screwing' cannot be read")]
    [InlineData("SELECT * FROM duckdb_tables", "'duckdb_tables' cannot be read")]
    [InlineData("SELECT * FROM pg_class", "'pg_class' cannot be read")]
    [InlineData("SELECT * FROM sqlite_master", "'sqlite_master' cannot be read")]
    [InlineData("SELECT * FROM pragma_database_list", "'pragma_database_list' cannot be read")]
    [InlineData("SELECT * FROM information_schema.tables", "'information_schema.tables' names a schema")]
    [InlineData("SELECT * FROM main.m_screwing", "'main.m_screwing' names a schema")]
    [InlineData("SELECT * FROM usine.main.m_screwing", "'usine.main.m_screwing' names a schema")]
    [InlineData("SELECT * FROM usine.m_screwing", "'usine.m_screwing' names a schema")]
    [InlineData("SELECT * FROM system.main.duckdb_tables", "'system.main.duckdb_tables' names a schema")]
    [InlineData("SELECT * FROM temp.m_screwing", "'temp.m_screwing' names a schema")]
    [InlineData("SELECT * FROM \"USINE\".\"MAIN\".\"M_SCREWING\"", "'USINE.MAIN.M_SCREWING' names a schema")]
    [InlineData("WITH m_screwing AS (SELECT * FROM raw_messages) SELECT * FROM m_screwing", "'raw_messages' cannot be read")]
    [InlineData("WITH raw_messages AS (SELECT * FROM m_screwing) SELECT * FROM raw_messages", "the CTE 'raw_messages' has the name of a relation")]
    [InlineData("SELECT * FROM (WITH dead_letters AS (SELECT 1) SELECT * FROM dead_letters), dead_letters", "the CTE 'dead_letters' has the name of a relation")]
    [InlineData("SELECT plant FROM m_screwing WHERE EXISTS (SELECT 1 FROM dead_letters)", "'dead_letters' cannot be read")]
    [InlineData("SELECT plant, (SELECT count(*) FROM raw_messages) FROM m_screwing", "'raw_messages' cannot be read")]
    [InlineData("SELECT * FROM m_screwing ORDER BY (SELECT count(*) FROM dead_letters)", "'dead_letters' cannot be read")]
    [InlineData("SELECT plant FROM m_screwing UNION ALL SELECT source_id FROM raw_messages", "'raw_messages' cannot be read")]
    [InlineData("SELECT * FROM m_screwing WHERE plant IN (SELECT plant FROM avatars UNION SELECT stream_id FROM checkpoints)", "'checkpoints' cannot be read")]
    [InlineData("SELECT list_transform([1], x -> (SELECT count(*) FROM raw_messages))", "'raw_messages' cannot be read")]
    [InlineData("VALUES ((SELECT count(*) FROM raw_messages))", "'raw_messages' cannot be read")]
    [InlineData("SELECT * FROM m_screwing JOIN streams USING (stream_id)", "'streams' cannot be read")]
    [InlineData("SELECT * FROM m_screwing POSITIONAL JOIN raw_messages", "'raw_messages' cannot be read")]
    [InlineData("SELECT * FROM m_screwing s, LATERAL (SELECT * FROM raw_messages r WHERE r.position = s.raw_position)", "'raw_messages' cannot be read")]
    [InlineData("PIVOT raw_messages ON source_id IN ('line1') USING count(*)", "'raw_messages' cannot be read")]
    [InlineData("DESCRIBE raw_messages", "'raw_messages' cannot be read")]
    [InlineData("SHOW ALL TABLES", "SHOW lists the whole catalog")]
    [InlineData("DESCRIBE", "SHOW lists the whole catalog")]
    [InlineData("SELECT * FROM duckdb_tables()", "the table function duckdb_tables()")]
    [InlineData("SELECT * FROM range(3)", "the table function range()")]
    [InlineData("SELECT * FROM pragma_table_info('raw_messages')", "the table function pragma_table_info()")]
    [InlineData("SELECT * FROM m_screwing WHERE plant IN (SELECT * FROM unnest(['douai']))", "the table function unnest()")]
    [InlineData("SELECT * FROM query_table('raw_messages')", "query_table")]
    [InlineData("SELECT * FROM 'file.csv'", "looks like a file")]
    [InlineData("PIVOT m_screwing ON plant USING count(*)", "only read-only SELECT")]
    public async Task Queries_that_reach_beyond_the_scoped_relations_are_refused(string sql, string reason)
    {
        var message = await Refused(sql);

        Assert.Contains(reason, message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SELECT current_setting('temp_directory')", "current_setting")]
    [InlineData("SELECT CURRENT_SETTING('memory_limit')", "current_setting")]
    [InlineData("SELECT main.current_setting('temp_directory')", "current_setting")]
    [InlineData("SELECT ('temp_directory').current_setting()", "current_setting")]
    [InlineData("SELECT plant FROM m_screwing WHERE starts_with(current_setting('temp_directory'), '/')", "current_setting")]
    [InlineData("SELECT list_transform(['temp_directory'], x -> current_setting(x))", "current_setting")]
    [InlineData("SELECT (SELECT current_setting('temp_directory') FROM avatars LIMIT 1)", "current_setting")]
    [InlineData("SELECT getvariable('x')", "getvariable")]
    [InlineData("SELECT version()", "version")]
    [InlineData("SELECT current_database()", "current_database")]
    [InlineData("SELECT current_schemas(true)", "current_schemas")]
    [InlineData("SELECT current_query()", "current_query")]
    [InlineData("SELECT pg_get_viewdef('v_screwing_1h')", "pg_get_viewdef")]
    [InlineData("SELECT has_table_privilege('raw_messages', 'select')", "has_table_privilege")]
    [InlineData("SELECT txid_current()", "txid_current")]
    [InlineData("SELECT nextval('s')", "nextval")]
    public async Task Functions_that_tell_about_the_server_are_refused_to_a_scoped_query(string sql, string function)
    {
        var ex = await Assert.ThrowsAsync<QueryRefusedException>(() => Query(sql, Flins));

        Assert.True(ex.OutOfScope);
        Assert.StartsWith($"{function}() tells about the server", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_dir, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Functions_of_the_data_stay_open_to_a_scoped_query_and_server_functions_to_an_unscoped_one()
    {
        Assert.Equal(["2|varchar|True"], await Rows("SELECT count(*), pg_typeof(any_value(plant)), now() > TIMESTAMP '2000-01-01' AND current_date > DATE '2000-01-01' FROM m_screwing", Flins));
        var temp = Assert.Single(await Rows("SELECT current_setting('temp_directory')", null));
        Assert.StartsWith(_dir, temp, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_refusal_lists_what_a_scoped_key_can_read()
    {
        var message = await Refused("SELECT * FROM raw_messages");

        Assert.Equal(
            "'raw_messages' cannot be read with a plant-scoped key. A plant-scoped key can read only the record tables, rollups, avatars, avatar attributes and links of its plants: "
            + "avatar_attributes, avatar_link_events, avatar_links, avatars, m_screwing, r_screwing_1h, v_screwing_1h",
            message);
    }

    [Fact]
    public async Task Unscoped_queries_still_read_every_relation()
    {
        Assert.Equal(["4"], await Rows("SELECT count(*) FROM raw_messages", null));
        Assert.Equal(["3"], await Rows("SELECT count(*) FROM range(3)", null));
        Assert.Equal(["2"], await Rows("SELECT count(*) FROM usine.main.m_screwing WHERE plant = 'douai'", null));
    }
}
