using System.Text.Json;
using System.Text.RegularExpressions;
using DuckDB.NET.Data;
using Usine.Avatars;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>The SQL console: one read-only SELECT on a reader connection, with a timeout and a row limit.</summary>
/// <remarks>
/// Read-only SQL limited to a set of plants. The query may name, as tables, only the relations that carry a
/// plant (record tables, rollups, avatars, their attributes and links) and its own CTEs, by their bare names. On the query's
/// connection, each relation it names is then shadowed by a temporary view of the same name that keeps the
/// rows of the scope's plants only.
/// <remarks>
/// Shadowing rests on how DuckDB resolves a bare name: the temporary catalog comes first in the search path,
/// for the query and for the views of the store it reads (a view's body is bound when it is read). So
/// <c>m_screwing</c>, <c>M_SCREWING</c> and <c>"m_screwing"</c> (names are case-insensitive, even quoted) all
/// read the temporary view. A qualified name escapes it: <c>main.m_screwing</c> still finds the temporary
/// view (its schema is also called main), but <c>usine.main.m_screwing</c> reads the table, which is why the
/// temporary views name their source with the database, and why the query may qualify nothing.
/// </remarks>
/// </remarks>
internal sealed partial class DuckDbSqlConsole(DuckDbDatabase db) : DuckDbFacet(db), ISqlConsole
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

    /// <summary>
    /// How a readable relation is narrowed: by its plant column, (links) by the plants of the avatars at both ends,
    /// or (attributes) by the plant of their avatar as well as their own (that of the record that set them).
    /// </summary>
    private enum ScopeFilter
    {
        Plant,
        Link,
        Avatar,
    }

    private sealed record ScopedRelation(string Name, ScopeFilter Filter);

    /// <summary>The kinds of table reference a scoped query may use; any other (a table function first of all) is refused.</summary>
    private static readonly HashSet<string> AllowedTableRefs = new(StringComparer.Ordinal)
    {
        "BASE_TABLE", "SUBQUERY", "JOIN", "EXPRESSION_LIST", "EMPTY", "PIVOT", "SHOW_REF",
    };

    /// <summary>Every kind of table reference DuckDB knows, so that one is recognized even without the fields all of them carry.</summary>
    private static readonly HashSet<string> TableRefKinds = new(StringComparer.Ordinal)
    {
        "INVALID", "BASE_TABLE", "SUBQUERY", "JOIN", "TABLE_FUNCTION", "EXPRESSION_LIST", "CTE", "EMPTY", "EMPTY_FROM",
        "PIVOT", "SHOW_REF", "COLUMN_DATA", "DELIM_GET", "BOUND_TABLE_REF",
    };

    /// <summary>
    /// Functions that tell about the server rather than the data: its settings (the data and temporary
    /// directories among them), variables, environment, version, catalog, connections and sequences. A caller kept
    /// to some plants has no business there. Table functions (duckdb_settings(), pragma_*, read_*) are refused
    /// with every table function; these are the scalar ones and the catalog macros.
    /// </summary>
    private static readonly HashSet<string> ServerFunctions = new(StringComparer.OrdinalIgnoreCase)
    {
        "current_setting", "getvariable", "getenv", "version", "current_database", "current_catalog", "current_schema",
        "current_schemas", "current_user", "current_role", "session_user", "user", "current_query", "current_connection_id",
        "current_query_id", "current_transaction_id", "txid_current", "in_search_path", "nextval", "currval",
        "col_description", "obj_description", "shobj_description", "format_pg_type", "which_secret",
    };

    /// <summary>Whether a function of that name is refused to a plant-scoped query: the list above, and the families of catalog functions.</summary>
    private static bool IsServerFunction(string name) =>
        ServerFunctions.Contains(name)
        || name.StartsWith("duckdb_", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("pragma_", StringComparison.OrdinalIgnoreCase)
        || (name.StartsWith("pg_", StringComparison.OrdinalIgnoreCase) && !name.Equals("pg_typeof", StringComparison.OrdinalIgnoreCase))
        || (name.StartsWith("has_", StringComparison.OrdinalIgnoreCase) && name.EndsWith("_privilege", StringComparison.OrdinalIgnoreCase));

    /// <summary>The relations a plant-scoped query may read, by name as DuckDB resolves it (case-insensitively).</summary>
    private Dictionary<string, ScopedRelation> ScopedRelations()
    {
        var relations = new Dictionary<string, ScopedRelation>(StringComparer.OrdinalIgnoreCase);
        void Add(string name, ScopeFilter filter) => relations[name] = new ScopedRelation(name, filter);
        foreach (var (name, table) in Db.Tables)
        {
            Add(Sql.RecordTable(name), ScopeFilter.Plant);
            foreach (var (definition, rollup, _) in table.Rollups)
            {
                Add(rollup, ScopeFilter.Plant);
                Add(Sql.RollupView(name, definition), ScopeFilter.Plant);
            }
        }

        Add("avatars", ScopeFilter.Plant);
        Add("avatar_links", ScopeFilter.Link);
        Add("avatar_link_events", ScopeFilter.Link);
        Add("avatar_attributes", ScopeFilter.Avatar);
        return relations;
    }

    /// <summary>
    /// Checks that the parsed query reads only relations a plant-scoped query may read, then shadows each of
    /// them on <paramref name="conn"/> with a temporary view of the rows of <paramref name="plants"/>.
    /// </summary>
    private void ScopeToPlants(DuckDBConnection conn, JsonElement parsed, IReadOnlySet<string> plants)
    {
        var readable = ScopedRelations();
        var refs = new QueryRefs();
        refs.Visit(parsed.GetProperty("statements"));
        if (refs.Problems.Count > 0)
        {
            throw Refused(readable, refs.Problems[0]);
        }

        if (refs.Functions.FirstOrDefault(IsServerFunction) is { } server)
        {
            throw new QueryRefusedException($"{server}() tells about the server (its settings, files, catalog or environment), not about the data, and cannot be called with a plant-scoped key; "
                + "query the record tables, rollups and avatars of your plants")
            {
                OutOfScope = true,
            };
        }

        var used = new Dictionary<string, ScopedRelation>(StringComparer.OrdinalIgnoreCase);
        foreach (var t in refs.Tables)
        {
            if (t.Catalog.Length > 0 || t.Schema.Length > 0)
            {
                var qualified = string.Join('.', new[] { t.Catalog, t.Schema, t.Name }.Where(p => p.Length > 0));
                throw Refused(readable, $"'{qualified}' names a schema or a database; a plant-scoped query names relations by their bare names");
            }

            if (readable.TryGetValue(t.Name, out var relation))
            {
                used[relation.Name] = relation;
            }
            else if (!refs.Ctes.Contains(t.Name))
            {
                throw Refused(readable, $"'{t.Name}' cannot be read with a plant-scoped key");
            }
        }

        // A CTE hides a relation only inside its own query: a reference outside it (a CTE of a subquery named
        // from the outer query) would reach the relation itself. A CTE may therefore not take the name of any
        // relation that is not readable, so that every bare name resolves to something scoped or to nothing.
        var clashes = refs.Ctes.Where(c => !readable.ContainsKey(c)).ToList();
        if (clashes.Count > 0)
        {
            var names = CatalogRelationNames(conn);
            if (clashes.FirstOrDefault(names.Contains) is { } clash)
            {
                throw Refused(readable, $"the CTE '{clash}' has the name of a relation of the store; rename it");
            }
        }

        var database = Sql.Quote(CurrentDatabase(conn));
        var inScope = plants.Count == 0
            ? "FALSE"
            : $"plant IN ({string.Join(", ", plants.Order(StringComparer.Ordinal).Select(Sql.Literal))})";
        // Links carry no plant: one is read when the avatars at both ends are of the scope, as the avatar API shows
        // them (a flins vehicle's link to a douai station tells about douai too). The scoped avatar_links view keeps
        // the validity computed over the whole history, so a link ends where it really ended.
        foreach (var r in used.Values)
        {
            var source = $"{database}.main.{Sql.Quote(r.Name)}";
            var scoped = $"SELECT avatar_key FROM {database}.main.avatars WHERE {inScope}";
            var where = r.Filter switch
            {
                ScopeFilter.Plant => inScope,
                ScopeFilter.Avatar => $"{inScope} AND avatar_key IN ({scoped})",
                _ => $"from_key IN ({scoped}) AND to_key IN ({scoped})",
            };
            Exec(conn, $"CREATE TEMP VIEW {Sql.Quote(r.Name)} AS SELECT * FROM {source} WHERE {where}");
        }
    }

    private static QueryRefusedException Refused(Dictionary<string, ScopedRelation> readable, string reason) =>
        new($"{reason}. A plant-scoped key can read only the record tables, rollups, avatars, avatar attributes and links of its plants: "
            + string.Join(", ", readable.Values.Select(r => r.Name).Order(StringComparer.Ordinal)))
        {
            OutOfScope = true,
        };

    /// <summary>Every table and view name of every catalog the connection sees, the system ones included.</summary>
    private static HashSet<string> CatalogRelationNames(DuckDBConnection conn)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()";
        using var r = cmd.ExecuteReader();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (r.Read())
        {
            names.Add(r.GetString(0));
        }

        return names;
    }

    private static string CurrentDatabase(DuckDBConnection conn)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = "SELECT current_database()";
        return (string)cmd.ExecuteScalar()!;
    }

    /// <summary>
    /// The tables and CTEs of a query tree as json_serialize_sql writes it. Every object of the tree is visited,
    /// so that no subquery (in a select list, a condition, a CTE, a lateral join, a PIVOT list) is missed.
    /// </summary>
    private sealed class QueryRefs
    {
        public List<(string Catalog, string Schema, string Name)> Tables { get; } = [];

        public HashSet<string> Ctes { get; } = new(StringComparer.OrdinalIgnoreCase);

        /// <summary>Every function the query calls, anywhere in it (scalar, aggregate, window, macro), in the order met.</summary>
        public List<string> Functions { get; } = [];

        /// <summary>Why the query cannot be scoped, in the order met.</summary>
        public List<string> Problems { get; } = [];

        public void Visit(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in e.EnumerateArray())
                {
                    Visit(item);
                }

                return;
            }

            if (e.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            if (IsTableRef(e))
            {
                CheckTableRef(e);
            }
            else if (e.TryGetProperty("function_name", out var function) && function.ValueKind == JsonValueKind.String)
            {
                Functions.Add(function.GetString()!);
            }

            if (e.TryGetProperty("cte_map", out var ctes) && ctes.ValueKind == JsonValueKind.Object && ctes.TryGetProperty("map", out var map))
            {
                foreach (var entry in map.EnumerateArray())
                {
                    Ctes.Add(Text(entry, "key"));
                }
            }

            foreach (var p in e.EnumerateObject())
            {
                Visit(p.Value);
            }
        }

        /// <summary>
        /// A table reference carries a type, an alias and a sample, like a query node (which also has modifiers)
        /// and unlike an expression (which has a class). Telling them apart by shape as well as by known kinds
        /// means that a kind of reference this code does not know is refused rather than overlooked.
        /// </summary>
        private static bool IsTableRef(JsonElement e) =>
            e.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            && !e.TryGetProperty("class", out _) && !e.TryGetProperty("modifiers", out _)
            && ((e.TryGetProperty("sample", out _) && e.TryGetProperty("alias", out _)) || TableRefKinds.Contains(type.GetString()!));

        private void CheckTableRef(JsonElement e)
        {
            var type = Text(e, "type");
            if (type == "TABLE_FUNCTION")
            {
                var name = e.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object ? Text(f, "function_name") : "?";
                Problems.Add($"the table function {name}() cannot be read with a plant-scoped key");
                return;
            }

            if (!AllowedTableRefs.Contains(type))
            {
                Problems.Add($"a {type} reference cannot be read with a plant-scoped key");
                return;
            }

            // DESCRIBE and SUMMARIZE of a relation or a query carry that query, checked like any other; SHOW TABLES
            // and the like list the catalog and carry none.
            if (type == "SHOW_REF" && !(e.TryGetProperty("query", out var q) && q.ValueKind == JsonValueKind.Object))
            {
                Problems.Add("SHOW lists the whole catalog and cannot be used with a plant-scoped key");
                return;
            }

            if (type == "BASE_TABLE")
            {
                Tables.Add((Text(e, "catalog_name"), Text(e, "schema_name"), Text(e, "table_name")));
            }
        }

        private static string Text(JsonElement e, string property) =>
            e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
    }
}
