using System.Globalization;
using Usine.Models;
using Usine.Storage.Postgres.Internal;

namespace Usine.Storage.Postgres;

/// <summary>Model tables added while running, rollup rebuilds and the write probe.</summary>
internal sealed class PostgresAdmin(PostgresDatabase db) : PostgresFacet(db), IStoreAdmin
{
    /// <summary>A small write of the store's own, committed like a batch: it succeeds once the server accepts writes again.</summary>
    public Task ProbeWriteAsync(CancellationToken cancellationToken) =>
        WriteAsync(now => Exec(
            "INSERT INTO store_probe AS p VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET written_at = EXCLUDED.written_at, pad = EXCLUDED.pad",
            now, System.Security.Cryptography.RandomNumberGenerator.GetBytes(64 * 1024)), cancellationToken);

    /// <summary>
    /// Recomputes a model's rollups from its records for the whole buckets that overlap [from, to), in one
    /// transaction: the buckets are emptied and aggregated again from the record table.
    /// </summary>
    public Task<IReadOnlyList<RollupRebuild>> RebuildRollupsAsync(string model, DateTime from, DateTime to, AuditRecord audit, CancellationToken cancellationToken)
    {
        if (!Db.Tables.TryGetValue(model, out var table))
        {
            throw new ArgumentException($"unknown model '{model}' (models: {string.Join(", ", Db.Tables.Keys.Order(StringComparer.Ordinal))})", nameof(model));
        }

        if (table.Rollups.Count == 0)
        {
            throw new ArgumentException($"model '{model}' has no rollups", nameof(model));
        }

        var records = Sql.RecordTable(model);
        return WriteAsync<IReadOnlyList<RollupRebuild>>(now =>
        {
            var done = new List<RollupRebuild>();
            foreach (var (definition, rollup, insert) in table.Rollups)
            {
                // Whole buckets only, aligned the way the rollup itself buckets, so that a bucket is either fully
                // recomputed or left alone.
                var start = Bucket(definition.Bucket, from);
                var end = Bucket(definition.Bucket, to.AddTicks(-10)) + definition.Bucket;
                var before = Exec($"DELETE FROM {rollup} WHERE bucket >= $1 AND bucket < $2", start, end);
                var after = Exec(string.Format(CultureInfo.InvariantCulture, insert,
                    $"(SELECT * FROM {records} WHERE event_time >= {Sql.Timestamp(start)} AND event_time < {Sql.Timestamp(end)})"));
                done.Add(new RollupRebuild(definition.Name, rollup, start, end, before, after));
            }

            AppendAudit(audit with
            {
                DetailJson = System.Text.Json.JsonSerializer.Serialize(new { model, from, to, rollups = done.Select(d => new { d.Rollup, d.From, d.To, d.RowsBefore, d.RowsAfter }) }),
                Result = "rebuilt " + string.Join(", ", done.Select(d => $"{d.Rollup}: {d.RowsBefore.ToString(CultureInfo.InvariantCulture)} -> {d.RowsAfter.ToString(CultureInfo.InvariantCulture)} rows")),
            }, now);
            return done;
        }, cancellationToken);
    }

    /// <summary>The start of the bucket of <paramref name="width"/> that holds <paramref name="t"/>, counted from 2000-01-03 as the rollups count.</summary>
    private static DateTime Bucket(TimeSpan width, DateTime t)
    {
        var origin = new DateTime(2000, 1, 3, 0, 0, 0, DateTimeKind.Utc);
        var ticks = (t - origin).Ticks;
        var remainder = ((ticks % width.Ticks) + width.Ticks) % width.Ticks;
        return DateTime.SpecifyKind(t.AddTicks(-remainder), DateTimeKind.Utc);
    }

    /// <summary>
    /// Makes the tables of a model added or given a new version while the platform runs: the record table (new fields
    /// become columns), its staging table and rollups. Batches of this process commit before or after, never during.
    /// </summary>
    public async Task AddModelAsync(ModelVersions versions, CancellationToken cancellationToken)
    {
        await Db.WriteLock.WaitAsync(cancellationToken);
        try
        {
            Db.Tables[versions.Name] = Db.AddModel(versions);
        }
        finally
        {
            Db.WriteLock.Release();
        }
    }
}
