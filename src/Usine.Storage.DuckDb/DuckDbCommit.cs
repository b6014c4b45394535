using System.Globalization;
using System.Runtime.InteropServices;
using DuckDB.NET.Data;
using Usine.Avatars;
using Usine.Configuration;
using Usine.Ingestion;
using Usine.Pipeline;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>
/// The commit path: one transaction per batch on the writer connection, under the write lock, with raw messages,
/// records, rollups, dead letters, avatars, links and the checkpoint.
/// </summary>
internal sealed class DuckDbCommit(DuckDbDatabase db, DuckDbArchive archive) : DuckDbFacet(db), IRecordStore
{
    /// <summary>Opens the database, brings its schema to the latest version, makes the models' tables, and finishes what an archive run left.</summary>
    public async Task InitializeAsync(UsineDefinitions definitions, CancellationToken cancellationToken)
    {
        await Db.InitializeAsync(definitions, cancellationToken);
        archive.RecoverArchiveTemporaries();
    }

    /// <summary>Closes the database the facets share.</summary>
    public ValueTask DisposeAsync() => Db.DisposeAsync();

    /// <summary>
    /// The dead-letter side of a commit not of <see cref="IngestMode.Live"/>, inside its transaction: failures are
    /// upserted by (stream, position, index) and the open letters of messages that now succeeded are marked replayed.
    /// A letter of a payload that could not be decoded has no index and matches the payload's first message.
    /// </summary>
    private ReplayCounts UpsertDeadLetters(CommitBatch batch, long firstId, DateTime now)
    {
        Exec("DELETE FROM replay_failed; DELETE FROM replay_ok");
        var failed = new HashSet<(long, int)>();
        using (var app = Writer.CreateAppender("replay_failed"))
        {
            foreach (var d in batch.Output.DeadLetters)
            {
                if (!failed.Add((d.Position, d.Index ?? 0)))
                {
                    continue;
                }

                AppendFailure(app.CreateRow(), d)
                    .AppendValue(d.ReceivedAt)
                    .AppendValue(d.Plant)
                    .AppendValue(d.Index)
                    .EndRow();
            }
        }

        // Every message processed, all of a payload's or the one a retry names; those of them that failed again are
        // in replay_failed and stay open.
        var processed = new HashSet<(long, int?)>();
        using (var app = Writer.CreateAppender("replay_ok"))
        {
            foreach (var m in batch.Raw)
            {
                if (processed.Add((m.Position, m.OnlyIndex)))
                {
                    app.CreateRow().AppendValue(batch.StreamId).AppendValue(m.Position).AppendValue(m.OnlyIndex).EndRow();
                }
            }
        }

        const string sameMessage = "coalesce(d.raw_index, 0) = coalesce(s.raw_index, 0)";

        // A range replay that meets the same failure again leaves the letter alone, so replaying twice changes
        // nothing; a deliberate retry is an attempt, and counts as one even when it fails the same way.
        var retry = batch.Mode == IngestMode.Retry;
        var same = retry ? "FALSE" : "(d.stage = s.stage AND d.reason = s.reason)";

        // A batch is one stream and a range of positions: saying so lets DuckDB skip the row groups of the
        // dead-letter table that cannot hold them, instead of joining the whole table four times.
        var lo = batch.Raw.Count == 0 ? 0 : batch.Raw.Min(m => m.Position);
        var hi = batch.Raw.Count == 0 ? 0 : batch.Raw.Max(m => m.Position);
        var near = $"d.stream_id = {Internal.Sql.Literal(batch.StreamId)} AND d.position BETWEEN {lo} AND {hi}";
        var unchanged = Scalar<long>($"""
            SELECT count(*) FROM replay_failed s
            WHERE EXISTS (SELECT 1 FROM dead_letters d WHERE {near} AND d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage})
              AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE {near} AND d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage} AND d.status = 'open' AND NOT {same})
            """);
        var updated = ExecCount($"""
            UPDATE dead_letters d SET stage = s.stage, reason = s.reason, error_type = s.error_type, model = s.model,
                   model_version = s.model_version, plant = coalesce(s.plant, d.plant), raw_index = s.raw_index, attempts = d.attempts + 1,
                   updated_at = {Internal.Sql.Timestamp(now)}
            FROM replay_failed s
            WHERE {near} AND d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage} AND d.status = 'open' AND NOT {same}
            """);
        var inserted = ExecCount($"""
            INSERT INTO dead_letters
            SELECT {firstId - 1} + row_number() OVER (ORDER BY s.position, s.raw_index), s.source_id, s.stream_id, s.position, s.stage, s.reason, s.error_type,
                   s.model, s.model_version, s.topic, s.payload, s.payload_bytes, 'open', 1, s.received_at,
                   {Internal.Sql.Timestamp(now)}, {Internal.Sql.Timestamp(now)}, NULL, NULL, NULL, s.plant, s.raw_index
            FROM replay_failed s
            WHERE NOT EXISTS (SELECT 1 FROM dead_letters d WHERE {near} AND d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage})
            """);
        var replayed = ExecCount($"""
            UPDATE dead_letters d SET status = 'replayed', updated_at = {Internal.Sql.Timestamp(now)}
            FROM replay_ok o WHERE {near} AND d.stream_id = o.stream_id AND d.position = o.position AND d.status = 'open'
              AND (o.raw_index IS NULL OR coalesce(d.raw_index, 0) = o.raw_index)
              AND NOT EXISTS (SELECT 1 FROM replay_failed s WHERE d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage})
            """);
        return new ReplayCounts(inserted, (int)unchanged, updated, replayed);
    }

    /// <summary>
    /// The columns of a dead letter from its source to its payload size, in the order both the dead-letter table and
    /// the replay's staging table have them.
    /// </summary>
    private static IDuckDBAppenderRow AppendFailure(IDuckDBAppenderRow row, DeadLetter d) => row
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
        .AppendValue(d.PayloadBytes);

    /// <summary>Adds a batch's outcome to its source's hour, inside the batch's transaction so the counts are exact.</summary>
    private void CountHour(string sourceId, string streamId, DateTime now, long landed, long stored, long replayed, long duplicates, long rejected, long decoded)
    {
        // An update, and an insert for the first batch of the hour: a third of the time of an INSERT ... ON CONFLICT in
        // DuckDB (0.4 against 1.3 ms), paid at every commit. Only the writer, under its lock, writes this table.
        object[] values = [sourceId, Hour(now), landed, stored, replayed, duplicates, rejected, decoded];
        if (ExecWith("""
            UPDATE source_hours SET landed = landed + $3, stored = stored + $4, replayed = replayed + $5, duplicates = duplicates + $6,
                rejected = rejected + $7, decoded = decoded + $8 WHERE source_id = $1 AND hour = $2
            """, values) == 0)
        {
            ExecWith("INSERT INTO source_hours (source_id, hour, landed, stored, replayed, duplicates, rejected, decoded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", values);
        }

        if (landed > 0 && streamId.StartsWith("file:", StringComparison.Ordinal))
        {
            ExecWith("UPDATE streams SET landed = coalesce(landed, 0) + $2 WHERE stream_id = $1", streamId, landed);
        }
    }

    /// <summary>
    /// Adds the link events of a replay that change something: an event is left out when the link in effect just
    /// before it (stored, or earlier in the batch) already points to the same avatar. An event stored already is
    /// such a case, and so is one the first run did not record because the link did not change then.
    /// </summary>
    private void InsertNewLinks(IReadOnlyList<AvatarLinkEvent> links)
    {
        Exec("DELETE FROM replay_links");
        using (var app = Writer.CreateAppender("replay_links"))
        {
            foreach (var l in links)
            {
                app.CreateRow().AppendValue(l.FromKey).AppendValue(l.Kind).AppendValue(l.ToKey).AppendValue(l.At).AppendValue(l.SourceId).EndRow();
            }
        }

        Exec("""
            INSERT INTO avatar_link_events
            SELECT from_key, kind, to_key, linked_at, source_id FROM (
                SELECT *, lag(to_key) OVER (PARTITION BY from_key, kind ORDER BY linked_at, is_new, to_key) AS previous
                FROM (
                    SELECT from_key, kind, to_key, linked_at, source_id, 0 AS is_new FROM avatar_link_events
                    WHERE from_key IN (SELECT from_key FROM replay_links)
                    UNION ALL
                    SELECT DISTINCT from_key, kind, to_key, linked_at, source_id, 1 AS is_new FROM replay_links))
            WHERE is_new = 1 AND previous IS DISTINCT FROM to_key
            """);
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

    public async Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken)
    {
        await Db.WriteLock.WaitAsync(cancellationToken);
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
            Db.WriteLock.Release();
        }
    }

    public async Task LoadReferentialAsync(AvatarRegistry.Loader into, CancellationToken cancellationToken)
    {
        await Db.WriteLock.WaitAsync(cancellationToken);
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
            Db.WriteLock.Release();
        }
    }

    public async Task<CommitResult> CommitAsync(CommitBatch batch, CancellationToken cancellationToken)
    {
        await Db.WriteLock.WaitAsync(cancellationToken);
        try
        {
            return CommitLocked(batch);
        }
        catch (Exception ex) when (IsDiskFull(ex))
        {
            throw WriteFault(ex);
        }
        finally
        {
            Db.WriteLock.Release();
        }
    }

    /// <summary>Cumulative time spent in each phase of commits, for benchmarks and metrics.</summary>
    public CommitTimings Timings { get; } = new();

    private CommitResult CommitLocked(CommitBatch batch)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var output = batch.Output;
        var now = Now();
        var live = batch.Mode == IngestMode.Live;
        var firstDeadLetterId = Db.NextDeadLetterId + 1;
        var newDeadLetters = output.DeadLetters.Count;
        ReplayCounts? replay = null;
        Exec("BEGIN TRANSACTION");
        try
        {
            // Messages processed again are in the raw zone already.
            if (Db.Options.KeepRaw && live)
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
                    AppendFailure(dl.CreateRow().AppendValue(id++), d)
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
                    var (s, d) = StoreRecords(Db.Tables[name], records, batch.StreamId, now);
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
            Db.NextDeadLetterId += newDeadLetters;
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
}
