using System.Globalization;
using System.Text.Json;
using System.Text;
using Npgsql;
using Usine.Storage.Postgres.Internal;

namespace Usine.Storage.Postgres;

/// <summary>
/// Reads of records: pages, aggregates, exports. Every user value travels as a parameter; names of columns come from
/// the model only. Every read takes a plant scope: null reads every plant, a set reads only those plants.
/// </summary>
internal sealed partial class PostgresRecordReads(PostgresDatabase db) : PostgresFacet(db), IRecordReads
{
    /// <summary>The columns and rollups of a model, or null when there is no such model.</summary>
    public ExploreSchema? Schema(string model) =>
        Db.Tables.TryGetValue(model, out var t) ? new ExploreSchema(model, t.Columns, t.Latest.Rollups) : null;

    /// <summary>One page of records, with a cursor to the next one when there is more.</summary>
    /// <remarks>
    /// Pages are a keyset walk over (sort value, record id): a record stored while a client pages is either
    /// after the cursor (and shows up) or before it (and does not), but never shifts the pages, unlike OFFSET.
    /// </remarks>
    public async Task<RecordPage> QueryRecordsAsync(RecordQuery q, IReadOnlySet<string>? plants, CancellationToken cancellationToken)
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
        var rows = await ReadRowsAsync(sql, args, cancellationToken);
        string? next = null;
        if (rows.Count > q.Limit)
        {
            rows.RemoveAt(rows.Count - 1);
            var last = rows[^1];
            var value = last[q.Sort.Column];
            next = new RecordCursor(q.Sort.ToString(), fingerprint, value is null ? null : ExploreSchema.Text(value), Guid.Parse((string)last["record_id"]!)).Encode();
        }

        return new RecordPage(rows, next);
    }

    /// <summary>
    /// Writes the records of a model matching a filter to <paramref name="output"/>, in event time order, row by row as
    /// PostgreSQL sends them. Parquet is the embedded store's: this store has no Parquet writer.
    /// </summary>
    public async Task ExportAsync(string model, RecordFilter filter, ExportFormat format, IReadOnlySet<string>? plants, Stream output, CancellationToken cancellationToken)
    {
        if (format == ExportFormat.Parquet)
        {
            throw new ArgumentException("format: the PostgreSQL store exports csv or ndjson, not parquet; ask for format=csv or format=ndjson");
        }

        var (sql, args) = ExportQuery(model, filter, plants);
        await using var conn = await Db.Source.OpenConnectionAsync(cancellationToken);
        await using var cmd = new NpgsqlCommand(sql, conn);
        args.Bind(cmd);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        await RecordExportWriter.WriteAsync(r, format, output, Plain, cancellationToken);
    }

    private (string Sql, SqlArgs Args) ExportQuery(string model, RecordFilter filter, IReadOnlySet<string>? plants)
    {
        CheckRange(filter);
        var t = Table(model);
        var args = new SqlArgs();
        var sql = $"SELECT {SelectColumns(t).Replace("record_id,", "CAST(record_id AS text) AS record_id,", StringComparison.Ordinal)} "
            + $"FROM {Sql.RecordTable(t.Name)}{WhereClause(Conditions(filter, plants, args))} ORDER BY event_time, record_id";
        return (sql, args);
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

                return new SourceRecord(model, r.GetDateTime(0), r.GetDateTime(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt64(3), values);
            },
            sourceId);
    }
}
