using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using DuckDB.NET.Data;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

public sealed partial class DuckDbStore
{
    private static readonly HashSet<string> FileFunctions = new(StringComparer.OrdinalIgnoreCase)
    {
        "read_csv", "read_csv_auto", "sniff_csv", "read_json", "read_json_auto", "read_json_objects", "read_json_objects_auto",
        "read_ndjson", "read_ndjson_auto", "read_ndjson_objects", "read_parquet", "parquet_scan", "parquet_metadata",
        "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata", "read_text", "read_blob", "glob", "query",
        "query_table", "iceberg_scan", "delta_scan", "sqlite_scan", "postgres_scan", "mysql_scan", "getenv", "read_xlsx",
    };

    [GeneratedRegex("\"function_name\":\"([^\"]+)\"")]
    private static partial Regex FunctionNames();

    [GeneratedRegex("\"table_name\":\"([^\"]+)\"")]
    private static partial Regex TableNames();

    /// <summary>A new connection for reading; it sees what was committed when each query starts.</summary>
    /// <remarks>DuckDB.NET shares one database instance between the connections of a process to the same file.</remarks>
    public DuckDBConnection OpenReader()
    {
        var conn = new DuckDBConnection($"Data Source={_options.DatabasePath}");
        conn.Open();
        return conn;
    }

    /// <summary>Checks that <paramref name="sql"/> is one SELECT that reads no file, or throws <see cref="QueryRefusedException"/>.</summary>
    public void EnsureReadOnly(string sql)
    {
        using var conn = OpenReader();
        using var _ = ParseReadOnly(conn, sql);
    }

    /// <summary>The parsed tree of <paramref name="sql"/> (json_serialize_sql), once it is known to be one SELECT that reads no file.</summary>
    private static JsonDocument ParseReadOnly(DuckDBConnection conn, string sql)
    {
        if (string.IsNullOrWhiteSpace(sql))
        {
            throw new QueryRefusedException("the query is empty");
        }

        string json;
        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "SELECT json_serialize_sql(" + Sql.Literal(sql) + ")";
            json = (string)cmd.ExecuteScalar()!;
        }

        var doc = JsonDocument.Parse(json);
        try
        {
            CheckReadOnly(doc.RootElement, json);
            return doc;
        }
        catch
        {
            doc.Dispose();
            throw;
        }
    }

    private static void CheckReadOnly(JsonElement root, string json)
    {
        if (root.TryGetProperty("error", out var err) && err.ValueKind == JsonValueKind.True)
        {
            var message = root.TryGetProperty("error_message", out var m) ? m.GetString() : "not a query";
            if (message is not null && message.Contains("Only SELECT", StringComparison.OrdinalIgnoreCase))
            {
                throw new QueryRefusedException("only read-only SELECT queries are allowed (no INSERT, UPDATE, DELETE, CREATE, COPY, SET, ATTACH, PRAGMA)");
            }

            throw new QueryRefusedException("invalid SQL: " + message);
        }

        if (root.GetProperty("statements").GetArrayLength() != 1)
        {
            throw new QueryRefusedException("send one statement at a time");
        }

        foreach (Match f in FunctionNames().Matches(json))
        {
            if (FileFunctions.Contains(f.Groups[1].Value))
            {
                throw new QueryRefusedException($"function {f.Groups[1].Value} reads files or runs other queries and is not allowed here");
            }
        }

        foreach (Match t in TableNames().Matches(json))
        {
            var name = t.Groups[1].Value;
            if (name.Contains('/', StringComparison.Ordinal) || name.Contains('.', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal))
            {
                throw new QueryRefusedException($"'{name}' looks like a file; only the tables and views of the store can be read");
            }
        }
    }

    /// <summary>Runs a read-only query with a row limit and a time limit.</summary>
    /// <param name="plants">
    /// The plant scope: null reads every relation of the store; a set (empty: nothing) limits the query to the
    /// relations that carry a plant, each of them showing only the rows of these plants.
    /// </param>
    public async Task<QueryResult> QueryAsync(string sql, int limit, TimeSpan timeout, CancellationToken cancellationToken, IReadOnlySet<string>? plants = null)
    {
        using var conn = OpenReader();
        using (var parsed = ParseReadOnly(conn, sql))
        {
            if (plants is not null)
            {
                ScopeToPlants(conn, parsed.RootElement, plants);
            }
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        await using var reg = cts.Token.Register(() =>
        {
            try
            {
                cmd.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The query finished in between.
            }
        });
        try
        {
            return await Task.Run(() =>
            {
                using var r = cmd.ExecuteReader();
                var cols = new List<QueryColumn>();
                for (var i = 0; i < r.FieldCount; i++)
                {
                    cols.Add(new QueryColumn(r.GetName(i), r.GetDataTypeName(i)));
                }

                var rows = new List<object?[]>();
                var truncated = false;
                while (r.Read())
                {
                    if (rows.Count >= limit)
                    {
                        truncated = true;
                        break;
                    }

                    var row = new object?[r.FieldCount];
                    for (var i = 0; i < row.Length; i++)
                    {
                        row[i] = r.IsDBNull(i) ? null : Plain(r.GetValue(i));
                    }

                    rows.Add(row);
                }

                return new QueryResult(cols, rows, truncated, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }, CancellationToken.None);
        }
        catch (Exception ex) when (ex is DuckDBException or OperationCanceledException && cts.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the query ran longer than its limit of {timeout.TotalSeconds:0.#} s and was cancelled", ex);
        }
        catch (DuckDBException ex)
        {
            throw new QueryRefusedException(FirstLine(ex.Message));
        }
    }

    private static string FirstLine(string s)
    {
        var i = s.IndexOf('\n', StringComparison.Ordinal);
        return i < 0 ? s : s[..i];
    }

    /// <summary>Values JSON can carry as they are; the rest as text.</summary>
    private static object? Plain(object v) => v switch
    {
        string or bool or int or long or short or byte or sbyte or uint or ushort or float or double or decimal => v,
        ulong u => u,
        DateTime dt => DateTime.SpecifyKind(dt, DateTimeKind.Utc),
        DateTimeOffset dto => dto.UtcDateTime,
        Guid g => g.ToString(),
        BigInteger b when b >= long.MinValue && b <= long.MaxValue => (long)b,
        BigInteger b => b.ToString(CultureInfo.InvariantCulture),
        byte[] bytes => Convert.ToBase64String(bytes),
        System.Collections.IDictionary => v,
        System.Collections.IEnumerable e => e.Cast<object?>().Select(x => x is null ? null : Plain(x)).ToList(),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture),
    };

    /// <summary>Runs a fixed, trusted query (not user SQL) and maps each row.</summary>
    public List<T> Read<T>(string sql, Func<DuckDBDataReader, T> map, params object?[] args)
    {
        using var conn = OpenReader();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        foreach (var a in args)
        {
            cmd.Parameters.Add(new DuckDBParameter(a ?? DBNull.Value));
        }

        using var r = cmd.ExecuteReader();
        var list = new List<T>();
        while (r.Read())
        {
            list.Add(map(r));
        }

        return list;
    }

    public long Count(string sql, params object?[] args) => Read(sql, r => r.IsDBNull(0) ? 0 : Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), args).FirstOrDefault();

    /// <summary>Stored records per model.</summary>
    /// <summary>Records per model, of <paramref name="plants"/> only when given.</summary>
    public IReadOnlyDictionary<string, long> RecordCounts(IReadOnlySet<string>? plants = null)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var name in _tables.Keys)
        {
            counts[name] = Count($"SELECT count(*) FROM {Sql.RecordTable(name)}{InPlants(plants)}");
        }

        return counts;
    }

    /// <summary>A WHERE clause keeping rows to the plants; nothing for every plant.</summary>
    private static string InPlants(IReadOnlySet<string>? plants) => plants is null
        ? ""
        : plants.Count == 0 ? " WHERE FALSE" : $" WHERE plant IN ({string.Join(", ", plants.Order(StringComparer.Ordinal).Select(Sql.Literal))})";

    public IReadOnlyList<string> Plants() => Read("SELECT id FROM avatars WHERE type = 'plant' ORDER BY id", r => r.GetString(0));


    private static byte[] ReadBlob(DuckDBDataReader r, int i)
    {
        using var s = r.GetStream(i);
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>Avatars, of <paramref name="plants"/> only when given.</summary>
    public long AvatarTotal(IReadOnlySet<string>? plants = null) => Count("SELECT count(*) FROM avatars" + InPlants(plants));

    /// <summary>The avatars with this id (one per type that uses it), or the one of this type.</summary>
    /// <remarks>
    /// The type is checked here rather than in SQL: DuckDB reads the index on <c>avatars(id)</c> only when the id is
    /// the one condition on the table, and an id names one avatar per type at most.
    /// </remarks>
    private List<AvatarRow> FindAvatars(string id, string? type)
    {
        var found = Read(AvatarsByIdSql, MapAvatar, id);
        return type is null ? found : found.FindAll(a => a.Type == type);
    }

    internal const string AvatarsByIdSql = "SELECT avatar_key, type, id, plant, parent_key, first_seen FROM avatars WHERE id = $1 ORDER BY type";

    internal AvatarRow? AvatarByKey(long key) => Read("SELECT avatar_key, type, id, plant, parent_key, first_seen FROM avatars WHERE avatar_key = $1", MapAvatar, key).FirstOrDefault();

    /// <summary>The latest 200 links of an avatar, to avatars of the plant scope (null: every plant).</summary>
    public IReadOnlyList<AvatarLinkRow> Links(long key, IReadOnlySet<string>? plants = null)
    {
        var args = new SqlArgs();
        var c = new List<string> { $"l.from_key = {args.Add(key)}" };
        if (plants is not null)
        {
            c.Add(PlantCondition("a.plant", plants, args));
        }

        return Read(
            $"SELECT l.kind, a.type, a.id, l.valid_from, l.valid_to FROM avatar_links l JOIN avatars a ON a.avatar_key = l.to_key{WhereClause(c)} ORDER BY l.valid_from DESC LIMIT 200",
            r => new AvatarLinkRow(r.GetString(0), r.GetString(1), r.GetString(2), Utc(r.GetDateTime(3)), r.IsDBNull(4) ? null : Utc(r.GetDateTime(4))),
            [.. args.Values]);
    }

    /// <summary>Records about one avatar, of the plant scope (null: every plant): counts per model and the most recent ones.</summary>
    public (Dictionary<string, long> Counts, List<RecentRecord> Recent) AvatarRecords(long key, int recent, IReadOnlySet<string>? plants = null)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var all = new List<RecentRecord>();
        var args = new SqlArgs();
        var c = new List<string> { $"avatar_key = {args.Add(key)}" };
        if (plants is not null)
        {
            c.Add(PlantCondition("plant", plants, args));
        }

        var where = WhereClause(c);
        foreach (var (name, table) in _tables)
        {
            var n = Count($"SELECT count(*) FROM {Sql.RecordTable(name)}{where}", [.. args.Values]);
            if (n == 0)
            {
                continue;
            }

            counts[name] = n;
            var cols = table.Columns.Select(c => c.Name).ToList();
            all.AddRange(Read(
                $"SELECT event_time, {string.Join(", ", cols.Select(Sql.Quote))} FROM {Sql.RecordTable(name)}{where} ORDER BY event_time DESC LIMIT {recent}",
                r =>
                {
                    var values = new Dictionary<string, object?>(StringComparer.Ordinal);
                    for (var i = 0; i < cols.Count; i++)
                    {
                        values[cols[i]] = r.IsDBNull(i + 1) ? null : Plain(r.GetValue(i + 1));
                    }

                    return new RecentRecord(name, Utc(r.GetDateTime(0)), values);
                },
                [.. args.Values]));
        }

        return (counts, [.. all.OrderByDescending(x => x.Time).Take(recent)]);
    }

    private static AvatarRow MapAvatar(DuckDBDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), Utc(r.GetDateTime(5)));

    private static DateTime Utc(DateTime t) => DateTime.SpecifyKind(t, DateTimeKind.Utc);

}
