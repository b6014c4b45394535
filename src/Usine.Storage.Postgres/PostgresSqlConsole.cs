using System.Globalization;
using System.Text;
using Npgsql;
using Usine.Storage.Postgres.Internal;

namespace Usine.Storage.Postgres;

/// <summary>
/// The SQL console on PostgreSQL: one read-only SELECT, with a row limit and a time limit, run under a role of its
/// own so that PostgreSQL itself enforces what it may read.
/// </summary>
/// <remarks>
/// Two roles without login are made for the store's schema. <c>SCHEMA_reader</c> may read every table of the schema:
/// the console of a caller who sees every plant. <c>SCHEMA_scoped</c> may read only the relations that carry a plant
/// (record tables, rollups and their views, avatars, their attributes and link events), and row-level security
/// policies on those keep the rows of the plants of the query, named in the transaction's <c>usine.plants</c>
/// setting — a schema-qualified name or a join changes nothing, since the rows are filtered by PostgreSQL. Each
/// query runs in a read-only transaction that takes on the role with <c>SET LOCAL ROLE</c>; the query itself is one
/// statement (no <c>;</c> inside), starts with SELECT, WITH, VALUES or TABLE, and may not call <c>set_config</c>,
/// the one function that could change the role or the plants back. The store's own connections, which own the
/// tables, are not subject to the policies. When the store's user may not create roles, there is no console.
/// </remarks>
internal sealed class PostgresSqlConsole(PostgresDatabase db) : PostgresFacet(db), ISqlConsole
{
    public async Task<QueryResult> QueryAsync(string sql, int limit, TimeSpan timeout, CancellationToken cancellationToken, IReadOnlySet<string>? plants = null)
    {
        EnsureReadOnly(sql);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await using var conn = await Db.Source.OpenConnectionAsync(cancellationToken);
        await using var tx = await conn.BeginTransactionAsync(cancellationToken);
        PostgresDatabase.Exec(conn, "SET TRANSACTION READ ONLY");
        PostgresDatabase.Exec(conn, $"SET LOCAL statement_timeout = {Math.Max(1, (long)timeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)}");
        PostgresDatabase.Exec(conn, "SELECT set_config('usine.plants', $1, true)", plants is null ? "" : string.Join(",", plants.Order(StringComparer.Ordinal)));
        PostgresDatabase.Exec(conn, $"SET LOCAL ROLE {Sql.Quote(plants is null ? Db.ReaderRole : Db.ScopedRole)}");
        try
        {
            // A batch of one command: PostgreSQL itself refuses a second statement in it, whatever the text hides.
            await using var batch = new NpgsqlBatch(conn) { BatchCommands = { new NpgsqlBatchCommand(sql.Trim().TrimEnd(';')) } };
            await using var r = await batch.ExecuteReaderAsync(cancellationToken);
            var cols = new List<QueryColumn>();
            for (var i = 0; i < r.FieldCount; i++)
            {
                cols.Add(new QueryColumn(r.GetName(i), r.GetDataTypeName(i)));
            }

            var rows = new List<object?[]>();
            var truncated = false;
            while (await r.ReadAsync(cancellationToken))
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
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.QueryCanceled)
        {
            throw new TimeoutException($"the query ran longer than its limit of {timeout.TotalSeconds:0.#} s and was cancelled", ex);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new QueryRefusedException(plants is null
                ? ex.MessageText
                : $"{ex.MessageText}: a plant-scoped key reads the record tables, rollups, avatars, their attributes and links of its plants")
            {
                OutOfScope = plants is not null,
            };
        }
        catch (PostgresException ex)
        {
            throw new QueryRefusedException(ex.MessageText);
        }
    }

    /// <summary>One statement that only reads, or <see cref="QueryRefusedException"/> saying why not.</summary>
    internal static void EnsureReadOnly(string sql)
    {
        if (string.IsNullOrWhiteSpace(sql))
        {
            throw new QueryRefusedException("the query is empty");
        }

        var (words, semicolons) = Scan(sql);
        if (semicolons > 0)
        {
            throw new QueryRefusedException("one statement at a time: the query holds a ';' before its end");
        }

        if (words.Count == 0 || words[0] is not ("select" or "with" or "values" or "table"))
        {
            throw new QueryRefusedException("only read-only SELECT queries are allowed (no INSERT, UPDATE, DELETE, CREATE, COPY, SET)");
        }

        if (words.Contains("set_config"))
        {
            throw new QueryRefusedException("set_config() changes the session's settings and cannot be called from the SQL console");
        }
    }

    /// <summary>The words of <paramref name="sql"/> in lower case (quoted identifiers unquoted), outside strings and comments, and the ';' not at its end.</summary>
    private static (List<string> Words, int Semicolons) Scan(string sql)
    {
        var words = new List<string>();
        var semicolons = 0;
        var end = sql.TrimEnd().TrimEnd(';').TrimEnd().Length;
        var i = 0;
        while (i < end)
        {
            var c = sql[i];
            if (c == '-' && i + 1 < end && sql[i + 1] == '-')
            {
                while (i < end && sql[i] != '\n')
                {
                    i++;
                }
            }
            else if (c == '/' && i + 1 < end && sql[i + 1] == '*')
            {
                var close = sql.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = close < 0 ? end : close + 2;
            }
            else if (c == '\'')
            {
                i = SkipQuoted(sql, i, '\'', end);
            }
            else if (c == '"')
            {
                var close = SkipQuoted(sql, i, '"', end);
                words.Add(sql[(i + 1)..Math.Max(i + 1, close - 1)].Replace("\"\"", "\"", StringComparison.Ordinal).ToLowerInvariant());
                i = close;
            }
            else if (c == '$' && DollarTag(sql, i) is { } tag)
            {
                var close = sql.IndexOf(tag, i + tag.Length, StringComparison.Ordinal);
                i = close < 0 ? end : close + tag.Length;
            }
            else if (char.IsLetter(c) || c == '_')
            {
                var start = i;
                while (i < end && (char.IsLetterOrDigit(sql[i]) || sql[i] is '_' or '$'))
                {
                    i++;
                }

                var word = sql[start..i].ToLowerInvariant();
                if (word is "u" && i < end && sql[i] == '&')
                {
                    throw new QueryRefusedException("Unicode-escaped names and strings (U&) are not allowed in the SQL console");
                }

                words.Add(word);
            }
            else
            {
                if (c == ';')
                {
                    semicolons++;
                }

                i++;
            }
        }

        return (words, semicolons);
    }

    private static int SkipQuoted(string sql, int i, char quote, int end)
    {
        i++;
        while (i < end)
        {
            if (quote == '\'' && sql[i] == '\\')
            {
                // Whether a backslash escapes the next quote depends on the string's prefix and on a setting: none is taken.
                throw new QueryRefusedException("backslashes in strings are not allowed in the SQL console");
            }

            if (sql[i] == quote)
            {
                if (i + 1 < end && sql[i + 1] == quote)
                {
                    i += 2;
                    continue;
                }

                return i + 1;
            }

            i++;
        }

        return end;
    }

    /// <summary>A dollar-quote opening tag at <paramref name="i"/> (<c>$$</c> or <c>$name$</c>), or null.</summary>
    private static string? DollarTag(string sql, int i)
    {
        var j = i + 1;
        while (j < sql.Length && (char.IsLetterOrDigit(sql[j]) || sql[j] == '_'))
        {
            j++;
        }

        return j < sql.Length && sql[j] == '$' ? sql[i..(j + 1)] : null;
    }
}
