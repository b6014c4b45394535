using System.Collections.Concurrent;
using System.Globalization;
using DuckDB.NET.Data;
using Usine.Configuration;
using Usine.Models;
using Usine.Pipeline;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>
/// The one DuckDB database every facet of a <see cref="DuckDbStore"/> shares: the writer connection and its lock,
/// the schema (migrations, then the tables of the loaded models), and the helpers that read and write.
/// </summary>
internal sealed class DuckDbDatabase(DuckDbStoreOptions options) : IAsyncDisposable
{
    private DuckDBConnection? _writer;

    internal DuckDbStoreOptions Options { get; } = options;

    /// <summary>The writer's lock: one transaction at a time on <see cref="Writer"/>.</summary>
    internal SemaphoreSlim WriteLock { get; } = new(1, 1);

    /// <summary>Held by an archive run; closing waits for it, so that a run still writing records its files first.</summary>
    internal SemaphoreSlim ArchiveLock { get; } = new(1, 1);

    /// <summary>The record table of every model, by model name.</summary>
    internal ConcurrentDictionary<string, ModelTable> Tables { get; } = new(StringComparer.Ordinal);

    internal UsineDefinitions? Definitions { get; private set; }

    /// <summary>The last dead-letter id handed out; only the writer, under its lock, moves it.</summary>
    internal long NextDeadLetterId { get; set; }

    /// <summary>The last audit id handed out; only the writer, under its lock, moves it.</summary>
    internal long NextAuditId { get; set; }

    internal DuckDBConnection Writer => _writer ?? throw new InvalidOperationException("the store is not initialized");

    /// <summary>The columns and tables of operations, added to stores created before them.</summary>
    /// <summary>
    /// What lives on the writer's connection only and is made at every start: the staging tables of attributes and of
    /// replays, and the macro that names the rule a dead letter broke (it follows the code, not the schema version).
    /// </summary>
    private void InitializeSession()
    {
        Exec("""
            CREATE OR REPLACE TEMP TABLE stage_avatar_attributes (avatar_key BIGINT, name VARCHAR, value VARCHAR, set_at TIMESTAMP, plant VARCHAR, source_id VARCHAR);
            CREATE OR REPLACE TEMP TABLE replay_failed (
                source_id VARCHAR, stream_id VARCHAR, position BIGINT, stage VARCHAR, reason VARCHAR, error_type VARCHAR,
                model VARCHAR, model_version INTEGER, topic VARCHAR, payload BLOB, payload_bytes BIGINT, received_at TIMESTAMP, plant VARCHAR,
                raw_index INTEGER);
            CREATE OR REPLACE TEMP TABLE replay_ok (stream_id VARCHAR, position BIGINT, raw_index INTEGER);
            CREATE OR REPLACE TEMP TABLE replay_links (from_key BIGINT, kind VARCHAR, to_key BIGINT, linked_at TIMESTAMP, source_id VARCHAR);
            """);
        Exec(Internal.DeadLetterRuleMacro.CreateMacro);
    }

    internal void AppendAudit(AuditRecord audit, DateTime now)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = "INSERT INTO audit_log VALUES ($1, $2, $3, $4, $5, $6, $7)";
        cmd.Parameters.Add(new DuckDBParameter(NextAuditId + 1));
        cmd.Parameters.Add(new DuckDBParameter(now));
        cmd.Parameters.Add(new DuckDBParameter(audit.Actor));
        cmd.Parameters.Add(new DuckDBParameter(audit.Action));
        cmd.Parameters.Add(new DuckDBParameter(audit.Target));
        cmd.Parameters.Add(new DuckDBParameter(audit.DetailJson));
        cmd.Parameters.Add(new DuckDBParameter(audit.Result));
        cmd.ExecuteNonQuery();
        NextAuditId++;
    }

    /// <summary>Runs <paramref name="write"/> in one transaction of the writer, under the write lock.</summary>
    internal async Task<T> WriteAsync<T>(Func<DateTime, T> write, CancellationToken cancellationToken)
    {
        await WriteLock.WaitAsync(cancellationToken);
        var auditId = NextAuditId;
        try
        {
            Exec("BEGIN TRANSACTION");
            try
            {
                var result = write(Now());
                Exec("COMMIT");
                return result;
            }
            catch
            {
                NextAuditId = auditId;
                try
                {
                    Exec("ROLLBACK");
                }
                catch (DuckDBException)
                {
                    // The transaction may already be aborted by the failure itself.
                }

                throw;
            }
        }
        finally
        {
            WriteLock.Release();
        }
    }

    /// <summary>
    /// A failed write as the operator should read it: a full filesystem says so, since it is fixed outside Usine;
    /// any other failure is left as the store raised it. Paths read DATA/... rather than where the data directory
    /// is: the reason reaches health, which anyone may ask, and callers kept to some plants.
    /// </summary>
    internal Exception WriteFault(Exception ex) =>
        IsDiskFull(ex)
            ? new UsineException($"the data directory's filesystem is full: {ex.Message.Replace(Path.GetFullPath(Options.DataDirectory).TrimEnd(Path.DirectorySeparatorChar), "DATA", StringComparison.Ordinal)} "
                + "(free space on the filesystem of the data directory; nothing of the batch was stored)", isTransient: true, ex)
            : ex;

    internal static bool IsDiskFull(Exception ex)
    {
        for (var e = (Exception?)ex; e is not null; e = e.InnerException)
        {
            // ENOSPC as DuckDB words it, or as .NET does for its own writes.
            if (e.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase) || (e is IOException && (e.HResult & 0xFFFF) == 28))
            {
                return true;
            }
        }

        return false;
    }

    internal void Rollback()
    {
        try
        {
            Exec("ROLLBACK");
        }
        catch (DuckDBException)
        {
            // The transaction may already be aborted by the failure itself.
        }
    }

    /// <summary>A new connection for reading; it sees what was committed when each query starts.</summary>
    /// <remarks>DuckDB.NET shares one database instance between the connections of a process to the same file.</remarks>
    public DuckDBConnection OpenReader()
    {
        var conn = new DuckDBConnection($"Data Source={Options.DatabasePath}");
        conn.Open();
        return conn;
    }

    /// <summary>Runs a fixed, trusted query (not user SQL) and maps each row.</summary>
    public List<T> Read<T>(string sql, Func<DuckDBDataReader, T> map, params object?[] args)
    {
        using var conn = OpenReader();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        foreach (var a in args)
        {
            cmd.Parameters.Add(new DuckDBParameter(a ?? DBNull.Value));
        }

        using var r = cmd.ExecuteReader();
        var list = new List<T>();
        while (r.Read())
        {
            list.Add(map(r));
        }

        return list;
    }

    public long Count(string sql, params object?[] args) => Read(sql, r => r.IsDBNull(0) ? 0 : Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), args).FirstOrDefault();


    internal async Task InitializeAsync(UsineDefinitions definitions, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Options.DataDirectory);
        Definitions = definitions;
        _writer = new DuckDBConnection($"Data Source={Options.DatabasePath}");
        await _writer.OpenAsync(cancellationToken);
        Exec($"SET memory_limit = {Sql.Literal(Options.MemoryLimit)}");
        Exec("SET preserve_insertion_order = false");

        // Checkpointing rewrites the database file; at DuckDB's default (every 16 MB of log) it ran inside
        // most batch commits and dominated them. A larger log is checkpointed less often (and on close).
        Exec($"SET checkpoint_threshold = {Sql.Literal(Options.CheckpointThreshold)}");
        if (Options.Threads is { } t)
        {
            Exec($"SET threads = {t}");
        }

        Migrations.Apply(this);
        foreach (var versions in definitions.Models.Values)
        {
            Tables[versions.Name] = EnsureModelTable(versions);
        }

        InitializeSession();
        NextDeadLetterId = Scalar<long>("SELECT coalesce(max(id), 0) FROM dead_letters");
        NextAuditId = Scalar<long>("SELECT coalesce(max(id), 0) FROM audit_log");
    }

    internal ModelTable EnsureModelTable(ModelVersions versions)
    {
        var name = versions.Name;
        var table = Sql.RecordTable(name);
        var columns = versions.UnionFields();
        var system = """
            record_id UUID NOT NULL, plant VARCHAR NOT NULL, avatar_key BIGINT, avatar_id VARCHAR, context_key BIGINT, event_time TIMESTAMP NOT NULL,
            model_version INTEGER NOT NULL, source_id VARCHAR NOT NULL, stream_id VARCHAR NOT NULL, raw_position BIGINT NOT NULL, stored_at TIMESTAMP NOT NULL,
            raw_index INTEGER NOT NULL DEFAULT 0
            """;
        var existing = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var cmd = Writer.CreateCommand())
        {
            cmd.CommandText = $"SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' AND table_name = {Sql.Literal(table)}";
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                existing[r.GetString(0)] = r.GetString(1);
            }
        }

        if (existing.Count == 0)
        {
            Exec($"CREATE TABLE {table} ({system}, {string.Join(", ", columns.Select(c => $"{Sql.Quote(c.Name)} {Sql.TypeOf(c.Type)}"))})");
        }
        else
        {
            // A newer model version adds columns; a changed type is refused at load time, but a store written by
            // another definition set could still disagree, and that must stop the start rather than corrupt data.
            foreach (var c in columns)
            {
                if (!existing.TryGetValue(c.Name, out var type))
                {
                    Exec($"ALTER TABLE {table} ADD COLUMN {Sql.Quote(c.Name)} {Sql.TypeOf(c.Type)}");
                }
                else if (!string.Equals(type, Sql.TypeOf(c.Type), StringComparison.OrdinalIgnoreCase))
                {
                    throw new UsineException($"table {table} has column '{c.Name}' of type {type}, but model {name} declares {Sql.TypeOf(c.Type)}; use a new field name");
                }
            }

            if (!existing.ContainsKey("context_key"))
            {
                AddContextKey(table, versions.Latest);
            }

            // Written before a payload could hold several messages: each record was the only message of its raw one.
            if (!existing.ContainsKey("raw_index"))
            {
                Exec($"ALTER TABLE {table} ADD COLUMN raw_index INTEGER DEFAULT 0");
                Exec($"ALTER TABLE {table} ALTER COLUMN raw_index SET NOT NULL");
            }
        }

        // The staging table leaves out the columns that are the same for a whole batch (model version, source,
        // stream, storage time): they are filled in by the INSERT, which saves appending them row by row.
        var fieldList = string.Join(", ", columns.Select(c => Sql.Quote(c.Name)));
        Exec($"CREATE OR REPLACE TABLE {Sql.StageTable(name)} AS SELECT record_id, plant, avatar_key, avatar_id, context_key, event_time, raw_position, raw_index, {fieldList} FROM {table} LIMIT 0");

        var map = new Dictionary<int, int[]>();
        foreach (var v in versions.All)
        {
            map[v.Version] = [.. columns.Select(c => v.IndexOf(c.Name))];
        }

        var latest = versions.Latest;
        var timeInKey = latest.Key.Contains(latest.TimeField, StringComparer.Ordinal);
        var stage = Sql.StageTable(name);

        // Drops staged records that are stored already. When the event time is part of the key, the
        // probe only reads the row groups whose time range overlaps the batch ({0} and {1} are filled in).
        var dedup = timeInKey
            ? $"DELETE FROM {stage} s WHERE EXISTS (SELECT 1 FROM {table} m WHERE m.event_time BETWEEN {{0}} AND {{1}} AND m.record_id = s.record_id)"
            : $"DELETE FROM {stage} s WHERE EXISTS (SELECT 1 FROM {table} m WHERE m.record_id = s.record_id)";

        var rollups = new List<string>();
        var rollupDefs = new List<(RollupDefinition, string, string)>();
        foreach (var r in latest.Rollups)
        {
            var sql = EnsureRollup(name, stage, r);
            rollups.Add(string.Format(CultureInfo.InvariantCulture, sql, stage));
            rollupDefs.Add((r, Sql.RollupTable(name, r), sql));
        }

        return new ModelTable
        {
            Name = name,
            Columns = columns,
            ColumnToField = map,
            Latest = latest,
            DedupSql = dedup,
            InsertSql = $"INSERT INTO {table} (record_id, plant, avatar_key, avatar_id, context_key, event_time, model_version, source_id, stream_id, raw_position, raw_index, stored_at, {fieldList}) "
                + $"SELECT record_id, plant, avatar_key, avatar_id, context_key, event_time, $1, $2, $3, raw_position, raw_index, $4, {fieldList} FROM {stage}",
            RollupSql = rollups,
            Rollups = rollupDefs,
        };
    }

    internal string EnsureRollup(string model, string stage, RollupDefinition r)
    {
        var table = Sql.RollupTable(model, r);
        var by = r.By.Where(b => b != "plant").ToList();
        var cols = new List<string> { "bucket TIMESTAMP NOT NULL", "plant VARCHAR NOT NULL" };
        cols.AddRange(by.Select(b => $"{Sql.Quote(b)} VARCHAR NOT NULL"));
        cols.Add("n BIGINT NOT NULL");
        var select = new List<string>
        {
            $"time_bucket(INTERVAL {(long)r.Bucket.TotalSeconds} SECOND, s.event_time)",
            "s.plant",
        };

        // A level of the hierarchy comes from the record's context, through avatar_levels; '' when it has none.
        select.AddRange(by.Select(b => b.StartsWith('@') ? $"coalesce(l.{b[1..]}, '')" : $"coalesce(CAST(s.{Sql.Quote(b)} AS VARCHAR), '')"));
        select.Add("count(*)");
        var updates = new List<string> { "n = n + EXCLUDED.n" };
        var targets = new List<string> { "bucket", "plant" };
        targets.AddRange(by.Select(Sql.Quote));
        targets.Add("n");
        var avg = new List<string>();
        foreach (var (field, measures) in r.Measures)
        {
            var f = Sql.Quote(field);
            var needCount = measures.Contains(Measure.Count) || measures.Contains(Measure.Avg);
            var needSum = measures.Contains(Measure.Sum) || measures.Contains(Measure.Avg);
            if (needCount)
            {
                var c = Sql.Quote(field + "_count");
                cols.Add($"{c} BIGINT NOT NULL");
                select.Add($"count(s.{f})");
                targets.Add(c);
                updates.Add($"{c} = {c} + EXCLUDED.{c}");
            }

            if (needSum)
            {
                var c = Sql.Quote(field + "_sum");
                cols.Add($"{c} DOUBLE NOT NULL");
                select.Add($"coalesce(sum(s.{f}), 0)");
                targets.Add(c);
                updates.Add($"{c} = {c} + EXCLUDED.{c}");
            }

            if (measures.Contains(Measure.Avg))
            {
                avg.Add($"{Sql.Quote(field + "_sum")} / nullif({Sql.Quote(field + "_count")}, 0) AS {Sql.Quote(field + "_avg")}");
            }

            if (measures.Contains(Measure.Min))
            {
                var c = Sql.Quote(field + "_min");
                cols.Add($"{c} DOUBLE");
                select.Add($"min(s.{f})");
                targets.Add(c);
                updates.Add($"{c} = least({c}, EXCLUDED.{c})");
            }

            if (measures.Contains(Measure.Max))
            {
                var c = Sql.Quote(field + "_max");
                cols.Add($"{c} DOUBLE");
                select.Add($"max(s.{f})");
                targets.Add(c);
                updates.Add($"{c} = greatest({c}, EXCLUDED.{c})");
            }
        }

        var key = string.Join(", ", new[] { "bucket", "plant" }.Concat(by.Select(Sql.Quote)));
        Exec($"CREATE TABLE IF NOT EXISTS {table} ({string.Join(", ", cols)}, PRIMARY KEY ({key}))");
        Exec($"CREATE OR REPLACE VIEW {Sql.RollupView(model, r)} AS SELECT *{(avg.Count > 0 ? ", " + string.Join(", ", avg) : "")} FROM {table}");
        var levels = by.Any(b => b.StartsWith('@')) ? " LEFT JOIN avatar_levels l ON l.context_key = s.context_key" : "";

        // {0} is where the records come from: the staging table of a batch, or the record table for a rebuild.
        return $"INSERT INTO {table} ({string.Join(", ", targets)}) SELECT {string.Join(", ", select)} FROM {{0}} s{levels} GROUP BY ALL "
            + $"ON CONFLICT ({key}) DO UPDATE SET {string.Join(", ", updates)}";
    }

    /// <summary>
    /// Adds <c>context_key</c> to a record table written before records kept it, and fills it in as well as the
    /// referential allows: where a linked avatar (a vehicle) was at the record's time, the parent of a
    /// parented one (a machine's station), else the plant.
    /// </summary>
    internal void AddContextKey(string table, DataModel latest)
    {
        Exec($"ALTER TABLE {table} ADD COLUMN context_key BIGINT");
        if (latest.Avatar?.Attach == AvatarAttach.Link)
        {
            Exec($"""
                UPDATE {table} SET context_key = x.to_key FROM (
                    SELECT r.record_id, l.to_key FROM {table} r
                    ASOF JOIN avatar_link_events l ON l.from_key = r.avatar_key AND l.kind = 'at' AND r.event_time >= l.linked_at) x
                WHERE {table}.record_id = x.record_id
                """);
        }
        else if (latest.Avatar?.Attach == AvatarAttach.Parent)
        {
            Exec($"UPDATE {table} SET context_key = a.parent_key FROM avatars a WHERE a.avatar_key = {table}.avatar_key AND a.parent_key <> 0");
        }

        Exec($"UPDATE {table} SET context_key = p.avatar_key FROM avatars p WHERE p.type = 'plant' AND p.id = {table}.plant AND {table}.context_key IS NULL");
    }

    internal DateTime Now() => Options.Time.GetUtcNow().UtcDateTime;

    internal void Exec(string sql)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs a statement on the writer with parameters, and says how many rows it changed.</summary>
    internal int ExecWith(string sql, params object[] parameters)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = sql;
        foreach (var p in parameters)
        {
            cmd.Parameters.Add(new DuckDBParameter(p));
        }

        return cmd.ExecuteNonQuery();
    }

    /// <summary>Runs one statement with parameters on the writer, under the write lock, outside any batch.</summary>
    internal async Task ExecLockedAsync(string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        await WriteLock.WaitAsync(cancellationToken);
        try
        {
            ExecWith(sql, parameters);
        }
        finally
        {
            WriteLock.Release();
        }
    }

    internal int ExecCount(string sql)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteNonQuery();
    }

    internal T Scalar<T>(string sql)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = sql;
        return (T)System.Convert.ChangeType(cmd.ExecuteScalar()!, typeof(T), CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        // An archive run still writing (its request gone with the shutdown) finishes and records its files first.
        await ArchiveLock.WaitAsync();
        await WriteLock.WaitAsync();
        try
        {
            if (_writer is not null)
            {
                try
                {
                    Exec("CHECKPOINT");
                }
                catch (DuckDBException)
                {
                    // Closing still flushes what the write-ahead log holds.
                }

                await _writer.DisposeAsync();
                _writer = null;
            }
        }
        finally
        {
            WriteLock.Release();
            ArchiveLock.Release();
        }
    }
}
