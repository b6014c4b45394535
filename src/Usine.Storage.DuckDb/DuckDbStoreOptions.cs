namespace Usine.Storage.DuckDb;

/// <summary>Settings of the embedded store.</summary>
public sealed record DuckDbStoreOptions
{
    /// <summary>The data directory; the database is <c>usine.duckdb</c> inside it. Required.</summary>
    public required string DataDirectory { get; init; }

    /// <summary>DuckDB's memory limit, default <c>384MB</c>. Past it DuckDB spills to disk rather than growing.</summary>
    public string MemoryLimit { get; init; } = "384MB";

    /// <summary>DuckDB worker threads, default: the number of cores.</summary>
    public int? Threads { get; init; }

    /// <summary>Keep every raw message in the raw zone, default true. Without it, replay from raw is impossible.</summary>
    public bool KeepRaw { get; init; } = true;

    /// <summary>
    /// Size of write-ahead log that triggers a checkpoint of the database file, default <c>128MB</c>: as fast as
    /// 256MB on the reference workload, with a lower peak of memory (docs/benchmarks.md).
    /// </summary>
    public string CheckpointThreshold { get; init; } = "128MB";

    /// <summary>The clock of storage, update and audit times, default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The root of the Parquet archive of the raw zone, default <c>archive</c> inside <see cref="DataDirectory"/>.</summary>
    public string? ArchiveDirectory { get; init; }

    public string DatabasePath => Path.Combine(DataDirectory, "usine.duckdb");

    public string ArchivePath => ArchiveDirectory ?? Path.Combine(DataDirectory, "archive");
}
