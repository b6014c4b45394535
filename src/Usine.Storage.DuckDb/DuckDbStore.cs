using DuckDB.NET.Data;
using Usine.Ingestion;

namespace Usine.Storage.DuckDb;

/// <summary>
/// The embedded store: raw zone, record tables, referential, rollups, dead letters and checkpoints in one DuckDB
/// database, served as facets (<see cref="IUsineStore"/>) that share it. One connection writes, under a lock, one
/// transaction per batch; readers use their own connections and see committed data only.
/// </summary>
public sealed class DuckDbStore : IUsineStore
{
    private readonly DuckDbDatabase _db;
    private readonly DuckDbCommit _commit;

    public DuckDbStore(DuckDbStoreOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DataDirectory);
        _db = new DuckDbDatabase(options);
        var archive = new DuckDbArchive(_db);
        _commit = new DuckDbCommit(_db, archive);
        Admin = new DuckDbAdmin(_db);
        Records = new DuckDbRecordReads(_db);
        Avatars = new DuckDbAvatars(_db);
        DeadLetters = new DuckDbDeadLetters(_db);
        RawZone = new DuckDbRawZone(_db);
        Audit = new DuckDbAudit(_db);
        Operations = new DuckDbOperations(_db);
        Archive = archive;
        SqlConsole = new DuckDbSqlConsole(_db);
    }

    public DuckDbStoreOptions Options => _db.Options;

    public IRecordStore Commit => _commit;

    public IStoreAdmin Admin { get; }

    public IRecordReads Records { get; }

    public IAvatarReads Avatars { get; }

    public IDeadLetterStore DeadLetters { get; }

    public IRawZone RawZone { get; }

    public IAuditLog Audit { get; }

    public IOperationsStore Operations { get; }

    public IArchiveStore Archive { get; }

    public ISqlConsole? SqlConsole { get; }

    /// <summary>Cumulative time spent in each phase of commits, for benchmarks and metrics.</summary>
    public CommitTimings Timings => _commit.Timings;

    /// <summary>A new connection on the database, for tools and tests that look at DuckDB itself.</summary>
    public DuckDBConnection OpenReader() => _db.OpenReader();

    /// <summary>Runs a query on a reader connection, for tools and tests that look at DuckDB itself.</summary>
    public List<T> Read<T>(string sql, Func<DuckDBDataReader, T> map, params object?[] args) => _db.Read(sql, map, args);

    /// <summary>The first column of the first row of a query, as a number; for tools and tests.</summary>
    public long Count(string sql, params object?[] args) => _db.Count(sql, args);

    public ValueTask DisposeAsync() => _db.DisposeAsync();
}

/// <summary>Cumulative seconds per commit phase (raw, referential, stage, dedup, insert, rollups, checkpoint, commit).</summary>
public sealed class CommitTimings
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, double> _seconds = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, double> Seconds => _seconds;

    internal void Add(string phase, System.Diagnostics.Stopwatch clock)
    {
        _seconds.AddOrUpdate(phase, clock.Elapsed.TotalSeconds, (_, v) => v + clock.Elapsed.TotalSeconds);
        clock.Restart();
    }
}
