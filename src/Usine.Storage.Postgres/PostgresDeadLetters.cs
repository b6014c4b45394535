using System.Globalization;
using System.Runtime.CompilerServices;
using Npgsql;
using Usine.Ingestion;
using Usine.Pipeline;

namespace Usine.Storage.Postgres;

/// <summary>Dead letters: lists, groups, counts, edits, discards and the letters to retry.</summary>
internal sealed class PostgresDeadLetters(PostgresDatabase db) : PostgresFacet(db), IDeadLetterStore
{
    /// <summary>Dead letters matching <paramref name="filter"/>, newest first, without their payloads.</summary>
    public IReadOnlyList<DeadLetterRow> List(DeadLetterFilter filter, int limit)
    {
        var args = new List<object?>();
        var where = DeadLetterWhere(filter, args);
        var sql = "SELECT id, source_id, stream_id, position, stage, reason, status, attempts, model, model_version, received_at, created_at, error_type, topic, payload_bytes, NULL"
            + " FROM dead_letters" + where + $" ORDER BY id DESC LIMIT {Math.Clamp(limit, 1, 100_000)}";
        return Read(sql, MapDeadLetter, [.. args]);
    }

    /// <summary>
    /// Dead letters matching <paramref name="filter"/> by source, stage and rule broken (the reason without its
    /// values), largest group first, each with the values of its three latest distinct reasons.
    /// </summary>
    public IReadOnlyList<DeadLetterGroup> Groups(DeadLetterFilter filter, int limit)
    {
        var args = new List<object?>();
        var sql = $"""
            WITH d AS (SELECT id, source_id, stage, dead_letter_rule(stage, reason) AS rule, reason, status, attempts, received_at FROM dead_letters{DeadLetterWhere(filter, args)}),
            g AS (SELECT source_id, stage, rule, count(*) AS n, count(*) FILTER (WHERE status = 'open') AS open, count(*) FILTER (WHERE status = 'replayed') AS replayed,
                         count(*) FILTER (WHERE status = 'discarded') AS discarded, max(attempts) AS attempts, min(received_at) AS first, max(received_at) AS last,
                         (array_agg(reason ORDER BY id DESC))[1] AS latest
                  FROM d GROUP BY source_id, stage, rule ORDER BY n DESC, source_id, stage, rule LIMIT {Math.Clamp(limit, 1, 100_000)}),
            e AS (SELECT source_id, stage, rule, string_agg(reason, chr(31) ORDER BY last_id DESC) AS examples FROM (
                      SELECT *, row_number() OVER (PARTITION BY source_id, stage, rule ORDER BY last_id DESC) AS k FROM (
                          SELECT d.source_id, d.stage, d.rule, d.reason, max(d.id) AS last_id
                          FROM d WHERE EXISTS (SELECT 1 FROM g WHERE g.source_id = d.source_id AND g.stage = d.stage AND g.rule = d.rule)
                          GROUP BY d.source_id, d.stage, d.rule, d.reason) x) y
                  WHERE k <= 3
                  GROUP BY source_id, stage, rule)
            SELECT g.source_id, g.stage, g.rule, g.latest, e.examples, g.n, g.open, g.replayed, g.discarded, g.attempts, g.first, g.last
            FROM g JOIN e ON e.source_id = g.source_id AND e.stage = g.stage AND e.rule = g.rule
            ORDER BY g.n DESC, g.source_id, g.stage, g.rule
            """;
        return Read(sql, r =>
        {
            var stage = r.GetString(1);
            var examples = r.GetString(4).Split('\u001f').Select(reason => DeadLetterRules.Values(stage, reason))
                .OfType<string>().Distinct(StringComparer.Ordinal).ToList();
            return new DeadLetterGroup(
                r.GetString(0), stage, r.GetString(2), r.GetString(3), examples, r.GetInt64(5), r.GetInt64(6), r.GetInt64(7), r.GetInt64(8), r.GetInt32(9),
                r.GetDateTime(10), r.GetDateTime(11));
        }, [.. args]);
    }

    /// <summary>One dead letter with its payload, its original payload when edited, and why it was discarded.</summary>
    public DeadLetterDetail? Get(long id) =>
        Read(
            "SELECT id, source_id, stream_id, position, stage, reason, status, attempts, model, model_version, received_at, created_at, error_type, topic, payload_bytes, payload, "
            + "original_payload, edited_at, discard_reason FROM dead_letters WHERE id = $1",
            r => new DeadLetterDetail(MapDeadLetter(r), r.IsDBNull(16) ? null : (byte[])r.GetValue(16),
                r.IsDBNull(17) ? null : r.GetDateTime(17), r.IsDBNull(18) ? null : r.GetString(18)),
            id).FirstOrDefault();

    /// <summary>The source and plant of a dead letter, to decide who may see it; null when there is no such letter.</summary>
    public (string Source, string? Plant)? Owner(long id) =>
        Read("SELECT source_id, plant FROM dead_letters WHERE id = $1", r => ((string, string?)?)(r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1)), id).FirstOrDefault();

    /// <summary>How many dead letters the filter selects: open ones, and all.</summary>
    public (long Open, long Total) Count(DeadLetterFilter filter)
    {
        var args = new List<object?>();
        var where = DeadLetterWhere(filter, args);
        var rows = Read($"SELECT count(*) FILTER (WHERE status = 'open'), count(*) FROM dead_letters{where}", r => (r.GetInt64(0), r.GetInt64(1)), [.. args]);
        return rows[0];
    }

    public (long Open, long AtLimit) CountReplayable(DeadLetterFilter filter, int maxAttempts)
    {
        var args = new List<object?>();
        var where = DeadLetterWhere(filter with { Status = "open" }, args);
        return Read(
            $"SELECT count(*), count(*) FILTER (WHERE attempts >= {maxAttempts}) FROM dead_letters{where}",
            r => (r.GetInt64(0), r.GetInt64(1)), [.. args]).First();
    }

    /// <summary>
    /// The open dead letters matching <paramref name="filter"/> as messages to retry, grouped by stream in position
    /// order; those at <paramref name="maxAttempts"/> or more are left out unless <paramref name="force"/>.
    /// </summary>
    public async IAsyncEnumerable<RawZoneMessage> ReadForReplayAsync(
        DeadLetterFilter filter, int maxAttempts, bool force, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var args = new List<object?>();
        var where = DeadLetterWhere(filter with { Status = "open" }, args);
        if (!force)
        {
            where += $" AND attempts < {maxAttempts}";
        }

        await using var conn = await Db.Source.OpenConnectionAsync(cancellationToken);
        NpgsqlConnection? rawReader = null;

        // Streamed, not materialized: a filter may select millions of letters. A connection reads one result at a
        // time, so raw payloads are looked up on another one.
        await using var cmd = new NpgsqlCommand(
            "SELECT source_id, stream_id, position, received_at, topic, payload, payload_bytes, edited_at IS NOT NULL, raw_index FROM dead_letters"
            + where + " ORDER BY source_id, stream_id, position, raw_index", conn);
        PostgresDatabase.Bind(cmd, args);
        try
        {
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
            while (await r.ReadAsync(cancellationToken))
            {
                var stream = r.GetString(1);
                var position = r.GetInt64(2);
                var payload = r.IsDBNull(5) ? [] : (byte[])r.GetValue(5);
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
                    new RawMessage(position, r.GetDateTime(3), payload, r.IsDBNull(4) ? null : r.GetString(4), received > payload.Length ? received : 0,
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

    private static byte[]? RawPayload(NpgsqlConnection conn, string stream, long position)
    {
        using var cmd = new NpgsqlCommand("SELECT payload FROM raw_messages WHERE stream_id = $1 AND position = $2 LIMIT 1", conn);
        PostgresDatabase.Bind(cmd, [stream, position]);
        using var r = cmd.ExecuteReader();
        return r.Read() && !r.IsDBNull(0) ? (byte[])r.GetValue(0) : null;
    }

    /// <summary>
    /// Replaces the payload of an open dead letter, keeping the first payload it had; audited in the same
    /// transaction. False when no open dead letter has this id.
    /// </summary>
    public async Task<bool> EditAsync(long id, byte[] payload, AuditRecord audit, CancellationToken cancellationToken)
    {
        return await WriteAsync(now =>
        {
            var changed = Exec("""
                UPDATE dead_letters SET original_payload = coalesce(original_payload, payload), payload = $2, payload_bytes = $3,
                       edited_at = $4, updated_at = $4
                WHERE id = $1 AND status = 'open'
                """, id, payload, (long)payload.Length, now) > 0;
            AppendAudit(changed ? audit : audit with { Result = "refused: not open" }, now);
            return changed;
        }, cancellationToken);
    }

    /// <summary>Marks the open dead letters matching <paramref name="filter"/> discarded, with the reason; audited in the same transaction.</summary>
    public async Task<long> DiscardAsync(DeadLetterFilter filter, string reason, Func<long, AuditRecord> audit, CancellationToken cancellationToken)
    {
        return await WriteAsync(now =>
        {
            var args = new List<object?> { reason, now };
            var where = DeadLetterWhere(filter with { Status = "open" }, args);
            long discarded = Exec("UPDATE dead_letters SET status = 'discarded', discard_reason = $1, updated_at = $2" + where, [.. args]);
            AppendAudit(audit(discarded), now);
            return discarded;
        }, cancellationToken);
    }
}
