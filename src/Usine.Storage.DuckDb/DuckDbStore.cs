using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using DuckDB.NET.Data;
using Usine.Avatars;
using Usine.Configuration;
using Usine.Ingestion;
using Usine.Models;
using Usine.Pipeline;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>
/// The embedded store: raw zone, record tables, referential, rollups, dead letters and checkpoints in one
/// DuckDB database. One connection writes, under a lock, one transaction per batch; readers use their
/// own connections and see committed data only.
/// </summary>
public sealed partial class DuckDbStore : IRecordStore
{
    private readonly DuckDbStoreOptions _options;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ModelTable> _tables = new(StringComparer.Ordinal);
    private DuckDBConnection? _writer;
    private UsineDefinitions? _definitions;
    private long _nextDeadLetterId;

    public DuckDbStore(DuckDbStoreOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DataDirectory);
        _options = options;
    }

    public DuckDbStoreOptions Options => _options;

    private DuckDBConnection Writer => _writer ?? throw new InvalidOperationException("the store is not initialized");

    /// <summary>A record table: the union of the columns of every version, and per version where its fields go.</summary>
    private sealed class ModelTable
    {
        public required string Name { get; init; }
        public required IReadOnlyList<FieldDefinition> Columns { get; init; }
        public required Dictionary<int, int[]> ColumnToField { get; init; }
        public required DataModel Latest { get; init; }
        public required string DedupSql { get; init; }
        public required string InsertSql { get; init; }
        public required List<string> RollupSql { get; init; }

        /// <summary>Each rollup with its table and the statement that adds records to it, where they come from as <c>{0}</c>.</summary>
        public required List<(RollupDefinition Definition, string Table, string Sql)> Rollups { get; init; }
    }

    public async Task InitializeAsync(UsineDefinitions definitions, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_options.DataDirectory);
        _definitions = definitions;
        _writer = new DuckDBConnection($"Data Source={_options.DatabasePath}");
        await _writer.OpenAsync(cancellationToken);
        Exec($"SET memory_limit = {Sql.Literal(_options.MemoryLimit)}");
        Exec("SET preserve_insertion_order = false");

        // Checkpointing rewrites the database file; at DuckDB's default (every 16 MB of log) it ran inside
        // most batch commits and dominated them. A larger log is checkpointed less often (and on close).
        Exec($"SET checkpoint_threshold = {Sql.Literal(_options.CheckpointThreshold)}");
        if (_options.Threads is { } t)
        {
            Exec($"SET threads = {t}");
        }

        Exec("""
            CREATE TABLE IF NOT EXISTS raw_messages (
                source_id VARCHAR NOT NULL, stream_id VARCHAR NOT NULL, position BIGINT NOT NULL,
                received_at TIMESTAMP NOT NULL, topic VARCHAR, payload BLOB);
            CREATE TABLE IF NOT EXISTS checkpoints (
                stream_id VARCHAR PRIMARY KEY, source_id VARCHAR NOT NULL, position BIGINT NOT NULL, updated_at TIMESTAMP NOT NULL);
            CREATE TABLE IF NOT EXISTS streams (
                stream_id VARCHAR PRIMARY KEY, source_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, name VARCHAR,
                csv_header VARCHAR, created_at TIMESTAMP NOT NULL);
            CREATE TABLE IF NOT EXISTS dead_letters (
                id BIGINT NOT NULL, source_id VARCHAR NOT NULL, stream_id VARCHAR NOT NULL, position BIGINT NOT NULL,
                stage VARCHAR NOT NULL, reason VARCHAR NOT NULL, error_type VARCHAR, model VARCHAR, model_version INTEGER,
                topic VARCHAR, payload BLOB, payload_bytes BIGINT, status VARCHAR NOT NULL, attempts INTEGER NOT NULL,
                received_at TIMESTAMP NOT NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
            CREATE TABLE IF NOT EXISTS avatars (
                avatar_key BIGINT NOT NULL, type VARCHAR NOT NULL, id VARCHAR NOT NULL, plant VARCHAR NOT NULL,
                parent_key BIGINT NOT NULL, first_seen TIMESTAMP NOT NULL);
            CREATE TABLE IF NOT EXISTS avatar_link_events (
                from_key BIGINT NOT NULL, kind VARCHAR NOT NULL, to_key BIGINT NOT NULL, linked_at TIMESTAMP NOT NULL, source_id VARCHAR NOT NULL);
            CREATE TABLE IF NOT EXISTS avatar_attributes (
                avatar_key BIGINT NOT NULL, name VARCHAR NOT NULL, value VARCHAR NOT NULL, set_at TIMESTAMP NOT NULL, plant VARCHAR NOT NULL,
                source_id VARCHAR NOT NULL, PRIMARY KEY (avatar_key, name));
            CREATE OR REPLACE TEMP TABLE stage_avatar_attributes (avatar_key BIGINT, name VARCHAR, value VARCHAR, set_at TIMESTAMP, plant VARCHAR, source_id VARCHAR);
            CREATE OR REPLACE VIEW avatar_links AS
                SELECT from_key, kind, to_key, linked_at AS valid_from,
                       lead(linked_at) OVER (PARTITION BY from_key, kind ORDER BY linked_at) AS valid_to, source_id
                FROM avatar_link_events;
            """);

        // Every avatar page and history starts from an id. Without an index that is a scan of the whole table: VINs
        // share their first characters, so the per-row-group statistics of a string column prune nothing (64 ms at
        // 4 million avatars, 0.8 ms with the index). The index is kept in the database file and loaded as it is
        // used; an existing store builds it once at start-up (3 s for 4 million avatars).
        Exec("CREATE INDEX IF NOT EXISTS avatars_id ON avatars (id)");

        // The shop, line and station of every context avatar (a row per shop, line and station), which aggregates and
        // rollups by level join records to. Commits keep it (AddLevels); a store written before it existed gets it
        // filled once, here.
        if (Scalar<long>("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'avatar_levels'") == 0)
        {
            Exec("CREATE TABLE avatar_levels (context_key BIGINT NOT NULL, plant VARCHAR NOT NULL, shop VARCHAR, line VARCHAR, station VARCHAR)");
            Exec(LevelsFromAvatars);
        }

        InitializeReconciliation();
        foreach (var versions in definitions.Models.Values)
        {
            _tables[versions.Name] = EnsureModelTable(versions);
        }

        InitializeOperations();
        InitializeLineage();
        _nextDeadLetterId = Scalar<long>("SELECT coalesce(max(id), 0) FROM dead_letters");
        InitializeArchive();
    }

    /// <summary>
    /// Makes the tables of a model added or given a new version while the platform runs: the record table
    /// (new fields become columns), its staging table and rollups. Batches commit before or after, never during.
    /// </summary>
    public async Task AddModelAsync(ModelVersions versions, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            _tables[versions.Name] = EnsureModelTable(versions);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private ModelTable EnsureModelTable(ModelVersions versions)
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

            AddRawIndex(table, existing);
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

    /// <summary>
    /// Adds the levels of new shops, lines and stations from their parent's row, top level first so that a line
    /// and its stations may arrive in the same batch; nothing is read from <c>avatars</c>, which holds millions.
    /// </summary>
    private void AddLevels(IReadOnlyList<Avatar> created)
    {
        // Most batches create vehicles and parts only.
        if (!created.Any(a => a.Type is AvatarTypes.Shop or AvatarTypes.Line or AvatarTypes.Station))
        {
            return;
        }

        foreach (var type in new[] { AvatarTypes.Shop, AvatarTypes.Line, AvatarTypes.Station })
        {
            var level = created.Where(a => a.Type == type).ToList();
            if (level.Count == 0)
            {
                continue;
            }

            var values = string.Join(", ", level.Select(a => string.Create(CultureInfo.InvariantCulture,
                $"({a.Key}, {Sql.Literal(a.Id)}, {Sql.Literal(a.Plant)}, {a.ParentKey})")));
            Exec($"""
                INSERT INTO avatar_levels
                SELECT a.k, a.plant,
                    {(type == AvatarTypes.Shop ? "a.id" : "p.shop")},
                    {(type == AvatarTypes.Line ? "a.id" : type == AvatarTypes.Station ? "p.line" : "NULL")},
                    {(type == AvatarTypes.Station ? "a.id" : "NULL")}
                FROM (VALUES {values}) a(k, id, plant, parent) LEFT JOIN avatar_levels p ON p.context_key = a.parent
                """);
        }
    }

    /// <summary>The levels of every shop, line and station of the avatars table, for a store written before avatar_levels existed.</summary>
    private const string LevelsFromAvatars = """
        INSERT INTO avatar_levels
        SELECT a.avatar_key, a.plant,
            CASE 'shop' WHEN a.type THEN a.id WHEN p1.type THEN p1.id WHEN p2.type THEN p2.id END,
            CASE 'line' WHEN a.type THEN a.id WHEN p1.type THEN p1.id END,
            CASE 'station' WHEN a.type THEN a.id END
        FROM avatars a LEFT JOIN avatars p1 ON p1.avatar_key = a.parent_key LEFT JOIN avatars p2 ON p2.avatar_key = p1.parent_key
        WHERE a.type IN ('shop', 'line', 'station')
        """;

    private string EnsureRollup(string model, string stage, RollupDefinition r)
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

    public async Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            using var cmd = Writer.CreateCommand();
            cmd.CommandText = "SELECT position FROM checkpoints WHERE stream_id = $1";
            cmd.Parameters.Add(new DuckDBParameter(streamId));
            var v = cmd.ExecuteScalar();
            return v is null or DBNull ? null : System.Convert.ToInt64(v, CultureInfo.InvariantCulture);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task LoadReferentialAsync(AvatarRegistry.Loader into, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            // Streamed row by row into the registry's compact tables: at 4 million avatars, a list of avatar
            // objects first would cost more memory than the registry itself.
            using (var cmd = Writer.CreateCommand())
            {
                cmd.UseStreamingMode = true;
                cmd.CommandText = "SELECT avatar_key, type, id FROM avatars";
                using var r = cmd.ExecuteReader();
                var types = new Dictionary<string, string>(StringComparer.Ordinal);
                while (r.Read())
                {
                    var type = r.GetString(1);
                    into.Avatar(r.GetInt64(0), types.TryGetValue(type, out var known) ? known : types[type] = type, r.GetString(2));
                }
            }

            using (var cmd = Writer.CreateCommand())
            {
                cmd.UseStreamingMode = true;
                cmd.CommandText = "SELECT from_key, kind, arg_max(to_key, linked_at), max(linked_at) FROM avatar_link_events GROUP BY from_key, kind";
                using var r = cmd.ExecuteReader();
                var kinds = new Dictionary<string, string>(StringComparer.Ordinal);
                while (r.Read())
                {
                    var kind = r.GetString(1);
                    into.LastLink(r.GetInt64(0), kinds.TryGetValue(kind, out var known) ? known : kinds[kind] = kind, r.GetInt64(2), DateTime.SpecifyKind(r.GetDateTime(3), DateTimeKind.Utc));
                }
            }

            using (var cmd = Writer.CreateCommand())
            {
                cmd.UseStreamingMode = true;
                cmd.CommandText = "SELECT avatar_key, name, value, set_at FROM avatar_attributes";
                using var r = cmd.ExecuteReader();
                while (r.Read())
                {
                    into.Attribute(r.GetInt64(0), string.Intern(r.GetString(1)), r.GetString(2), DateTime.SpecifyKind(r.GetDateTime(3), DateTimeKind.Utc));
                }
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Records where an import stream comes from, so that its raw lines can be read again (CSV needs its header).</summary>
    public async Task RegisterStreamAsync(string streamId, string sourceId, string kind, string? name, IReadOnlyList<string>? csvHeader, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            using var cmd = Writer.CreateCommand();
            cmd.CommandText = "INSERT INTO streams (stream_id, source_id, kind, name, csv_header, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (stream_id) DO NOTHING";
            cmd.Parameters.Add(new DuckDBParameter(streamId));
            cmd.Parameters.Add(new DuckDBParameter(sourceId));
            cmd.Parameters.Add(new DuckDBParameter(kind));
            cmd.Parameters.Add(new DuckDBParameter((object?)name ?? DBNull.Value));
            cmd.Parameters.Add(new DuckDBParameter(csvHeader is null ? DBNull.Value : string.Join('\u001f', csvHeader)));
            cmd.Parameters.Add(new DuckDBParameter(Now()));
            cmd.ExecuteNonQuery();
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async Task<CommitResult> CommitAsync(CommitBatch batch, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            return Commit(batch);
        }
        catch (Exception ex) when (IsDiskFull(ex))
        {
            throw WriteFault(ex);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Cumulative time spent in each phase of commits, for benchmarks and metrics.</summary>
    public CommitTimings Timings { get; } = new();

    private CommitResult Commit(CommitBatch batch)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var output = batch.Output;
        var now = Now();
        var live = batch.Mode == IngestMode.Live;
        var firstDeadLetterId = _nextDeadLetterId + 1;
        var newDeadLetters = output.DeadLetters.Count;
        ReplayCounts? replay = null;
        Exec("BEGIN TRANSACTION");
        try
        {
            // Messages processed again are in the raw zone already.
            if (_options.KeepRaw && live)
            {
                using var raw = Writer.CreateAppender("raw_messages");
                foreach (var m in batch.Raw)
                {
                    raw.CreateRow()
                        .AppendValue(batch.Source.Id)
                        .AppendValue(batch.StreamId)
                        .AppendValue(m.Position)
                        .AppendValue(m.ReceivedAt)
                        .AppendValue(m.Topic)
                        .AppendValue(MemoryMarshal.AsMemory(m.Payload).Span)
                        .EndRow();
                }
            }

            Timings.Add("raw", clock);
            if (!live)
            {
                replay = UpsertDeadLetters(batch, firstDeadLetterId, now);
                newDeadLetters = replay.New;
            }
            else if (output.DeadLetters.Count > 0)
            {
                var id = firstDeadLetterId;
                using var dl = Writer.CreateAppender("dead_letters");
                foreach (var d in output.DeadLetters)
                {
                    dl.CreateRow()
                        .AppendValue(id++)
                        .AppendValue(d.SourceId)
                        .AppendValue(d.StreamId)
                        .AppendValue(d.Position)
                        .AppendValue(d.Stage.ToString().ToLowerInvariant())
                        .AppendValue(d.Reason)
                        .AppendValue(d.ErrorType)
                        .AppendValue(d.Model)
                        .AppendValue(d.ModelVersion)
                        .AppendValue(d.Topic)
                        .AppendValue(MemoryMarshal.AsMemory(d.Payload).Span)
                        .AppendValue(d.PayloadBytes)
                        .AppendValue("open")
                        .AppendValue((int?)1) // a bare constant 1 binds to the byte overload and writes one byte into an INTEGER column
                        .AppendValue(d.ReceivedAt)
                        .AppendValue(now)
                        .AppendValue(now)
                        .AppendNullValue() // original_payload, edited_at, discard_reason: set by later operations
                        .AppendNullValue()
                        .AppendNullValue()
                        .AppendValue(d.Plant)
                        .AppendValue(d.Index)
                        .EndRow();
                }
            }

            if (output.NewAvatars.Count > 0)
            {
                using var av = Writer.CreateAppender("avatars");
                foreach (var a in output.NewAvatars)
                {
                    av.CreateRow().AppendValue(a.Key).AppendValue(a.Type).AppendValue(a.Id).AppendValue(a.Plant).AppendValue(a.ParentKey).AppendValue(a.FirstSeen).EndRow();
                }
            }

            AddLevels(output.NewAvatars);

            if (output.Links.Count > 0 && !live)
            {
                InsertNewLinks(output.Links);
            }
            else if (output.Links.Count > 0)
            {
                using var ln = Writer.CreateAppender("avatar_link_events");
                foreach (var l in output.Links)
                {
                    ln.CreateRow().AppendValue(l.FromKey).AppendValue(l.Kind).AppendValue(l.ToKey).AppendValue(l.At).AppendValue(l.SourceId).EndRow();
                }
            }

            if (output.Attributes.Count > 0)
            {
                UpsertAttributes(output.Attributes);
            }

            Timings.Add("referential", clock);
            var stored = 0;
            var duplicates = 0;
            if (output.Records.Count > 0)
            {
                // A source almost always writes one model: the records go as they are, grouped only otherwise.
                var model = output.Records[0].Model.Name;
                var groups = output.Records.TrueForAll(r => ReferenceEquals(r.Model.Name, model) || r.Model.Name == model)
                    ? [(model, (IReadOnlyList<Record>)output.Records)]
                    : output.Records.GroupBy(r => r.Model.Name).Select(g => (g.Key, (IReadOnlyList<Record>)[.. g])).ToList();
                foreach (var (name, records) in groups)
                {
                    var (s, d) = StoreRecords(_tables[name], records, batch.StreamId, now);
                    stored += s;
                    duplicates += d;
                }
            }

            clock.Restart();
            if (live)
            {
                CountHour(batch.Source.Id, batch.StreamId, now, batch.Raw.Count, stored, 0, duplicates + output.DuplicatesInBatch, output.DeadLetters.Count, output.Decoded);
            }
            else if (stored > 0 || newDeadLetters > 0)
            {
                // A replay lands nothing: what it stores or rejects for the first time counts as replayed, so that
                // an hour still adds up (landed = stored - replayed + duplicates + rejected) and a replay that
                // changes nothing writes nothing.
                CountHour(batch.Source.Id, batch.StreamId, now, 0, stored, stored + newDeadLetters, 0, newDeadLetters, 0);
            }

            // Only new data moves a stream on: a replay of old positions must leave its checkpoint where it is.
            if (live)
            {
                // An update, and an insert for a new stream (see CountHour).
                if (ExecWith("UPDATE checkpoints SET position = greatest(position, $2), updated_at = $3 WHERE stream_id = $1", batch.StreamId, batch.Checkpoint, now) == 0)
                {
                    ExecWith("INSERT INTO checkpoints VALUES ($1, $2, $3, $4)", batch.StreamId, batch.Source.Id, batch.Checkpoint, now);
                }
            }

            Timings.Add("checkpoint", clock);
            Exec("COMMIT");
            Timings.Add("commit", clock);
            _nextDeadLetterId += newDeadLetters;
            return new CommitResult(live ? batch.Raw.Count : 0, stored, duplicates, output.DeadLetters.Count) { Replay = replay };
        }
        catch
        {
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

    private (int Stored, int Duplicates) StoreRecords(ModelTable table, IReadOnlyList<Record> records, string streamId, DateTime now)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var stage = Sql.StageTable(table.Name);
        var staged = 0;
        var min = DateTime.MaxValue;
        var max = DateTime.MinValue;
        using (var app = Writer.CreateAppender(stage))
        {
            foreach (var rec in records)
            {
                var row = app.CreateRow()
                    .AppendValue(rec.RecordId)
                    .AppendValue(rec.Plant)
                    .AppendValue(rec.AvatarKey == 0 ? null : rec.AvatarKey)
                    .AppendValue(rec.AvatarId)
                    .AppendValue(rec.ContextKey == 0 ? null : rec.ContextKey)
                    .AppendValue(rec.EventTime)
                    .AppendValue(rec.Position)
                    .AppendValue((int?)rec.Index);
                var map = table.ColumnToField[rec.Model.Version];
                for (var c = 0; c < map.Length; c++)
                {
                    var fi = map[c];
                    if (fi < 0)
                    {
                        row.AppendNullValue();
                        continue;
                    }

                    var v = rec.Values[fi];
                    _ = v.Kind switch
                    {
                        ValueKind.Null => row.AppendNullValue(),
                        ValueKind.String => row.AppendValue(v.String),
                        ValueKind.Int => row.AppendValue(v.Int),
                        ValueKind.Double => row.AppendValue(v.Double),
                        ValueKind.Bool => row.AppendValue(v.Bool),
                        _ => row.AppendValue(v.Timestamp),
                    };
                }

                row.EndRow();
                staged++;
                if (rec.EventTime < min)
                {
                    min = rec.EventTime;
                }

                if (rec.EventTime > max)
                {
                    max = rec.EventTime;
                }
            }
        }

        Timings.Add("stage", clock);
        // The time range goes in as literals, which DuckDB turns into the row-group filter of the scan.
        var dropped = ExecCount(string.Format(CultureInfo.InvariantCulture, table.DedupSql, Sql.Timestamp(min), Sql.Timestamp(max)));
        Timings.Add("dedup", clock);
        var first = records[0];
        var inserted = ExecWith(table.InsertSql, first.Model.Version, first.SourceId, streamId, now);
        Timings.Add("insert", clock);
        foreach (var rollup in table.RollupSql)
        {
            ExecWith(rollup);
        }

        Timings.Add("rollups", clock);
        ExecWith($"DELETE FROM {stage}");
        return (inserted, dropped);
    }

    /// <summary>
    /// Adds <c>context_key</c> to a record table written before records kept it, and fills it in as well as the
    /// referential allows: where a linked avatar (a vehicle) was at the record's time, the parent of a
    /// parented one (a machine's station), else the plant.
    /// </summary>
    private void AddContextKey(string table, DataModel latest)
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

    /// <summary>
    /// Writes attribute changes: per avatar and name, the change of the batch that wins, then only where it
    /// replaces the stored value by the rule of <see cref="AvatarAttributeChange.Replaces"/>.
    /// </summary>
    private void UpsertAttributes(IReadOnlyList<AvatarAttributeChange> changes)
    {
        var winners = new Dictionary<(long, string), AvatarAttributeChange>();
        foreach (var c in changes)
        {
            var k = (c.AvatarKey, c.Name);
            if (!winners.TryGetValue(k, out var w) || AvatarAttributeChange.Replaces(c.Value, c.At, w.Value, w.At))
            {
                winners[k] = c;
            }
        }

        using (var app = Writer.CreateAppender("stage_avatar_attributes"))
        {
            foreach (var c in winners.Values)
            {
                app.CreateRow().AppendValue(c.AvatarKey).AppendValue(c.Name).AppendValue(c.Value).AppendValue(c.At).AppendValue(c.Plant).AppendValue(c.SourceId).EndRow();
            }
        }

        Exec("""
            INSERT INTO avatar_attributes SELECT avatar_key, name, value, set_at, plant, source_id FROM stage_avatar_attributes
            ON CONFLICT (avatar_key, name) DO UPDATE SET value = EXCLUDED.value, set_at = EXCLUDED.set_at, plant = EXCLUDED.plant, source_id = EXCLUDED.source_id
            WHERE EXCLUDED.value <> avatar_attributes.value
              AND (EXCLUDED.set_at > avatar_attributes.set_at OR (EXCLUDED.set_at = avatar_attributes.set_at AND EXCLUDED.value > avatar_attributes.value))
            """);
        Exec("DELETE FROM stage_avatar_attributes");
    }

    private DateTime Now() => _options.Time.GetUtcNow().UtcDateTime;

    internal void Exec(string sql)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>Runs a statement on the writer with parameters, and says how many rows it changed.</summary>
    private int ExecWith(string sql, params object[] parameters)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = sql;
        foreach (var p in parameters)
        {
            cmd.Parameters.Add(new DuckDBParameter(p));
        }

        return cmd.ExecuteNonQuery();
    }

    private int ExecCount(string sql)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteNonQuery();
    }

    private T Scalar<T>(string sql)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = sql;
        return (T)System.Convert.ChangeType(cmd.ExecuteScalar()!, typeof(T), CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        // An archive run still writing (its request gone with the shutdown) finishes and records its files first.
        await _archiveLock.WaitAsync();
        await _writeLock.WaitAsync();
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
            _writeLock.Release();
            _archiveLock.Release();
        }
    }
}

/// <summary>Cumulative seconds per commit phase (raw, referential, stage, dedup, insert, rollups, checkpoint, commit).</summary>
public sealed class CommitTimings
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, double> _seconds = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, double> Seconds => _seconds;

    internal void Add(string phase, System.Diagnostics.Stopwatch clock)
    {
        _seconds.AddOrUpdate(phase, clock.Elapsed.TotalSeconds, (_, v) => v + clock.Elapsed.TotalSeconds);
        clock.Restart();
    }
}
