using System.Globalization;
using System.Text.Json;
using System.Text;
using DuckDB.NET.Data;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>
/// Reads of records: pages, aggregates, exports. Every user value travels as a parameter; names of columns come from
/// the model only. Every read takes a plant scope: null reads every plant, a set reads only those plants.
/// </summary>
internal sealed partial class DuckDbRecordReads(DuckDbDatabase db) : DuckDbFacet(db), IRecordReads
{
    /// <summary>The most shift starts one request may span, all patterns together (three shifts a day for 15 plants is 16,425 a year).</summary>
    /// <summary>The columns and rollups of a model, or null when there is no such model.</summary>
    public ExploreSchema? Schema(string model) =>
        Db.Tables.TryGetValue(model, out var t) ? new ExploreSchema(model, t.Columns, t.Latest.Rollups) : null;

    /// <summary>One page of records, with a cursor to the next one when there is more.</summary>
    /// <remarks>
    /// Pages are a keyset walk over (sort value, record id): a record stored while a client pages is either
    /// after the cursor (and shows up) or before it (and does not), but never shifts the pages, unlike OFFSET.
    /// </remarks>
    public Task<RecordPage> QueryRecordsAsync(RecordQuery q, IReadOnlySet<string>? plants, CancellationToken cancellationToken)
    {
        if (q.Limit is < 1 or > 10_000)
        {
            throw new ArgumentException($"limit: {q.Limit} is not between 1 and 10000");
        }

        CheckRange(q.Filter);
        var t = Table(q.Model);
        var schema = Schema(q.Model)!;
        var sortType = schema.TypeOf(q.Sort.Column, "sort");
        var fingerprint = RecordCursor.Fingerprint(q.Filter, q.Sort);
        var args = new SqlArgs();
        var conditions = Conditions(q.Filter, plants, args);
        var col = Sql.Quote(q.Sort.Column);
        if (q.Cursor is { } text)
        {
            var cursor = RecordCursor.Decode(text);
            if (cursor.Sort != q.Sort.ToString() || cursor.Filter != fingerprint)
            {
                throw new ArgumentException("cursor: it belongs to a query with other filters or another sort; repeat the parameters of the first page, or leave the cursor out to start again");
            }

            var cmp = q.Sort.Descending ? "<" : ">";
            var id = args.Add(cursor.RecordId);
            if (cursor.Value is null)
            {
                // Records without a value come last, in record id order.
                conditions.Add($"({col} IS NULL AND record_id {cmp} {id})");
            }
            else
            {
                var v = args.Add(ExploreSchema.ParseValue(q.Sort.Column, sortType, cursor.Value, "cursor"));
                conditions.Add($"({col} {cmp} {v} OR ({col} = {v} AND record_id {cmp} {id}) OR {col} IS NULL)");
            }
        }

        var dir = q.Sort.Descending ? "DESC" : "ASC";
        var sql = $"SELECT {SelectColumns(t)} FROM {Sql.RecordTable(t.Name)}{WhereClause(conditions)} "
            + $"ORDER BY {col} {dir} NULLS LAST, record_id {dir} LIMIT {q.Limit + 1}";
        var rows = ReadRows(sql, args, cancellationToken);
        string? next = null;
        if (rows.Count > q.Limit)
        {
            rows.RemoveAt(rows.Count - 1);
            var last = rows[^1];
            var value = last[q.Sort.Column];
            next = new RecordCursor(q.Sort.ToString(), fingerprint, value is null ? null : ExploreSchema.Text(value), Guid.Parse((string)last["record_id"]!)).Encode();
        }

        return Task.FromResult(new RecordPage(rows, next));
    }

    /// <summary>
    /// Writes the records of a model matching a filter to <paramref name="output"/>, in event time order. CSV and
    /// NDJSON go row by row as DuckDB reads them; Parquet is written by DuckDB to a temporary file first (the
    /// format needs its footer), which is then copied and deleted.
    /// </summary>
    public async Task ExportAsync(string model, RecordFilter filter, ExportFormat format, IReadOnlySet<string>? plants, Stream output, CancellationToken cancellationToken)
    {
        var (sql, args) = ExportQuery(model, filter, plants);
        if (format == ExportFormat.Parquet)
        {
            await ExportParquetAsync(sql, args, output, cancellationToken);
            return;
        }

        using var conn = OpenReader();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        args.Bind(cmd);
        using var r = await Task.Run(cmd.ExecuteReader, cancellationToken);
        await RecordExportWriter.WriteAsync(r, format, output, Plain, cancellationToken);
    }

    private (string Sql, SqlArgs Args) ExportQuery(string model, RecordFilter filter, IReadOnlySet<string>? plants)
    {
        CheckRange(filter);
        var t = Table(model);
        var args = new SqlArgs();
        var sql = $"SELECT {SelectColumns(t).Replace("record_id,", "CAST(record_id AS VARCHAR) AS record_id,", StringComparison.Ordinal)} "
            + $"FROM {Sql.RecordTable(t.Name)}{WhereClause(Conditions(filter, plants, args))} ORDER BY event_time, record_id";
        return (sql, args);
    }

    private async Task ExportParquetAsync(string sql, SqlArgs args, Stream output, CancellationToken cancellationToken)
    {
        var tmp = Path.Combine(Db.Options.DataDirectory, "tmp");
        Directory.CreateDirectory(tmp);
        var file = Path.Combine(tmp, $"export-{Guid.NewGuid():N}.parquet");
        try
        {
            await Task.Run(() =>
            {
                using var conn = OpenReader();
                using var cmd = conn.CreateCommand();
                cmd.CommandText = $"COPY ({sql}) TO {Sql.Literal(file)} (FORMAT parquet)";
                args.Bind(cmd);
                cmd.ExecuteNonQuery();
            }, cancellationToken);
            await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous | FileOptions.SequentialScan);
            await stream.CopyToAsync(output, cancellationToken);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Records per model, of <paramref name="plants"/> only when given.</summary>
    public IReadOnlyDictionary<string, long> RecordCounts(IReadOnlySet<string>? plants = null)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var name in Db.Tables.Keys)
        {
            counts[name] = Count($"SELECT count(*) FROM {Sql.RecordTable(name)}{InPlants(plants)}");
        }

        return counts;
    }

    /// <summary>The latest records stored from one source, newest first.</summary>
    public IReadOnlyList<SourceRecord> SourceRecords(string sourceId, string model, int limit)
    {
        if (!Db.Tables.TryGetValue(model, out var table))
        {
            return [];
        }

        var cols = table.Columns.Select(c => c.Name).ToList();
        return Read(
            $"""
            SELECT event_time, stored_at, avatar_id, raw_position, {string.Join(", ", cols.Select(Sql.Quote))} FROM {Sql.RecordTable(model)}
            WHERE source_id = $1 ORDER BY stored_at DESC, raw_position DESC LIMIT {Math.Clamp(limit, 1, 10_000)}
            """,
            r =>
            {
                var values = new Dictionary<string, object?>(StringComparer.Ordinal);
                for (var i = 0; i < cols.Count; i++)
                {
                    values[cols[i]] = r.IsDBNull(i + 4) ? null : Plain(r.GetValue(i + 4));
                }

                return new SourceRecord(model, Utc(r.GetDateTime(0)), Utc(r.GetDateTime(1)), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt64(3), values);
            },
            sourceId);
    }
}
