using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using DuckDB.NET.Data;
using Usine.Ingestion;
using Usine.Pipeline;

namespace Usine.Storage.DuckDb;

/// <summary>Which dead letters an operation applies to; every criterion given must hold.</summary>
public sealed record DeadLetterFilter
{
    public string? Source { get; init; }

    /// <summary>decode, map, validate, step, contextualize or store.</summary>
    public string? Stage { get; init; }

    /// <summary>open, replayed or discarded.</summary>
    public string? Status { get; init; }

    /// <summary>Text the reason contains, ignoring case.</summary>
    public string? Reason { get; init; }

    /// <summary>The rule broken, exactly as a group names it (<see cref="DeadLetterGroup.Rule"/>).</summary>
    public string? Rule { get; init; }

    /// <summary>Received at or after this time (UTC).</summary>
    public DateTime? From { get; init; }

    /// <summary>Received before this time (UTC).</summary>
    public DateTime? To { get; init; }

    public IReadOnlyList<long>? Ids { get; init; }

    /// <summary>Only the dead letters of these sources; null for every source. With <see cref="Plants"/>, only those whose plant is unknown.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyCollection<string>? Sources { get; init; }

    /// <summary>Only the dead letters of these plants (a plant-scoped caller's); null for every plant.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyCollection<string>? Plants { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => Source is null && Stage is null && Status is null && Reason is null && Rule is null && From is null && To is null && Ids is null && Sources is null && Plants is null;
}

/// <summary>Dead letters that failed the same way: one source, stage and rule broken, whatever the values.</summary>
/// <param name="Rule">The reason without the values it quotes: "field 'temp' is above the maximum 220".</param>
/// <param name="Reason">The full reason of the latest letter of the group.</param>
/// <param name="Examples">Values of up to three of the group's latest distinct reasons: "228.5 degC", "999 degC".</param>
public sealed record DeadLetterGroup(
    string Source, string Stage, string Rule, string Reason, IReadOnlyList<string> Examples, long Count, long Open, long Replayed, long Discarded,
    int MaxAttempts, DateTime FirstReceivedAt, DateTime LastReceivedAt);

/// <summary>An operation to write to the audit log: who did what to what, with its details as JSON and its outcome.</summary>
public sealed record AuditRecord(string Actor, string Action, string Target, string DetailJson, string Result);

/// <summary>One entry of the audit log.</summary>
public sealed record AuditEntry(long Id, DateTime At, string Actor, string Action, string Target, string? DetailJson, string Result);

/// <summary>The dead-letter lifecycle (query, group, edit, discard, replay upserts) and the audit log.</summary>
public sealed partial class DuckDbStore
{
    private long _nextAuditId;

    /// <summary>The columns and tables of operations, added to stores created before them.</summary>
    private void InitializeOperations()
    {
        Exec("""
            ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS original_payload BLOB;
            ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS edited_at TIMESTAMP;
            ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS discard_reason VARCHAR;
            ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS plant VARCHAR;
            -- "at" is a keyword of DuckDB's grammar and must be quoted wherever it is named.
            CREATE TABLE IF NOT EXISTS audit_log (
                id BIGINT NOT NULL, "at" TIMESTAMP NOT NULL, actor VARCHAR NOT NULL, action VARCHAR NOT NULL,
                target VARCHAR NOT NULL, detail JSON, result VARCHAR NOT NULL);
            CREATE OR REPLACE TEMP TABLE replay_failed (
                source_id VARCHAR, stream_id VARCHAR, position BIGINT, stage VARCHAR, reason VARCHAR, error_type VARCHAR,
                model VARCHAR, model_version INTEGER, topic VARCHAR, payload BLOB, payload_bytes BIGINT, received_at TIMESTAMP, plant VARCHAR,
                raw_index INTEGER);
            CREATE OR REPLACE TEMP TABLE replay_ok (stream_id VARCHAR, position BIGINT, raw_index INTEGER);
            CREATE OR REPLACE TEMP TABLE replay_links (from_key BIGINT, kind VARCHAR, to_key BIGINT, linked_at TIMESTAMP, source_id VARCHAR);
            """);
        Exec(Internal.DeadLetterRules.CreateMacro);
        _nextAuditId = Scalar<long>("SELECT coalesce(max(id), 0) FROM audit_log");
    }

    /// <summary>Dead letters matching <paramref name="filter"/>, newest first, without their payloads.</summary>
    public List<DeadLetterRow> DeadLetters(DeadLetterFilter filter, int limit)
    {
        var args = new List<object?>();
        var where = Where(filter, args);
        var sql = "SELECT id, source_id, stream_id, position, stage, reason, status, attempts, model, model_version, received_at, created_at, error_type, topic, payload_bytes, NULL"
            + " FROM dead_letters" + where + $" ORDER BY id DESC LIMIT {Math.Clamp(limit, 1, 100_000)}";
        return Read(sql, MapDeadLetter, [.. args]);
    }

    /// <summary>
    /// Dead letters matching <paramref name="filter"/> by source, stage and rule broken (the reason without its
    /// values), largest group first, each with the values of its three latest distinct reasons.
    /// </summary>
    public List<DeadLetterGroup> DeadLetterGroups(DeadLetterFilter filter, int limit)
    {
        var args = new List<object?>();
        var sql = $"""
            WITH d AS (SELECT id, source_id, stage, dead_letter_rule(stage, reason) AS rule, reason, status, attempts, received_at FROM dead_letters{Where(filter, args)}),
            g AS (SELECT source_id, stage, rule, count(*) AS n, count(*) FILTER (WHERE status = 'open') AS open, count(*) FILTER (WHERE status = 'replayed') AS replayed,
                         count(*) FILTER (WHERE status = 'discarded') AS discarded, max(attempts) AS attempts, min(received_at) AS first, max(received_at) AS last,
                         arg_max(reason, id) AS latest
                  FROM d GROUP BY source_id, stage, rule ORDER BY n DESC, source_id, stage, rule LIMIT {Math.Clamp(limit, 1, 100_000)}),
            e AS (SELECT source_id, stage, rule, string_agg(reason, chr(31) ORDER BY last_id DESC) AS examples FROM (
                      SELECT d.source_id, d.stage, d.rule, d.reason, max(d.id) AS last_id
                      FROM d SEMI JOIN g ON g.source_id = d.source_id AND g.stage = d.stage AND g.rule = d.rule
                      GROUP BY d.source_id, d.stage, d.rule, d.reason
                      QUALIFY row_number() OVER (PARTITION BY d.source_id, d.stage, d.rule ORDER BY max(d.id) DESC) <= 3)
                  GROUP BY source_id, stage, rule)
            SELECT g.source_id, g.stage, g.rule, g.latest, e.examples, g.n, g.open, g.replayed, g.discarded, g.attempts, g.first, g.last
            FROM g JOIN e ON e.source_id = g.source_id AND e.stage = g.stage AND e.rule = g.rule
            ORDER BY g.n DESC, g.source_id, g.stage, g.rule
            """;
        return Read(sql, r =>
        {
            var stage = r.GetString(1);
            var examples = r.GetString(4).Split('\u001f').Select(reason => Internal.DeadLetterRules.Values(stage, reason))
                .OfType<string>().Distinct(StringComparer.Ordinal).ToList();
            return new DeadLetterGroup(
                r.GetString(0), stage, r.GetString(2), r.GetString(3), examples, r.GetInt64(5), r.GetInt64(6), r.GetInt64(7), r.GetInt64(8), r.GetInt32(9),
                Utc(r.GetDateTime(10)), Utc(r.GetDateTime(11)));
        }, [.. args]);
    }

    /// <summary>One dead letter with its payload, its original payload when edited, and why it was discarded.</summary>
    public (DeadLetterRow Letter, byte[]? OriginalPayload, DateTime? EditedAt, string? DiscardReason)? DeadLetter(long id) =>
        Read(
            "SELECT id, source_id, stream_id, position, stage, reason, status, attempts, model, model_version, received_at, created_at, error_type, topic, payload_bytes, payload, "
            + "original_payload, edited_at, discard_reason FROM dead_letters WHERE id = $1",
            r => ((DeadLetterRow, byte[]?, DateTime?, string?)?)(MapDeadLetter(r), r.IsDBNull(16) ? null : ReadBlob(r, 16),
                r.IsDBNull(17) ? null : Utc(r.GetDateTime(17)), r.IsDBNull(18) ? null : r.GetString(18)),
            id).FirstOrDefault();

    /// <summary>The source and plant of a dead letter, to decide who may see it; null when there is no such letter.</summary>
    public (string Source, string? Plant)? DeadLetterOwner(long id) =>
        Read("SELECT source_id, plant FROM dead_letters WHERE id = $1", r => ((string, string?)?)(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)), id).FirstOrDefault();

    /// <summary>How many dead letters match, and how many of them are open and at or over <paramref name="maxAttempts"/>.</summary>
    /// <summary>How many dead letters the filter selects: open ones, and all.</summary>
    public (long Open, long Total) CountDeadLetters(DeadLetterFilter filter)
    {
        var args = new List<object?>();
        var where = Where(filter, args);
        var rows = Read($"SELECT count(*) FILTER (WHERE status = 'open'), count(*) FROM dead_letters{where}", r => (r.GetInt64(0), r.GetInt64(1)), [.. args]);
        return rows[0];
    }

    public (long Open, long AtLimit) CountReplayable(DeadLetterFilter filter, int maxAttempts)
    {
        var args = new List<object?>();
        var where = Where(filter with { Status = "open" }, args);
        return Read(
            $"SELECT count(*), count(*) FILTER (WHERE attempts >= {maxAttempts}) FROM dead_letters{where}",
            r => (r.GetInt64(0), r.GetInt64(1)), [.. args]).First();
    }

    /// <summary>
    /// The open dead letters matching <paramref name="filter"/> as messages to retry, grouped by stream in position
    /// order; those at <paramref name="maxAttempts"/> or more are left out unless <paramref name="force"/>.
    /// </summary>
    public async IAsyncEnumerable<RawZoneMessage> ReadDeadLettersForReplayAsync(
        DeadLetterFilter filter, int maxAttempts, bool force, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var args = new List<object?>();
        var where = Where(filter with { Status = "open" }, args);
        if (!force)
        {
            where += $" AND attempts < {maxAttempts}";
        }

        await using var conn = OpenReader();
        DuckDBConnection? rawReader = null;
        using var cmd = conn.CreateCommand();

        // Streamed, not materialized: a filter may select millions of letters. A streaming result must be the
        // only query of its connection while it is read, so raw payloads are looked up on another one.
        cmd.UseStreamingMode = true;
        cmd.CommandText = "SELECT source_id, stream_id, position, received_at, topic, payload, payload_bytes, edited_at IS NOT NULL, raw_index FROM dead_letters"
            + where + " ORDER BY source_id, stream_id, position, raw_index";
        foreach (var a in args)
        {
            cmd.Parameters.Add(new DuckDBParameter(a ?? DBNull.Value));
        }

        try
        {
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                cancellationToken.ThrowIfCancellationRequested();
                var stream = r.GetString(1);
                var position = r.GetInt64(2);
                var payload = r.IsDBNull(5) ? [] : ReadBlob(r, 5);
                var bytes = r.IsDBNull(6) ? payload.Length : r.GetInt64(6);
                var edited = r.GetBoolean(7);
                if (!edited && bytes > payload.Length)
                {
                    // A letter keeps a payload only up to its source's size limit; the raw zone may hold more of it.
                    var raw = RawPayload(rawReader ??= OpenReader(), stream, position);
                    if (raw is not null && raw.Length > payload.Length)
                    {
                        payload = raw;
                    }
                }

                var received = edited ? 0 : Math.Max(bytes, payload.Length);
                yield return new RawZoneMessage(r.GetString(0), stream,
                    new RawMessage(position, Utc(r.GetDateTime(3)), payload, r.IsDBNull(4) ? null : r.GetString(4), received > payload.Length ? received : 0,
                        r.IsDBNull(8) ? null : r.GetInt32(8)));
            }
        }
        finally
        {
            if (rawReader is not null)
            {
                await rawReader.DisposeAsync();
            }
        }
    }

    private static byte[]? RawPayload(DuckDBConnection conn, string stream, long position)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT payload FROM raw_messages WHERE stream_id = $1 AND position = $2 LIMIT 1";
        cmd.Parameters.Add(new DuckDBParameter(stream));
        cmd.Parameters.Add(new DuckDBParameter(position));
        using var r = cmd.ExecuteReader();
        return r.Read() && !r.IsDBNull(0) ? ReadBlob(r, 0) : null;
    }

    /// <summary>
    /// Replaces the payload of an open dead letter, keeping the first payload it had; audited in the same
    /// transaction. False when no open dead letter has this id.
    /// </summary>
    public async Task<bool> EditDeadLetterAsync(long id, byte[] payload, AuditRecord audit, CancellationToken cancellationToken)
    {
        return await WriteAsync(now =>
        {
            using var cmd = Writer.CreateCommand();
            cmd.CommandText = """
                UPDATE dead_letters SET original_payload = coalesce(original_payload, payload), payload = $2, payload_bytes = $3,
                       edited_at = $4, updated_at = $4
                WHERE id = $1 AND status = 'open'
                """;
            cmd.Parameters.Add(new DuckDBParameter(id));
            cmd.Parameters.Add(new DuckDBParameter(payload));
            cmd.Parameters.Add(new DuckDBParameter((long)payload.Length));
            cmd.Parameters.Add(new DuckDBParameter(now));
            var changed = cmd.ExecuteNonQuery() > 0;
            AppendAudit(changed ? audit : audit with { Result = "refused: not open" }, now);
            return changed;
        }, cancellationToken);
    }

    /// <summary>Marks the open dead letters matching <paramref name="filter"/> discarded, with the reason; audited in the same transaction.</summary>
    public async Task<long> DiscardDeadLettersAsync(DeadLetterFilter filter, string reason, Func<long, AuditRecord> audit, CancellationToken cancellationToken)
    {
        return await WriteAsync(now =>
        {
            var args = new List<object?> { reason, now };
            var where = Where(filter with { Status = "open" }, args);
            using var cmd = Writer.CreateCommand();
            cmd.CommandText = "UPDATE dead_letters SET status = 'discarded', discard_reason = $1, updated_at = $2" + where;
            foreach (var a in args)
            {
                cmd.Parameters.Add(new DuckDBParameter(a ?? DBNull.Value));
            }

            long discarded = cmd.ExecuteNonQuery();
            AppendAudit(audit(discarded), now);
            return discarded;
        }, cancellationToken);
    }

    /// <summary>Writes one entry to the audit log.</summary>
    public async Task AppendAuditAsync(AuditRecord audit, CancellationToken cancellationToken) =>
        await WriteAsync(now =>
        {
            AppendAudit(audit, now);
            return true;
        }, cancellationToken);

    /// <summary>Audit entries, newest first.</summary>
    public List<AuditEntry> Audit(string? action, DateTime? since, int limit)
    {
        var where = new List<string>();
        var args = new List<object?>();
        if (action is not null)
        {
            args.Add(action);
            where.Add($"action = ${args.Count}");
        }

        if (since is not null)
        {
            args.Add(since.Value);
            where.Add($"\"at\" >= ${args.Count}");
        }

        return Read(
            "SELECT id, \"at\", actor, action, target, CAST(detail AS VARCHAR), result FROM audit_log"
            + (where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "") + $" ORDER BY id DESC LIMIT {Math.Clamp(limit, 1, 100_000)}",
            r => new AuditEntry(r.GetInt64(0), Utc(r.GetDateTime(1)), r.GetString(2), r.GetString(3), r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.GetString(6)),
            [.. args]);
    }

    private void AppendAudit(AuditRecord audit, DateTime now)
    {
        using var cmd = Writer.CreateCommand();
        cmd.CommandText = "INSERT INTO audit_log VALUES ($1, $2, $3, $4, $5, $6, $7)";
        cmd.Parameters.Add(new DuckDBParameter(_nextAuditId + 1));
        cmd.Parameters.Add(new DuckDBParameter(now));
        cmd.Parameters.Add(new DuckDBParameter(audit.Actor));
        cmd.Parameters.Add(new DuckDBParameter(audit.Action));
        cmd.Parameters.Add(new DuckDBParameter(audit.Target));
        cmd.Parameters.Add(new DuckDBParameter(audit.DetailJson));
        cmd.Parameters.Add(new DuckDBParameter(audit.Result));
        cmd.ExecuteNonQuery();
        _nextAuditId++;
    }

    /// <summary>Runs <paramref name="write"/> in one transaction of the writer, under the write lock.</summary>
    private async Task<T> WriteAsync<T>(Func<DateTime, T> write, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        var auditId = _nextAuditId;
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
                _nextAuditId = auditId;
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
            _writeLock.Release();
        }
    }

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

                app.CreateRow()
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

    private static string Where(DeadLetterFilter f, List<object?> args)
    {
        var where = new List<string>();
        void Add(string condition, object? value)
        {
            if (value is not null)
            {
                args.Add(value);
                where.Add(string.Format(CultureInfo.InvariantCulture, condition, "$" + args.Count.ToString(CultureInfo.InvariantCulture)));
            }
        }

        Add("source_id = {0}", f.Source);
        Add("stage = {0}", f.Stage?.ToLowerInvariant());
        Add("status = {0}", f.Status?.ToLowerInvariant());
        Add("contains(lower(reason), lower({0}))", f.Reason);
        Add("dead_letter_rule(stage, reason) = {0}", f.Rule);
        Add("received_at >= {0}", f.From);
        Add("received_at < {0}", f.To);
        if (f.Ids is { } ids)
        {
            where.Add(ids.Count == 0 ? "FALSE" : $"id IN ({string.Join(", ", ids.Select(i => i.ToString(CultureInfo.InvariantCulture)))})");
        }

        var inSources = f.Sources is { } sources
            ? (sources.Count == 0 ? "FALSE" : $"source_id IN ({string.Join(", ", sources.Order(StringComparer.Ordinal).Select(Internal.Sql.Literal))})")
            : null;
        if (f.Plants is { } plants)
        {
            // A letter whose plant is known belongs to it; one that could not be read belongs to its source's fixed plant.
            var inPlants = plants.Count == 0 ? "FALSE" : $"plant IN ({string.Join(", ", plants.Order(StringComparer.Ordinal).Select(Internal.Sql.Literal))})";
            where.Add($"({inPlants} OR (plant IS NULL AND {inSources ?? "FALSE"}))");
        }
        else if (inSources is not null)
        {
            where.Add(inSources);
        }

        return where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "";
    }

    private static DeadLetterRow MapDeadLetter(DuckDBDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetString(4), r.GetString(5), r.GetString(6), r.GetInt32(7),
        r.IsDBNull(8) ? null : r.GetString(8), r.IsDBNull(9) ? null : r.GetInt32(9),
        Utc(r.GetDateTime(10)), Utc(r.GetDateTime(11)), r.IsDBNull(12) ? null : r.GetString(12), r.IsDBNull(13) ? null : r.GetString(13),
        r.IsDBNull(14) ? 0 : r.GetInt64(14), r.IsDBNull(15) ? null : ReadBlob(r, 15));
}
