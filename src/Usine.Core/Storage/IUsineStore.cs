using Usine.Ingestion;
using Usine.Models;

namespace Usine.Storage;

/// <summary>
/// Every store, seen by its facets: the commit path the engine writes through, and the reads and operations the
/// HTTP API, the web UI and the background services use. An implementation (DuckDB embedded, PostgreSQL in a
/// cluster) hands out one object per facet; the facets share the store's connections and write lock, and every
/// one of them is registered on its own in a service container as well (<c>AddDuckDbStore</c>).
/// </summary>
/// <remarks>
/// Reads that take <c>plants</c> are plant-scoped: null reads every plant, a set reads only those plants, an empty
/// set reads nothing. A facet never takes SQL from its callers, except <see cref="ISqlConsole"/>, which a store may
/// not offer.
/// </remarks>
public interface IUsineStore : IAsyncDisposable
{
    /// <summary>Opening, checkpoints and the atomic commit of batches (the engine's side).</summary>
    IRecordStore Commit { get; }

    /// <summary>Models' tables added while running, rollup rebuilds and the write probe.</summary>
    IStoreAdmin Admin { get; }

    /// <summary>Records, aggregates and exports.</summary>
    IRecordReads Records { get; }

    /// <summary>Avatars, their attributes and their time-versioned links.</summary>
    IAvatarReads Avatars { get; }

    IDeadLetterStore DeadLetters { get; }

    /// <summary>The raw zone read back for replays, and the streams it holds.</summary>
    IRawZone RawZone { get; }

    IAuditLog Audit { get; }

    /// <summary>Counters of operations: reconciliation, source totals, alert history.</summary>
    IOperationsStore Operations { get; }

    /// <summary>The long-term archive of the raw zone.</summary>
    IArchiveStore Archive { get; }

    /// <summary>Read-only SQL over the store, plant-scoped; null when the store offers no SQL console.</summary>
    ISqlConsole? SqlConsole { get; }
}

/// <summary>Operations on the store's structure and health, rare and outside the commit path.</summary>
public interface IStoreAdmin
{
    /// <summary>
    /// Makes the tables of a model added or given a new version while the platform runs. Batches commit before or
    /// after, never during.
    /// </summary>
    Task AddModelAsync(ModelVersions versions, CancellationToken cancellationToken);

    /// <summary>Recomputes a model's rollups over the whole buckets that overlap [from, to), audited, in one transaction.</summary>
    Task<IReadOnlyList<RollupRebuild>> RebuildRollupsAsync(string model, DateTime from, DateTime to, AuditRecord audit, CancellationToken cancellationToken);

    /// <summary>Writes and commits a probe row: it succeeds once the store accepts writes again.</summary>
    Task ProbeWriteAsync(CancellationToken cancellationToken);
}
