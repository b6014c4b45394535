using Npgsql;
using Usine.Ingestion;

namespace Usine.Storage.Postgres;

/// <summary>
/// The cluster store: raw zone, record tables partitioned by event time, referential, rollups, dead letters and
/// checkpoints in one PostgreSQL schema, served as facets (<see cref="IUsineStore"/>) that share it. Each process has
/// one writer connection, one transaction per batch; readers take pooled connections and see committed data only.
/// Any number of processes may open the same schema.
/// </summary>
public sealed class PostgresStore : IUsineStore
{
    private readonly PostgresDatabase _db;
    private readonly PostgresCommit _commit;

    private readonly PostgresSqlConsole _console;

    public PostgresStore(PostgresStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.ConnectionString);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Schema);
        _db = new PostgresDatabase(options);
        _commit = new PostgresCommit(_db);
        Admin = new PostgresAdmin(_db);
        Records = new PostgresRecordReads(_db);
        Avatars = new PostgresAvatars(_db);
        DeadLetters = new PostgresDeadLetters(_db);
        RawZone = new PostgresRawZone(_db);
        Audit = new PostgresAudit(_db);
        Operations = new PostgresOperations(_db);
        Archive = new PostgresArchive(_db);
        _console = new PostgresSqlConsole(_db);
    }

    public PostgresStoreOptions Options => _db.Options;

    public IRecordStore Commit => _commit;

    public IStoreAdmin Admin { get; }

    public IRecordReads Records { get; }

    public IAvatarReads Avatars { get; }

    public IDeadLetterStore DeadLetters { get; }

    public IRawZone RawZone { get; }

    public IAuditLog Audit { get; }

    public IOperationsStore Operations { get; }

    public IArchiveStore Archive { get; }

    /// <summary>Read-only SQL under roles of the store's own, plant-scoped by row-level security; null when the store's user may not make roles.</summary>
    public ISqlConsole? SqlConsole => _db.ConsoleReady ? _console : null;

    /// <summary>Cumulative time spent in each phase of commits, for benchmarks and metrics.</summary>
    public CommitTimings Timings => _commit.Timings;

    /// <summary>A new connection on the store's schema, for tools and tests that look at PostgreSQL itself.</summary>
    public NpgsqlConnection OpenConnection() => _db.OpenReader();

    /// <summary>The first column of the first row of a query, as a number; for tools and tests.</summary>
    public long Count(string sql, params object?[] args) => _db.Count(sql, args);

    public ValueTask DisposeAsync() => _db.DisposeAsync();
}

/// <summary>Cumulative seconds per commit phase (partitions, raw, referential, stage, insert, checkpoint, commit).</summary>
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
