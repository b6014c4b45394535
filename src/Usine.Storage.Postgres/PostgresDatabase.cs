using System.Collections.Concurrent;
using System.Globalization;
using Npgsql;
using Usine.Configuration;
using Usine.Models;
using Usine.Storage.Postgres.Internal;

namespace Usine.Storage.Postgres;

/// <summary>
/// The one PostgreSQL schema every facet of a <see cref="PostgresStore"/> shares: a pooled data source for reads,
/// the writer connection and its lock (one transaction at a time from this process; other processes of a cluster
/// have theirs), the schema (migrations, then the tables of the loaded models and their partitions), and the
/// helpers that read and write.
/// </summary>
internal sealed class PostgresDatabase(PostgresStoreOptions options) : IAsyncDisposable
{
    /// <summary>The advisory lock that serializes changes of the schema between the processes of a cluster.</summary>
    private const long SchemaLock = 0x5573696e65L; // "Usine"

    private NpgsqlDataSource? _source;
    private NpgsqlConnection? _writer;
    private bool _closed;

    /// <summary>Partitions known to exist, by table and start.</summary>
    private readonly ConcurrentDictionary<(string, DateTime), bool> _partitions = new();

    internal PostgresStoreOptions Options { get; } = options;

    /// <summary>The writer's lock: one transaction at a time on <see cref="Writer"/>.</summary>
    internal SemaphoreSlim WriteLock { get; } = new(1, 1);

    /// <summary>The record table of every model, by model name.</summary>
    internal ConcurrentDictionary<string, ModelTable> Tables { get; } = new(StringComparer.Ordinal);

    internal UsineDefinitions? Definitions { get; private set; }

    /// <summary>The writer, opened again if the server dropped it (a restart, a failover).</summary>
    internal NpgsqlConnection Writer
    {
        get
        {
            if (_closed || _writer is null)
            {
                throw new InvalidOperationException("the store is not initialized, or it was closed");
            }

            if (_writer.FullState is System.Data.ConnectionState.Broken or System.Data.ConnectionState.Closed)
            {
                _writer.Dispose();
                _writer = Source.OpenConnection();
                InitializeSession(_writer);
            }

            return _writer;
        }
    }

    internal NpgsqlDataSource Source => _source ?? throw new InvalidOperationException("the store is not initialized, or it was closed");

    internal DateTime Now() => Options.Time.GetUtcNow().UtcDateTime;

    internal async Task InitializeAsync(UsineDefinitions definitions, CancellationToken cancellationToken)
    {
        Definitions = definitions;
        var builder = new NpgsqlConnectionStringBuilder(Options.ConnectionString)
        {
            SearchPath = Options.Schema,
            Timezone = "UTC",
        };
        _source = NpgsqlDataSource.Create(builder.ConnectionString);
        _closed = false;
        var writer = await _source.OpenConnectionAsync(cancellationToken);
        try
        {
            Exec(writer, $"CREATE SCHEMA IF NOT EXISTS {Sql.Quote(Options.Schema)}");
            Exec(writer, "SELECT pg_advisory_lock($1)", SchemaLock);
            try
            {
                Migrations.Apply(this, writer);

                // Past every key stored, and past every block handed out: a key is never given twice.
                Exec(writer, "SELECT setval('avatar_keys', GREATEST((SELECT coalesce(max(avatar_key), 0) FROM avatars), (SELECT last_value FROM avatar_keys)))");
                Exec(writer, DeadLetterRuleFunction);
                foreach (var versions in definitions.Models.Values)
                {
                    Tables[versions.Name] = EnsureModelTable(writer, versions);
                }

                PrepareConsole(writer);
            }
            finally
            {
                Exec(writer, "SELECT pg_advisory_unlock($1)", SchemaLock);
            }

            InitializeSession(writer);
        }
        catch
        {
            await writer.DisposeAsync();
            throw;
        }

        _writer = writer;
    }

    /// <summary>
    /// <c>dead_letter_rule(stage, reason)</c>, made from the patterns the code groups letters by (it follows the code,
    /// not the schema version). PostgreSQL takes the greediness of a whole expression from its first quantifier: the
    /// validation pattern's first one is made lazy here, so that a reason listing several problems matches one at a time.
    /// </summary>
    private static string DeadLetterRuleFunction =>
        "CREATE OR REPLACE FUNCTION dead_letter_rule(stage text, reason text) RETURNS text LANGUAGE sql IMMUTABLE AS $rule$ SELECT CASE WHEN stage = 'validate' THEN "
        + $"regexp_replace(reason, {Sql.Literal(DeadLetterRules.ValidationPattern.Replace("([^']*)", "([^']*?)", StringComparison.Ordinal))}, 'field ''\\1'' \\3', 'g') ELSE "
        + $"regexp_replace(regexp_replace(reason, {Sql.Literal(DeadLetterRules.QuotedPattern)}, '\"…\"', 'g'), {Sql.Literal(DeadLetterRules.NumberPattern)}, '\\1N', 'g') END $rule$";

    /// <summary>
    /// What lives on the writer's connection only: the staging tables of batches, emptied at every commit. They are
    /// made again when the writer reconnects.
    /// </summary>
    private void InitializeSession(NpgsqlConnection conn)
    {
        Exec(conn, """
            CREATE TEMP TABLE IF NOT EXISTS stage_avatar_attributes (avatar_key bigint, name text, value text, set_at timestamptz, plant text, source_id text) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS replay_failed (
                source_id text, stream_id text, position bigint, stage text, reason text, error_type text,
                model text, model_version integer, topic text, payload bytea, payload_bytes bigint, received_at timestamptz, plant text,
                raw_index integer) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS replay_ok (stream_id text, position bigint, raw_index integer) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS replay_links (from_key bigint, kind text, to_key bigint, linked_at timestamptz, source_id text) ON COMMIT DELETE ROWS;
            """);
        foreach (var t in Tables.Values)
        {
            CreateStage(conn, t);
        }
    }

    private static void CreateStage(NpgsqlConnection conn, ModelTable t) =>
        Exec(conn, $"DROP TABLE IF EXISTS pg_temp.{Sql.StageTable(t.Name)}; CREATE TEMP TABLE {Sql.StageTable(t.Name)} ON COMMIT DELETE ROWS AS "
            + $"SELECT {t.StageColumns} FROM {Sql.RecordTable(t.Name)} LIMIT 0");

    /// <summary>Makes or completes a model's table, under the schema lock, and its staging table on the writer.</summary>
    internal ModelTable AddModel(ModelVersions versions)
    {
        var writer = Writer;
        Exec(writer, "SELECT pg_advisory_lock($1)", SchemaLock);
        try
        {
            var table = EnsureModelTable(writer, versions);
            CreateStage(writer, table);
            Tables[versions.Name] = table;
            PrepareConsole(writer);
            return table;
        }
        finally
        {
            Exec(writer, "SELECT pg_advisory_unlock($1)", SchemaLock);
        }
    }

    /// <summary>The role the SQL console reads every table with (a caller who sees every plant).</summary>
    internal string ReaderRole => Options.Schema + "_reader";

    /// <summary>The role the SQL console reads the plant relations with, their rows limited to the query's plants.</summary>
    internal string ScopedRole => Options.Schema + "_scoped";

    /// <summary>Whether the console's roles and policies are in place; false when the store's user may not make roles.</summary>
    internal bool ConsoleReady { get; private set; }

    /// <summary>
    /// Makes the SQL console's roles, grants them what they may read, and puts row-level security on the relations
    /// that carry a plant (see <see cref="PostgresSqlConsole"/>). Run under the schema lock at start and when a model
    /// is added; each statement is idempotent.
    /// </summary>
    private void PrepareConsole(NpgsqlConnection conn)
    {
        var reader = Sql.Quote(ReaderRole);
        var scoped = Sql.Quote(ScopedRole);
        var schema = Sql.Quote(Options.Schema);
        try
        {
            foreach (var role in new[] { ReaderRole, ScopedRole })
            {
                Exec(conn, $"DO $do$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {Sql.Literal(role)}) THEN CREATE ROLE {Sql.Quote(role)} NOLOGIN; END IF; END $do$");
                Exec(conn, $"GRANT {Sql.Quote(role)} TO CURRENT_USER");
            }

            Exec(conn, $"GRANT USAGE ON SCHEMA {schema} TO {reader}, {scoped}");
            Exec(conn, $"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {reader}");

            const string InScope = "plant = ANY (string_to_array(current_setting('usine.plants', true), ','))";
            var relations = new List<(string Name, string Scope)> { ("avatars", InScope), ("avatar_attributes", $"{InScope} AND EXISTS (SELECT 1 FROM avatars a WHERE a.avatar_key = avatar_attributes.avatar_key)") };
            relations.Add(("avatar_link_events", "EXISTS (SELECT 1 FROM avatars a WHERE a.avatar_key = from_key) AND EXISTS (SELECT 1 FROM avatars a WHERE a.avatar_key = to_key)"));
            foreach (var table in Tables.Values)
            {
                relations.Add((Sql.RecordTable(table.Name), InScope));
                relations.AddRange(table.Rollups.Select(r => (r.Table, InScope)));
            }

            foreach (var (name, scope) in relations)
            {
                var relation = Sql.Quote(name);
                Exec(conn, $"GRANT SELECT ON {relation} TO {scoped}");
                Exec(conn, $"ALTER TABLE {relation} ENABLE ROW LEVEL SECURITY");
                Exec(conn, $"DROP POLICY IF EXISTS console_all ON {relation}");
                Exec(conn, $"CREATE POLICY console_all ON {relation} FOR SELECT TO {reader} USING (true)");
                Exec(conn, $"DROP POLICY IF EXISTS console_plants ON {relation}");
                Exec(conn, $"CREATE POLICY console_plants ON {relation} FOR SELECT TO {scoped} USING ({scope})");
            }

            // Views read with the rights of their caller, so that the policies of the tables beneath apply.
            var views = new List<string> { "avatar_links" };
            foreach (var table in Tables.Values)
            {
                views.AddRange(table.Rollups.Select(r => Sql.RollupView(table.Name, r.Definition)));
            }

            foreach (var view in views)
            {
                Exec(conn, $"ALTER VIEW {Sql.Quote(view)} SET (security_invoker = true)");
                Exec(conn, $"GRANT SELECT ON {Sql.Quote(view)} TO {scoped}");
            }

            ConsoleReady = true;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            // A user that may not make roles: the store works, without its SQL console.
            ConsoleReady = false;
        }
    }

    private ModelTable EnsureModelTable(NpgsqlConnection conn, ModelVersions versions)
    {
        var name = versions.Name;
        var table = Sql.RecordTable(name);
        var columns = versions.UnionFields();
        var existing = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var cmd = new NpgsqlCommand("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = lower($2)", conn))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = Options.Schema });
            cmd.Parameters.Add(new NpgsqlParameter { Value = table });
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                existing[r.GetString(0)] = r.GetString(1);
            }
        }

        if (existing.Count == 0)
        {
            // Partitioned by event time: old months are detached or dropped whole, and a query over a time range
            // reads only the partitions it overlaps. Partitions are made as records need them (EnsurePartitions).
            Exec(conn, $"""
                CREATE TABLE {table} (
                    record_id uuid NOT NULL, plant text NOT NULL, avatar_key bigint, avatar_id text, context_key bigint, event_time timestamptz NOT NULL,
                    model_version integer NOT NULL, source_id text NOT NULL, stream_id text NOT NULL, raw_position bigint NOT NULL, stored_at timestamptz NOT NULL,
                    raw_index integer NOT NULL DEFAULT 0{string.Concat(columns.Select(c => $", {Sql.Quote(c.Name)} {Sql.TypeOf(c.Type)}"))}
                ) PARTITION BY RANGE (event_time)
                """);

            // A record id names one record; with the event time (the partition key, which a unique index must hold) it
            // is what makes a second commit of the same record a no-op.
            Exec(conn, $"CREATE UNIQUE INDEX {table}_record ON {table} (record_id, event_time)");
            Exec(conn, $"CREATE INDEX {table}_avatar ON {table} (avatar_key, event_time)");
            Exec(conn, $"CREATE INDEX {table}_source ON {table} (source_id, stored_at)");
        }
        else
        {
            // A newer model version adds columns; a changed type must stop the start rather than corrupt data.
            foreach (var c in columns)
            {
                if (!existing.TryGetValue(c.Name, out var type))
                {
                    Exec(conn, $"ALTER TABLE {table} ADD COLUMN {Sql.Quote(c.Name)} {Sql.TypeOf(c.Type)}");
                }
                else if (!string.Equals(type, Sql.TypeOf(c.Type), StringComparison.OrdinalIgnoreCase))
                {
                    throw new UsineException($"table {table} has column '{c.Name}' of type {type}, but model {name} declares {Sql.TypeOf(c.Type)}; use a new field name");
                }
            }
        }

        var latest = versions.Latest;
        var timeInKey = latest.Key.Contains(latest.TimeField, StringComparer.Ordinal);
        if (!timeInKey)
        {
            // Without the time in the key, the same record may come with another event time, into another partition:
            // a commit looks it up by id across partitions.
            Exec(conn, $"CREATE INDEX IF NOT EXISTS {table}_record_id ON {table} (record_id)");
        }

        var map = new Dictionary<int, int[]>();
        foreach (var v in versions.All)
        {
            map[v.Version] = [.. columns.Select(c => v.IndexOf(c.Name))];
        }

        var rollups = latest.Rollups.Select(r => (r, Sql.RollupTable(name, r), EnsureRollup(conn, name, r))).ToList();
        var fieldList = string.Concat(columns.Select(c => ", " + Sql.Quote(c.Name)));
        var stage = Sql.StageTable(name);
        var dedup = timeInKey ? "" : $" WHERE NOT EXISTS (SELECT 1 FROM {table} m WHERE m.record_id = s.record_id)";
        var ctes = rollups.Select((r, i) => $", r{i} AS ({string.Format(CultureInfo.InvariantCulture, r.Item3, "ins")})");

        // One statement: the insert skips what is stored already, and the rollups add exactly what it inserted, so late
        // data goes to its own old bucket and a duplicate counts nowhere.
        var insert = $"WITH ins AS (INSERT INTO {table} (record_id, plant, avatar_key, avatar_id, context_key, event_time, model_version, source_id, stream_id, raw_position, raw_index, stored_at{fieldList}) "
            + $"SELECT record_id, plant, avatar_key, avatar_id, context_key, event_time, $1, $2, $3, raw_position, raw_index, $4{fieldList} FROM {stage} s{dedup} "
            + $"ON CONFLICT (record_id, event_time) DO NOTHING RETURNING *){string.Concat(ctes)} SELECT count(*) FROM ins";
        return new ModelTable
        {
            Name = name,
            Columns = columns,
            ColumnToField = map,
            Latest = latest,
            TimeInKey = timeInKey,
            StageColumns = "record_id, plant, avatar_key, avatar_id, context_key, event_time, raw_position, raw_index" + fieldList,
            InsertSql = insert,
            Rollups = rollups,
        };
    }

    /// <summary>Makes a rollup table and its view; returns the upsert that adds records to it, where they come from as <c>{0}</c>.</summary>
    private static string EnsureRollup(NpgsqlConnection conn, string model, RollupDefinition r)
    {
        var table = Sql.RollupTable(model, r);
        var by = r.By.Where(b => b != "plant").ToList();
        var cols = new List<string> { "bucket timestamptz NOT NULL", "plant text NOT NULL" };
        cols.AddRange(by.Select(b => $"{Sql.Quote(b)} text NOT NULL"));
        cols.Add("n bigint NOT NULL");
        var select = new List<string> { Sql.Bucket(r.Bucket, "s.event_time"), "s.plant" };

        // A level of the hierarchy comes from the record's context, through avatar_levels; '' when it has none.
        select.AddRange(by.Select(b => b.StartsWith('@') ? $"coalesce(l.{b[1..]}, '')" : $"coalesce(CAST(s.{Sql.Quote(b)} AS text), '')"));
        select.Add("count(*)");
        var updates = new List<string> { "n = t.n + EXCLUDED.n" };
        var targets = new List<string> { "bucket", "plant" };
        targets.AddRange(by.Select(Sql.Quote));
        targets.Add("n");
        var avg = new List<string>();
        foreach (var (field, measures) in r.Measures)
        {
            var f = Sql.Quote(field);
            void Add(string suffix, string type, string expression, string update)
            {
                var c = Sql.Quote(field + suffix);
                cols.Add($"{c} {type}");
                select.Add(expression);
                targets.Add(c);
                updates.Add($"{c} = {string.Format(CultureInfo.InvariantCulture, update, "t." + c, "EXCLUDED." + c)}");
            }

            if (measures.Contains(Measure.Count) || measures.Contains(Measure.Avg))
            {
                Add("_count", "bigint NOT NULL", $"count(s.{f})", "{0} + {1}");
            }

            if (measures.Contains(Measure.Sum) || measures.Contains(Measure.Avg))
            {
                Add("_sum", "double precision NOT NULL", $"coalesce(sum(s.{f}), 0)", "{0} + {1}");
            }

            if (measures.Contains(Measure.Avg))
            {
                avg.Add($"{Sql.Quote(field + "_sum")} / nullif({Sql.Quote(field + "_count")}, 0) AS {Sql.Quote(field + "_avg")}");
            }

            if (measures.Contains(Measure.Min))
            {
                Add("_min", "double precision", $"min(s.{f})", "least({0}, {1})");
            }

            if (measures.Contains(Measure.Max))
            {
                Add("_max", "double precision", $"max(s.{f})", "greatest({0}, {1})");
            }
        }

        var key = string.Join(", ", new[] { "bucket", "plant" }.Concat(by.Select(Sql.Quote)));
        Exec(conn, $"CREATE TABLE IF NOT EXISTS {table} ({string.Join(", ", cols)}, PRIMARY KEY ({key}))");
        Exec(conn, $"DROP VIEW IF EXISTS {Sql.RollupView(model, r)}; CREATE VIEW {Sql.RollupView(model, r)} AS SELECT *{(avg.Count > 0 ? ", " + string.Join(", ", avg) : "")} FROM {table}");
        var levels = by.Any(b => b.StartsWith('@')) ? " LEFT JOIN avatar_levels l ON l.context_key = s.context_key" : "";
        var groupBy = string.Join(", ", Enumerable.Range(1, 2 + by.Count).Select(i => i.ToString(CultureInfo.InvariantCulture)));

        // {0} is where the records come from: what a batch inserted, or the record table for a rebuild.
        return $"INSERT INTO {table} AS t ({string.Join(", ", targets)}) SELECT {string.Join(", ", select)} FROM {{0}} s{levels} GROUP BY {groupBy} "
            + $"ON CONFLICT ({key}) DO UPDATE SET {string.Join(", ", updates)}";
    }

    /// <summary>
    /// Makes the partitions of a record table that the event times need, each in a short transaction of its own before
    /// the batch's, under the schema lock so that two processors needing the same month make it once.
    /// </summary>
    internal void EnsurePartitions(NpgsqlConnection conn, string model, IEnumerable<DateTime> times)
    {
        var table = Sql.RecordTable(model);
        foreach (var start in times.Select(PartitionStart).Distinct())
        {
            if (_partitions.ContainsKey((table, start)))
            {
                continue;
            }

            var end = Options.Partitioning == RecordPartitioning.Day ? start.AddDays(1) : start.AddMonths(1);
            var partition = table + "_p" + start.ToString(Options.Partitioning == RecordPartitioning.Day ? "yyyyMMdd" : "yyyyMM", CultureInfo.InvariantCulture);
            using (var tx = conn.BeginTransaction())
            {
                Exec(conn, "SELECT pg_advisory_xact_lock($1)", SchemaLock);
                Exec(conn, $"CREATE TABLE IF NOT EXISTS {partition} PARTITION OF {table} FOR VALUES FROM ({Sql.Timestamp(start)}) TO ({Sql.Timestamp(end)})");
                tx.Commit();
            }

            _partitions[(table, start)] = true;
        }
    }

    internal DateTime PartitionStart(DateTime t) => Options.Partitioning == RecordPartitioning.Day
        ? new DateTime(t.Year, t.Month, t.Day, 0, 0, 0, DateTimeKind.Utc)
        : new DateTime(t.Year, t.Month, 1, 0, 0, 0, DateTimeKind.Utc);

    internal void AppendAudit(AuditRecord audit, DateTime now) =>
        Exec(Writer, "INSERT INTO audit_log (\"at\", actor, action, target, detail, result) VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
            now, audit.Actor, audit.Action, audit.Target, audit.DetailJson, audit.Result);

    /// <summary>Runs <paramref name="write"/> in one transaction of the writer, under the write lock.</summary>
    internal async Task<T> WriteAsync<T>(Func<DateTime, T> write, CancellationToken cancellationToken)
    {
        await WriteLock.WaitAsync(cancellationToken);
        try
        {
            using var tx = Writer.BeginTransaction();
            var result = write(Now());
            tx.Commit();
            return result;
        }
        finally
        {
            WriteLock.Release();
        }
    }

    /// <summary>Runs one statement with parameters on the writer, under the write lock, outside any batch.</summary>
    internal async Task ExecLockedAsync(string sql, CancellationToken cancellationToken, params object?[] parameters)
    {
        await WriteLock.WaitAsync(cancellationToken);
        try
        {
            Exec(Writer, sql, parameters);
        }
        finally
        {
            WriteLock.Release();
        }
    }

    /// <summary>Runs a statement with parameters, and says how many rows it changed.</summary>
    internal static int Exec(NpgsqlConnection conn, string sql, params object?[] parameters)
    {
        using var cmd = new NpgsqlCommand(sql, conn);
        Bind(cmd, parameters);
        return cmd.ExecuteNonQuery();
    }

    internal static T Scalar<T>(NpgsqlConnection conn, string sql, params object?[] parameters)
    {
        using var cmd = new NpgsqlCommand(sql, conn);
        Bind(cmd, parameters);
        return (T)Convert.ChangeType(cmd.ExecuteScalar()!, typeof(T), CultureInfo.InvariantCulture);
    }

    internal static void Bind(NpgsqlCommand cmd, IEnumerable<object?> parameters)
    {
        foreach (var p in parameters)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = Value(p) });
        }
    }

    /// <summary>
    /// A parameter as Npgsql sends it: times in UTC (Npgsql writes timestamp with time zone only from UTC times; every
    /// time of Usine is UTC, whatever kind it was given), lists as arrays.
    /// </summary>
    internal static object Value(object? v) => v switch
    {
        null => DBNull.Value,
        DateTime t => DateTime.SpecifyKind(t, DateTimeKind.Utc),
        IEnumerable<DateTime> times => times.Select(t => DateTime.SpecifyKind(t, DateTimeKind.Utc)).ToArray(),
        _ => v,
    };

    /// <summary>A new pooled connection for reading; it sees what was committed when each query starts.</summary>
    public NpgsqlConnection OpenReader() => Source.OpenConnection();

    /// <summary>Runs a fixed, trusted query (not user SQL) and maps each row.</summary>
    public List<T> Read<T>(string sql, Func<NpgsqlDataReader, T> map, params object?[] args)
    {
        using var conn = OpenReader();
        using var cmd = new NpgsqlCommand(sql, conn);
        Bind(cmd, args);
        using var r = cmd.ExecuteReader();
        var list = new List<T>();
        while (r.Read())
        {
            list.Add(map(r));
        }

        return list;
    }

    public long Count(string sql, params object?[] args) =>
        Read(sql, r => r.IsDBNull(0) ? 0 : Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), args).FirstOrDefault();

    public async ValueTask DisposeAsync()
    {
        await WriteLock.WaitAsync();
        try
        {
            _closed = true;
            if (_writer is not null)
            {
                await _writer.DisposeAsync();
                _writer = null;
            }

            if (_source is not null)
            {
                await _source.DisposeAsync();
                _source = null;
            }
        }
        finally
        {
            WriteLock.Release();
        }
    }
}
