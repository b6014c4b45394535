using System.Globalization;
using DuckDB.NET.Data;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

public sealed partial class DuckDbStore
{
    /// <summary>
    /// Recomputes a model's rollups from its records for the buckets that overlap [from, to), in one
    /// transaction: the buckets are emptied and aggregated again from the record table. Rollups are
    /// updated incrementally as records land; this repairs them after records were removed or restored
    /// outside ingestion (a replay after rows were deleted, a manual fix).
    /// </summary>
    public Task<IReadOnlyList<RollupRebuild>> RebuildRollupsAsync(string model, DateTime from, DateTime to, AuditRecord audit, CancellationToken cancellationToken)
    {
        if (!_tables.TryGetValue(model, out var table))
        {
            throw new ArgumentException($"unknown model '{model}' (models: {string.Join(", ", _tables.Keys.Order(StringComparer.Ordinal))})", nameof(model));
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
}
