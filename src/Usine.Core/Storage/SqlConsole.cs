namespace Usine.Storage;

/// <summary>
/// Read-only SQL over the store, for the console of the API, the UI and <c>usine sql</c>: one SELECT, no file
/// access, stopped after a timeout and cut at a row limit; under a plant scope, only the tables and rows of those
/// plants. The dialect is the store's; a store may not offer it (<see cref="IUsineStore.SqlConsole"/> is null).
/// </summary>
public interface ISqlConsole
{
    /// <exception cref="QueryRefusedException">The query writes, reads files, or reads beyond <paramref name="plants"/>.</exception>
    Task<QueryResult> QueryAsync(string sql, int limit, TimeSpan timeout, CancellationToken cancellationToken, IReadOnlySet<string>? plants = null);
}

/// <summary>The answer to a read-only query.</summary>
public sealed record QueryResult(IReadOnlyList<QueryColumn> Columns, IReadOnlyList<object?[]> Rows, bool Truncated, double ElapsedMs);

public sealed record QueryColumn(string Name, string Type);

/// <summary>A query that is not a single read-only SELECT, or that reads files; the message says why.</summary>
public sealed class QueryRefusedException(string message) : Exception(message)
{
    public QueryRefusedException() : this("query refused") { }

    public QueryRefusedException(string message, Exception inner) : this(message + ": " + inner.Message) { }

    /// <summary>True when the query would read beyond the caller's plants, rather than being malformed or writing.</summary>
    public bool OutOfScope { get; init; }
}
