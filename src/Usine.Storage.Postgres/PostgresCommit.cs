using System.Globalization;
using Npgsql;
using NpgsqlTypes;
using Usine.Avatars;
using Usine.Configuration;
using Usine.Ingestion;
using Usine.Pipeline;
using Usine.Storage.Postgres.Internal;

namespace Usine.Storage.Postgres;

/// <summary>
/// The commit path: one transaction per batch on the writer connection, under the write lock, with raw messages,
/// records, rollups, dead letters, avatars, links, counters and the checkpoint. Rows go in with binary COPY: straight
/// into their table when nothing can conflict (raw messages, new dead letters, link events), through a staging table
/// and an INSERT ... ON CONFLICT otherwise (records, attributes).
/// </summary>
internal sealed class PostgresCommit(PostgresDatabase db) : PostgresFacet(db), IRecordStore, IAvatarKeySource
{
    private const long KeyBlock = 1000;
    private readonly Lock _keys = new();
    private long _nextKey = 1;
    private long _lastKey;

    /// <summary>The next key of this process's block, taking a new block of 1,000 from <c>avatar_keys</c> when it is used up.</summary>
    public long NextAvatarKey()
    {
        lock (_keys)
        {
            if (_nextKey > _lastKey)
            {
                using var conn = Db.Source.OpenConnection();
                using var cmd = new NpgsqlCommand("SELECT nextval('avatar_keys')", conn);
                _lastKey = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
                _nextKey = _lastKey - KeyBlock + 1;
            }

            return _nextKey++;
        }
    }

    /// <summary>Cumulative time spent in each phase of commits, for benchmarks and metrics.</summary>
    public CommitTimings Timings { get; } = new();

    /// <summary>Connects, brings the schema to the latest version and makes the models' tables.</summary>
    public Task InitializeAsync(UsineDefinitions definitions, CancellationToken cancellationToken) => Db.InitializeAsync(definitions, cancellationToken);

    /// <summary>Closes the connections the facets share.</summary>
    public ValueTask DisposeAsync() => Db.DisposeAsync();

    public async Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken)
    {
        await using var conn = await Db.Source.OpenConnectionAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand("SELECT position FROM checkpoints WHERE stream_id = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = streamId });
        var v = await cmd.ExecuteScalarAsync(cancellationToken);
        return v is null or DBNull ? null : Convert.ToInt64(v, CultureInfo.InvariantCulture);
    }

    public async Task LoadReferentialAsync(AvatarRegistry.Loader into, CancellationToken cancellationToken)
    {
        // Streamed row by row into the registry's compact tables, on a connection of its own.
        await using var conn = await Db.Source.OpenConnectionAsync(cancellationToken);
        await using (var cmd = new NpgsqlCommand("SELECT avatar_key, type, id FROM avatars", conn))
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            var types = new Dictionary<string, string>(StringComparer.Ordinal);
            while (await r.ReadAsync(cancellationToken))
            {
                var type = r.GetString(1);
                into.Avatar(r.GetInt64(0), types.TryGetValue(type, out var known) ? known : types[type] = type, r.GetString(2));
            }
        }

        await using (var cmd = new NpgsqlCommand("SELECT DISTINCT ON (from_key, kind) from_key, kind, to_key, linked_at FROM avatar_link_events ORDER BY from_key, kind, linked_at DESC, to_key DESC", conn))
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            var kinds = new Dictionary<string, string>(StringComparer.Ordinal);
            while (await r.ReadAsync(cancellationToken))
            {
                var kind = r.GetString(1);
                into.LastLink(r.GetInt64(0), kinds.TryGetValue(kind, out var known) ? known : kinds[kind] = kind, r.GetInt64(2), r.GetDateTime(3));
            }
        }

        await using (var cmd = new NpgsqlCommand("SELECT avatar_key, name, value, set_at FROM avatar_attributes", conn))
        await using (var r = await cmd.ExecuteReaderAsync(cancellationToken))
        {
            while (await r.ReadAsync(cancellationToken))
            {
                into.Attribute(r.GetInt64(0), string.Intern(r.GetString(1)), r.GetString(2), r.GetDateTime(3));
            }
        }
    }

    public async Task<CommitResult> CommitAsync(CommitBatch batch, CancellationToken cancellationToken)
    {
        await Db.WriteLock.WaitAsync(cancellationToken);
        try
        {
            return CommitLocked(batch);
        }
        catch (NpgsqlException ex) when (ex.IsTransient)
        {
            // A dropped connection, a deadlock between processors, a server restarting: the transaction rolled back
            // whole, and the same batch can be committed again (the writer reconnects on its next use).
            throw new UsineException($"PostgreSQL did not commit the batch: {ex.Message} (nothing of the batch was stored)", isTransient: true, ex);
        }
        finally
        {
            Db.WriteLock.Release();
        }
    }

    private CommitResult CommitLocked(CommitBatch batch)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var output = batch.Output;
        var writer = Writer;
        var now = Now();
        var live = batch.Mode == IngestMode.Live;

        // Partitions are made before the batch's transaction, so that it never waits on another processor's.
        foreach (var g in output.Records.GroupBy(r => r.Model.Name))
        {
            Db.EnsurePartitions(writer, g.Key, g.Select(r => r.EventTime));
        }

        Timings.Add("partitions", clock);
        ReplayCounts? replay = null;
        var newDeadLetters = output.DeadLetters.Count;
        using var tx = writer.BeginTransaction();

        // Messages processed again are in the raw zone already.
        if (Db.Options.KeepRaw && live && batch.Raw.Count > 0)
        {
            using var raw = writer.BeginBinaryImport("COPY raw_messages (source_id, stream_id, position, received_at, topic, payload) FROM STDIN (FORMAT BINARY)");
            foreach (var m in batch.Raw)
            {
                raw.StartRow();
                raw.Write(batch.Source.Id, NpgsqlDbType.Text);
                raw.Write(batch.StreamId, NpgsqlDbType.Text);
                raw.Write(m.Position, NpgsqlDbType.Bigint);
                raw.Write(Utc(m.ReceivedAt), NpgsqlDbType.TimestampTz);
                WriteNullable(raw, m.Topic, NpgsqlDbType.Text);
                raw.Write(m.Payload, NpgsqlDbType.Bytea);
            }

            raw.Complete();
        }

        Timings.Add("raw", clock);
        if (!live)
        {
            replay = UpsertDeadLetters(batch, now);
            newDeadLetters = replay.New;
        }
        else if (output.DeadLetters.Count > 0)
        {
            using var dl = writer.BeginBinaryImport(
                "COPY dead_letters (source_id, stream_id, position, stage, reason, error_type, model, model_version, topic, payload, payload_bytes, "
                + "status, attempts, received_at, created_at, updated_at, plant, raw_index) FROM STDIN (FORMAT BINARY)");
            foreach (var d in output.DeadLetters)
            {
                WriteFailure(dl, d);
                dl.Write("open", NpgsqlDbType.Text);
                dl.Write(1, NpgsqlDbType.Integer);
                dl.Write(Utc(d.ReceivedAt), NpgsqlDbType.TimestampTz);
                dl.Write(now, NpgsqlDbType.TimestampTz);
                dl.Write(now, NpgsqlDbType.TimestampTz);
                WriteNullable(dl, d.Plant, NpgsqlDbType.Text);
                WriteNullable(dl, d.Index, NpgsqlDbType.Integer);
            }

            dl.Complete();
        }

        if (output.NewAvatars.Count > 0)
        {
            using var av = writer.BeginBinaryImport("COPY avatars (avatar_key, type, id, plant, parent_key, first_seen) FROM STDIN (FORMAT BINARY)");
            foreach (var a in output.NewAvatars)
            {
                av.WriteRow(a.Key, a.Type, a.Id, a.Plant, a.ParentKey, Utc(a.FirstSeen));
            }

            av.Complete();
        }

        AddLevels(output.NewAvatars);
        if (output.Links.Count > 0 && !live)
        {
            InsertNewLinks(output.Links);
        }
        else if (output.Links.Count > 0)
        {
            CopyLinks("avatar_link_events", output.Links);
        }

        if (output.Attributes.Count > 0)
        {
            UpsertAttributes(output.Attributes);
        }

        Timings.Add("referential", clock);
        var stored = 0;
        var duplicates = 0;
        foreach (var g in output.Records.GroupBy(r => r.Model.Name))
        {
            var (s, d) = StoreRecords(Db.Tables[g.Key], [.. g], batch.StreamId, now);
            stored += s;
            duplicates += d;
        }

        clock.Restart();
        if (live)
        {
            CountHour(batch.Source.Id, batch.StreamId, now, batch.Raw.Count, stored, 0, duplicates + output.DuplicatesInBatch, output.DeadLetters.Count, output.Decoded);
        }
        else if (stored > 0 || newDeadLetters > 0)
        {
            // A replay lands nothing: what it stores or rejects for the first time counts as replayed, so that an hour
            // still adds up (landed = stored - replayed + duplicates + rejected) and a replay that changes nothing writes nothing.
            CountHour(batch.Source.Id, batch.StreamId, now, 0, stored, stored + newDeadLetters, 0, newDeadLetters, 0);
        }

        // Only new data moves a stream on: a replay of old positions must leave its checkpoint where it is. The
        // checkpoint commits with the outputs, so a processor that dies between the two cannot exist.
        if (live)
        {
            Exec("""
                INSERT INTO checkpoints AS c (stream_id, source_id, position, updated_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (stream_id) DO UPDATE SET position = greatest(c.position, EXCLUDED.position), updated_at = EXCLUDED.updated_at
                """, batch.StreamId, batch.Source.Id, batch.Checkpoint, now);
        }

        Timings.Add("checkpoint", clock);
        tx.Commit();
        Timings.Add("commit", clock);
        return new CommitResult(live ? batch.Raw.Count : 0, stored, duplicates, output.DeadLetters.Count) { Replay = replay };
    }

    private (int Stored, int Duplicates) StoreRecords(ModelTable table, IReadOnlyList<Record> records, string streamId, DateTime now)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using (var copy = Writer.BeginBinaryImport($"COPY {Sql.StageTable(table.Name)} ({table.StageColumns}) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var rec in records)
            {
                copy.StartRow();
                copy.Write(rec.RecordId, NpgsqlDbType.Uuid);
                copy.Write(rec.Plant, NpgsqlDbType.Text);
                WriteNullable(copy, rec.AvatarKey == 0 ? null : (long?)rec.AvatarKey, NpgsqlDbType.Bigint);
                WriteNullable(copy, rec.AvatarId, NpgsqlDbType.Text);
                WriteNullable(copy, rec.ContextKey == 0 ? null : (long?)rec.ContextKey, NpgsqlDbType.Bigint);
                copy.Write(Utc(rec.EventTime), NpgsqlDbType.TimestampTz);
                copy.Write(rec.Position, NpgsqlDbType.Bigint);
                copy.Write(rec.Index, NpgsqlDbType.Integer);
                var map = table.ColumnToField[rec.Model.Version];
                for (var c = 0; c < map.Length; c++)
                {
                    var fi = map[c];
                    if (fi < 0)
                    {
                        copy.WriteNull();
                        continue;
                    }

                    var v = rec.Values[fi];
                    switch (v.Kind)
                    {
                        case ValueKind.Null:
                            copy.WriteNull();
                            break;
                        case ValueKind.String:
                            copy.Write(v.String, NpgsqlDbType.Text);
                            break;
                        case ValueKind.Int:
                            copy.Write(v.Int, NpgsqlDbType.Bigint);
                            break;
                        case ValueKind.Double:
                            copy.Write(v.Double, NpgsqlDbType.Double);
                            break;
                        case ValueKind.Bool:
                            copy.Write(v.Bool, NpgsqlDbType.Boolean);
                            break;
                        default:
                            copy.Write(v.Timestamp, NpgsqlDbType.TimestampTz);
                            break;
                    }
                }
            }

            copy.Complete();
        }

        Timings.Add("stage", clock);
        var first = records[0];
        var inserted = (int)Scalar<long>(table.InsertSql, first.Model.Version, first.SourceId, streamId, now);
        Timings.Add("insert", clock);

        // ON COMMIT DELETE ROWS empties the staging table at the end of the transaction; a second model of the same
        // batch has a staging table of its own.
        return (inserted, records.Count - inserted);
    }

    /// <summary>
    /// The dead-letter side of a commit not of <see cref="IngestMode.Live"/>, inside its transaction: failures are
    /// upserted by (stream, position, index) and the open letters of messages that now succeeded are marked replayed.
    /// A letter of a payload that could not be decoded has no index and matches the payload's first message.
    /// </summary>
    private ReplayCounts UpsertDeadLetters(CommitBatch batch, DateTime now)
    {
        var failed = new HashSet<(long, int)>();
        using (var copy = Writer.BeginBinaryImport(
            "COPY replay_failed (source_id, stream_id, position, stage, reason, error_type, model, model_version, topic, payload, payload_bytes, received_at, plant, raw_index) "
            + "FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var d in batch.Output.DeadLetters)
            {
                if (!failed.Add((d.Position, d.Index ?? 0)))
                {
                    continue;
                }

                WriteFailure(copy, d);
                copy.Write(Utc(d.ReceivedAt), NpgsqlDbType.TimestampTz);
                WriteNullable(copy, d.Plant, NpgsqlDbType.Text);
                WriteNullable(copy, d.Index, NpgsqlDbType.Integer);
            }

            copy.Complete();
        }

        // Every message processed, all of a payload's or the one a retry names; those of them that failed again are
        // in replay_failed and stay open.
        var processed = new HashSet<(long, int?)>();
        using (var copy = Writer.BeginBinaryImport("COPY replay_ok (stream_id, position, raw_index) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var m in batch.Raw)
            {
                if (processed.Add((m.Position, m.OnlyIndex)))
                {
                    copy.StartRow();
                    copy.Write(batch.StreamId, NpgsqlDbType.Text);
                    copy.Write(m.Position, NpgsqlDbType.Bigint);
                    WriteNullable(copy, m.OnlyIndex, NpgsqlDbType.Integer);
                }
            }

            copy.Complete();
        }

        const string sameMessage = "coalesce(d.raw_index, 0) = coalesce(s.raw_index, 0)";

        // A range replay that meets the same failure again leaves the letter alone, so replaying twice changes
        // nothing; a deliberate retry is an attempt, and counts as one even when it fails the same way.
        var same = batch.Mode == IngestMode.Retry ? "FALSE" : "(d.stage = s.stage AND d.reason = s.reason)";
        var unchanged = Scalar<long>($"""
            SELECT count(*) FROM replay_failed s
            WHERE EXISTS (SELECT 1 FROM dead_letters d WHERE d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage})
              AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage} AND d.status = 'open' AND NOT {same})
            """);
        var updated = Exec($"""
            UPDATE dead_letters d SET stage = s.stage, reason = s.reason, error_type = s.error_type, model = s.model,
                   model_version = s.model_version, plant = coalesce(s.plant, d.plant), raw_index = s.raw_index, attempts = d.attempts + 1,
                   updated_at = $1
            FROM replay_failed s
            WHERE d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage} AND d.status = 'open' AND NOT {same}
            """, now);
        var inserted = Exec($"""
            INSERT INTO dead_letters (source_id, stream_id, position, stage, reason, error_type, model, model_version, topic, payload, payload_bytes,
                                      status, attempts, received_at, created_at, updated_at, plant, raw_index)
            SELECT s.source_id, s.stream_id, s.position, s.stage, s.reason, s.error_type, s.model, s.model_version, s.topic, s.payload, s.payload_bytes,
                   'open', 1, s.received_at, $1, $1, s.plant, s.raw_index
            FROM replay_failed s
            WHERE NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage})
            ORDER BY s.position, s.raw_index
            """, now);
        var replayed = Exec($"""
            UPDATE dead_letters d SET status = 'replayed', updated_at = $1
            FROM replay_ok o WHERE d.stream_id = o.stream_id AND d.position = o.position AND d.status = 'open'
              AND (o.raw_index IS NULL OR coalesce(d.raw_index, 0) = o.raw_index)
              AND NOT EXISTS (SELECT 1 FROM replay_failed s WHERE d.stream_id = s.stream_id AND d.position = s.position AND {sameMessage})
            """, now);
        return new ReplayCounts(inserted, (int)unchanged, updated, replayed);
    }

    /// <summary>The columns of a dead letter from its source to its payload size, in the order both the dead-letter table and the replay's staging table have them.</summary>
    private static void WriteFailure(NpgsqlBinaryImporter copy, DeadLetter d)
    {
        copy.StartRow();
        copy.Write(d.SourceId, NpgsqlDbType.Text);
        copy.Write(d.StreamId, NpgsqlDbType.Text);
        copy.Write(d.Position, NpgsqlDbType.Bigint);
        copy.Write(d.Stage.ToString().ToLowerInvariant(), NpgsqlDbType.Text);
        copy.Write(d.Reason, NpgsqlDbType.Text);
        WriteNullable(copy, d.ErrorType, NpgsqlDbType.Text);
        WriteNullable(copy, d.Model, NpgsqlDbType.Text);
        WriteNullable(copy, d.ModelVersion, NpgsqlDbType.Integer);
        WriteNullable(copy, d.Topic, NpgsqlDbType.Text);
        copy.Write(d.Payload, NpgsqlDbType.Bytea);
        copy.Write(d.PayloadBytes, NpgsqlDbType.Bigint);
    }

    private static void WriteNullable(NpgsqlBinaryImporter copy, string? value, NpgsqlDbType type)
    {
        if (value is null)
        {
            copy.WriteNull();
        }
        else
        {
            copy.Write(value, type);
        }
    }

    private static void WriteNullable<T>(NpgsqlBinaryImporter copy, T? value, NpgsqlDbType type)
        where T : struct
    {
        if (value is { } v)
        {
            copy.Write(v, type);
        }
        else
        {
            copy.WriteNull();
        }
    }

    private static DateTime Utc(DateTime t) => DateTime.SpecifyKind(t, DateTimeKind.Utc);

    /// <summary>Adds a batch's outcome to its source's hour, inside the batch's transaction so the counts are exact.</summary>
    private void CountHour(string sourceId, string streamId, DateTime now, long landed, long stored, long replayed, long duplicates, long rejected, long decoded)
    {
        Exec("""
            INSERT INTO source_hours AS h (source_id, hour, landed, stored, replayed, duplicates, rejected, decoded) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (source_id, hour) DO UPDATE SET landed = h.landed + EXCLUDED.landed, stored = h.stored + EXCLUDED.stored,
                replayed = h.replayed + EXCLUDED.replayed, duplicates = h.duplicates + EXCLUDED.duplicates,
                rejected = h.rejected + EXCLUDED.rejected, decoded = h.decoded + EXCLUDED.decoded
            """, sourceId, Hour(now), landed, stored, replayed, duplicates, rejected, decoded);
        if (landed > 0 && streamId.StartsWith("file:", StringComparison.Ordinal))
        {
            Exec("UPDATE streams SET landed = coalesce(landed, 0) + $2 WHERE stream_id = $1", streamId, landed);
        }
    }

    private void CopyLinks(string table, IReadOnlyList<AvatarLinkEvent> links)
    {
        using var copy = Writer.BeginBinaryImport($"COPY {table} (from_key, kind, to_key, linked_at, source_id) FROM STDIN (FORMAT BINARY)");
        foreach (var l in links)
        {
            copy.WriteRow(l.FromKey, l.Kind, l.ToKey, Utc(l.At), l.SourceId);
        }

        copy.Complete();
    }

    /// <summary>
    /// Adds the link events of a replay that change something: an event is left out when the link in effect just
    /// before it (stored, or earlier in the batch) already points to the same avatar.
    /// </summary>
    private void InsertNewLinks(IReadOnlyList<AvatarLinkEvent> links)
    {
        CopyLinks("replay_links", links);
        Exec("""
            INSERT INTO avatar_link_events (from_key, kind, to_key, linked_at, source_id)
            SELECT from_key, kind, to_key, linked_at, source_id FROM (
                SELECT *, lag(to_key) OVER (PARTITION BY from_key, kind ORDER BY linked_at, is_new, to_key) AS previous
                FROM (
                    SELECT from_key, kind, to_key, linked_at, source_id, 0 AS is_new FROM avatar_link_events
                    WHERE from_key IN (SELECT from_key FROM replay_links)
                    UNION ALL
                    SELECT DISTINCT from_key, kind, to_key, linked_at, source_id, 1 AS is_new FROM replay_links) e) x
            WHERE is_new = 1 AND previous IS DISTINCT FROM to_key
            """);
    }

    /// <summary>Adds the levels of new shops, lines and stations from their parent's row, top level first.</summary>
    private void AddLevels(IReadOnlyList<Avatar> created)
    {
        foreach (var type in new[] { AvatarTypes.Shop, AvatarTypes.Line, AvatarTypes.Station })
        {
            var level = created.Where(a => a.Type == type).ToList();
            if (level.Count == 0)
            {
                continue;
            }

            Exec($"""
                INSERT INTO avatar_levels (context_key, plant, shop, line, station)
                SELECT a.k, a.plant,
                    {(type == AvatarTypes.Shop ? "a.id" : "p.shop")},
                    {(type == AvatarTypes.Line ? "a.id" : type == AvatarTypes.Station ? "p.line" : "NULL")},
                    {(type == AvatarTypes.Station ? "a.id" : "NULL")}
                FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) a(k, id, plant, parent) LEFT JOIN avatar_levels p ON p.context_key = a.parent
                """, level.Select(a => a.Key).ToArray(), level.Select(a => a.Id).ToArray(), level.Select(a => a.Plant).ToArray(), level.Select(a => a.ParentKey).ToArray());
        }
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

        using (var copy = Writer.BeginBinaryImport("COPY stage_avatar_attributes (avatar_key, name, value, set_at, plant, source_id) FROM STDIN (FORMAT BINARY)"))
        {
            foreach (var c in winners.Values)
            {
                copy.WriteRow(c.AvatarKey, c.Name, c.Value, Utc(c.At), c.Plant, c.SourceId);
            }

            copy.Complete();
        }

        // Values compare byte by byte (COLLATE "C"), as DuckDB compares them, whatever the database's collation.
        Exec("""
            INSERT INTO avatar_attributes AS x (avatar_key, name, value, set_at, plant, source_id)
            SELECT avatar_key, name, value, set_at, plant, source_id FROM stage_avatar_attributes
            ON CONFLICT (avatar_key, name) DO UPDATE SET value = EXCLUDED.value, set_at = EXCLUDED.set_at, plant = EXCLUDED.plant, source_id = EXCLUDED.source_id
            WHERE EXCLUDED.value <> x.value
              AND (EXCLUDED.set_at > x.set_at OR (EXCLUDED.set_at = x.set_at AND EXCLUDED.value COLLATE "C" > x.value COLLATE "C"))
            """);
    }
}
