using System.Globalization;
using DuckDB.NET.Data;
using Usine.Models;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>Model tables added while running, rollup rebuilds and the write probe.</summary>
internal sealed class DuckDbAdmin(DuckDbDatabase db) : DuckDbFacet(db), IStoreAdmin
{
    /// <summary>
    /// A small write of the store's own, committed like a batch: what tells, while no batch is being retried,
    /// that the store commits again (space came back on a full disk). It replaces one row of 64 KiB, so that it
    /// needs room in the log like a real batch rather than a few bytes that might still fit.
    /// </summary>
    public async Task ProbeWriteAsync(CancellationToken cancellationToken)
    {
        await Db.WriteLock.WaitAsync(cancellationToken);
        try
        {
            Exec("BEGIN TRANSACTION");
            try
            {
                Exec("CREATE TABLE IF NOT EXISTS store_probe (id INTEGER PRIMARY KEY, written_at TIMESTAMP NOT NULL, pad BLOB)");
                ExecWith("INSERT OR REPLACE INTO store_probe VALUES (1, $1, $2)", Now(), System.Security.Cryptography.RandomNumberGenerator.GetBytes(64 * 1024));
                Exec("COMMIT");
            }
            catch (Exception ex)
            {
                Rollback();
                throw WriteFault(ex);
            }
        }
        finally
        {
            Db.WriteLock.Release();
        }
    }

    /// <summary>
    /// Recomputes a model's rollups from its records for the buckets that overlap [from, to), in one
    /// transaction: the buckets are emptied and aggregated again from the record table. Rollups are
    /// updated incrementally as records land; this repairs them after records were removed or restored
    /// outside ingestion (a replay after rows were deleted, a manual fix).
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
                // Whole buckets only, aligned the way the rollup itself buckets (time_bucket), so that a
                // bucket is either fully recomputed or left alone.
                var width = $"INTERVAL {(long)definition.Bucket.TotalSeconds} SECOND";
                DateTime start, end;
                using (var cmd = Writer.CreateCommand())
                {
                    cmd.CommandText = $"SELECT time_bucket({width}, $1::TIMESTAMP), time_bucket({width}, $2::TIMESTAMP - INTERVAL 1 MICROSECOND) + {width}";
                    cmd.Parameters.Add(new DuckDBParameter(from));
                    cmd.Parameters.Add(new DuckDBParameter(to));
                    using var r = cmd.ExecuteReader();
                    r.Read();
                    start = DateTime.SpecifyKind(r.GetDateTime(0), DateTimeKind.Utc);
                    end = DateTime.SpecifyKind(r.GetDateTime(1), DateTimeKind.Utc);
                }

                var before = ExecCount($"DELETE FROM {rollup} WHERE bucket >= {Sql.Timestamp(start)} AND bucket < {Sql.Timestamp(end)}");
                var after = ExecCount(string.Format(CultureInfo.InvariantCulture, insert,
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

    /// <summary>
    /// Makes the tables of a model added or given a new version while the platform runs: the record table
    /// (new fields become columns), its staging table and rollups. Batches commit before or after, never during.
    /// </summary>
    public async Task AddModelAsync(ModelVersions versions, CancellationToken cancellationToken)
    {
        await Db.WriteLock.WaitAsync(cancellationToken);
        try
        {
            Db.Tables[versions.Name] = Db.EnsureModelTable(versions);
        }
        finally
        {
            Db.WriteLock.Release();
        }
    }
}
