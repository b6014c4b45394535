using Npgsql;
using NpgsqlTypes;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Sources;
using Usine.Storage.Postgres.Internal;

namespace Usine.Storage.Postgres;

/// <summary>Per-source totals and reconciliation from the hourly counters, and the alert history.</summary>
internal sealed class PostgresOperations(PostgresDatabase db) : PostgresFacet(db), IOperationsStore
{
    /// <summary>Keeps alert events, so that the history survives a restart.</summary>
    public async Task AppendAlertEventsAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken)
    {
        await using var conn = await Db.Source.OpenConnectionAsync(cancellationToken);
        await using var copy = await conn.BeginBinaryImportAsync(
            "COPY alert_events (id, status, rule, signal, severity, source_id, summary, since, at_time, subject) FROM STDIN (FORMAT BINARY)", cancellationToken);
        foreach (var e in events)
        {
            await copy.StartRowAsync(cancellationToken);
            await copy.WriteAsync(e.Id, NpgsqlDbType.Bigint, cancellationToken);
            await copy.WriteAsync(e.Status, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(e.Rule, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(e.Signal, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(e.Severity, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync((object?)e.Source ?? DBNull.Value, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(e.Summary, NpgsqlDbType.Text, cancellationToken);
            await copy.WriteAsync(DateTime.SpecifyKind(e.Since, DateTimeKind.Utc), NpgsqlDbType.TimestampTz, cancellationToken);
            await copy.WriteAsync(DateTime.SpecifyKind(e.At, DateTimeKind.Utc), NpgsqlDbType.TimestampTz, cancellationToken);
            await copy.WriteAsync((object?)e.Subject ?? DBNull.Value, NpgsqlDbType.Text, cancellationToken);
        }

        await copy.CompleteAsync(cancellationToken);
    }

    /// <summary>The newest <paramref name="limit"/> alert events, oldest first.</summary>
    public async Task<IReadOnlyList<AlertEvent>> RecentAlertEventsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var conn = await Db.Source.OpenConnectionAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand(
            "SELECT id, status, rule, signal, severity, source_id, summary, since, at_time, subject FROM (SELECT * FROM alert_events ORDER BY id DESC LIMIT $1) e ORDER BY id", conn);
        PostgresDatabase.Bind(cmd, [limit]);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        var list = new List<AlertEvent>();
        while (await r.ReadAsync(cancellationToken))
        {
            list.Add(new AlertEvent(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5),
                r.GetString(6), r.GetDateTime(7), r.GetDateTime(8), r.IsDBNull(9) ? null : r.GetString(9)));
        }

        return list;
    }

    private const int GapLimit = 1000;

    /// <summary>
    /// What every source delivered since its first message, from the hourly counters: landed messages, and of
    /// those the duplicates, the dead letters and the rest, stored; the last commit of a new batch is when the
    /// source was last seen. Records a replay stored are not counted: the message was counted when it landed.
    /// </summary>
    public IReadOnlyDictionary<string, Usine.Ingestion.SourceTotals> SourceTotals()
    {
        var totals = new Dictionary<string, Usine.Ingestion.SourceTotals>(StringComparer.Ordinal);
        using var conn = OpenReader();
        Read(conn, """
            SELECT coalesce(h.source_id, c.source_id), coalesce(h.landed, 0), coalesce(h.duplicates, 0), coalesce(h.rejected, 0), c.last_seen,
                   coalesce(h.decoded, 0)
            FROM (SELECT source_id, sum(landed)::BIGINT AS landed, sum(duplicates)::BIGINT AS duplicates, sum(rejected)::BIGINT AS rejected,
                         sum(decoded)::BIGINT AS decoded
                  FROM source_hours GROUP BY source_id) h
            FULL OUTER JOIN (SELECT source_id, max(updated_at) AS last_seen FROM checkpoints GROUP BY source_id) c ON c.source_id = h.source_id
            """, [], r =>
            {
                var landed = r.GetInt64(1);
                var duplicates = r.GetInt64(2);
                var rejected = r.GetInt64(3);
                totals[r.GetString(0)] = new Usine.Ingestion.SourceTotals(landed, Math.Max(0, r.GetInt64(5) - duplicates - rejected), duplicates, rejected,
                    r.IsDBNull(4) ? null : r.GetDateTime(4));
            });
        return totals;
    }

    /// <summary>
    /// Reconciles a source over [from, to): per landing hour, the counters kept with each commit against
    /// what the record and dead-letter tables hold; imported files against their line and declared counts;
    /// and the model's sequence field, whose gaps are messages that never arrived.
    /// </summary>
    public ReconcileReport Reconcile(SourceDefinition source, DateTime from, DateTime to, long pending) =>
        ReconcileAll([source], from, to)[source.Id] with { Pending = pending };

    /// <summary>
    /// Reconciles many sources over [from, to) in one pass: a query per table for all of them rather than a few
    /// per source, which is what a check of every source every few minutes needs at thousands of sources. Every
    /// read sees one snapshot, so batches committing meanwhile never show as a mismatch.
    /// </summary>
    public IReadOnlyDictionary<string, ReconcileReport> ReconcileAll(IReadOnlyCollection<SourceDefinition> sources, DateTime from, DateTime to)
    {
        var reports = new Dictionary<string, ReconcileReport>(StringComparer.Ordinal);
        if (sources.Count == 0)
        {
            return reports;
        }

        using var conn = OpenReader();
        using var snapshot = conn.BeginTransaction(System.Data.IsolationLevel.RepeatableRead);
        var ids = sources.Select(s => s.Id).ToList();
        var idList = string.Join(", ", ids.Select(Sql.Literal));
        var hours = ids.ToDictionary(id => id, _ => new SortedDictionary<DateTime, long[]>(), StringComparer.Ordinal);
        long[] Row(string id, DateTime h) => hours[id].TryGetValue(h, out var r) ? r : hours[id][h] = new long[8];

        Read(conn, $"SELECT source_id, hour, landed, stored, replayed, duplicates, rejected, decoded FROM source_hours WHERE source_id IN ({idList}) AND hour >= $1 AND hour < $2",
            [Hour(from), to], r =>
            {
                var row = Row(r.GetString(0), r.GetDateTime(1));
                for (var i = 0; i < 5; i++)
                {
                    row[i] = r.GetInt64(i + 2);
                }

                row[7] = r.GetInt64(7);
            });
        foreach (var byModel in sources.GroupBy(s => Defs.ModelOf(s).Name))
        {
            var inModel = string.Join(", ", byModel.Select(s => Sql.Literal(s.Id)));
            Read(conn, $"SELECT source_id, date_trunc('hour', stored_at), count(*) FROM {Sql.RecordTable(byModel.Key)} WHERE source_id IN ({inModel}) AND stored_at >= $1 AND stored_at < $2 GROUP BY 1, 2",
                [Hour(from), to], r => Row(r.GetString(0), r.GetDateTime(1))[5] = r.GetInt64(2));
        }

        Read(conn, $"SELECT source_id, date_trunc('hour', created_at), count(*) FROM dead_letters WHERE source_id IN ({idList}) AND created_at >= $1 AND created_at < $2 GROUP BY 1, 2",
            [Hour(from), to], r => Row(r.GetString(0), r.GetDateTime(1))[6] = r.GetInt64(2));

        var mismatches = ids.ToDictionary(id => id, _ => new List<string>(), StringComparer.Ordinal);
        var hourReports = ids.ToDictionary(id => id, _ => new List<ReconcileHour>(), StringComparer.Ordinal);
        foreach (var source in sources)
        {
            var table = Sql.RecordTable(Defs.ModelOf(source).Name);
            foreach (var (hour, c) in hours[source.Id])
            {
                var problems = new List<string>();
                // Each message a landed one decoded to is a record, a duplicate or a dead letter.
                var outcomes = c[1] - c[2] + c[3] + c[4];
                if (c[7] != outcomes)
                {
                    problems.Add(c[7] == c[0]
                        ? $"{c[0]} landed but {outcomes} accounted for (stored - replayed + duplicates + rejected)"
                        : $"{c[0]} landed and decoded to {c[7]} messages, but {outcomes} accounted for (stored - replayed + duplicates + rejected)");
                }

                if (c[5] != c[1])
                {
                    problems.Add($"{c[1]} records stored but {c[5]} in table {table}");
                }

                if (c[6] != c[4])
                {
                    problems.Add($"{c[4]} messages rejected but {c[6]} dead letters");
                }

                mismatches[source.Id].AddRange(problems.Select(p => $"{hour:yyyy-MM-dd HH}:00: {p}"));
                hourReports[source.Id].Add(new ReconcileHour(hour, c[0], c[1], c[2], c[3], c[4], c[5], c[6], problems) { Decoded = c[7] });
            }
        }

        var files = ids.ToDictionary(id => id, _ => new List<FileReconciliation>(), StringComparer.Ordinal);
        Read(conn, $"SELECT source_id, stream_id, name, declared_count, line_count, coalesce(landed, 0), finished_at FROM streams WHERE source_id IN ({idList}) AND kind = 'file' AND created_at >= $1 AND created_at < $2 ORDER BY created_at",
            [from, to], r =>
            {
                var id = r.GetString(0);
                long? declared = r.IsDBNull(3) ? null : r.GetInt64(3);
                long? lines = r.IsDBNull(4) ? null : r.GetInt64(4);
                var landed = r.GetInt64(5);
                DateTime? finished = r.IsDBNull(6) ? null : r.GetDateTime(6);
                var name = r.IsDBNull(2) ? null : r.GetString(2);
                var problems = new List<string>();
                if (declared is { } d && lines is { } l && d != l)
                {
                    problems.Add($"declares {d} lines but has {l}");
                }

                if (lines is { } n && landed != n)
                {
                    problems.Add($"has {n} lines but {landed} landed");
                }

                mismatches[id].AddRange(problems.Select(p => $"file {name ?? r.GetString(1)}: {p}"));
                files[id].Add(new FileReconciliation(r.GetString(1), name, declared, lines, landed, finished, problems));
            });

        var gaps = ids.ToDictionary(id => id, _ => new List<SequenceGap>(), StringComparer.Ordinal);
        foreach (var byModel in sources.Where(s => Defs.ModelOf(s).Sequence is not null).GroupBy(s => Defs.ModelOf(s).Name))
        {
            var model = Defs.ModelOf(byModel.First());
            var seq = model.Sequence!;
            var scope = seq.By.Count > 0
                ? "concat_ws('/', plant, " + string.Join(", ", seq.By.Select(b => $"CAST({Sql.Quote(b)} AS VARCHAR)")) + ")"
                : model.Avatar is not null ? "coalesce(avatar_id, plant)" : "plant";
            var f = Sql.Quote(seq.Field);
            var inModel = string.Join(", ", byModel.Select(s => Sql.Literal(s.Id)));
            Read(conn, $"""
                SELECT source_id, scope, prev, s, prev_time, t FROM (
                    SELECT *, row_number() OVER (PARTITION BY source_id ORDER BY t) AS k FROM (
                        SELECT source_id, {scope} AS scope, {f} AS s, event_time AS t,
                               lag({f}) OVER w AS prev, lag(event_time) OVER w AS prev_time
                        FROM {Sql.RecordTable(model.Name)} WHERE source_id IN ({inModel}) AND event_time >= $1 AND event_time < $2 AND {f} IS NOT NULL
                        WINDOW w AS (PARTITION BY source_id, {scope} ORDER BY {f})) x
                    WHERE s - prev > 1) y
                WHERE k <= {GapLimit}
                ORDER BY source_id, t
                """, [from, to], r =>
                {
                    var after = r.GetInt64(2);
                    var before = r.GetInt64(3);
                    gaps[r.GetString(0)].Add(new SequenceGap(r.GetString(1), after, before, before - after - 1, r.GetDateTime(4), r.GetDateTime(5)));
                });
        }

        snapshot.Commit();
        foreach (var source in sources)
        {
            var g = gaps[source.Id];
            if (g.Count > 0)
            {
                var field = Defs.ModelOf(source).Sequence!.Field;
                mismatches[source.Id].Add($"{g.Sum(x => x.Missing)} messages missing from sequence '{field}' in {g.Count} gap(s){(g.Count == GapLimit ? " (first " + GapLimit + " gaps)" : "")}");
            }

            reports[source.Id] = new ReconcileReport(source.Id, from, to, hourReports[source.Id], files[source.Id], g, 0, mismatches[source.Id]);
        }

        return reports;
    }

    private static void Read(NpgsqlConnection conn, string sql, object[] args, Action<NpgsqlDataReader> row)
    {
        using var cmd = new NpgsqlCommand(sql, conn);
        PostgresDatabase.Bind(cmd, args);

        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            row(r);
        }
    }
}
