namespace Usine.Storage.Postgres;

/// <summary>Settings of the PostgreSQL store.</summary>
public sealed record PostgresStoreOptions
{
    /// <summary>An Npgsql connection string (<c>Host=db;Username=usine;Password=...;Database=usine</c>). Required.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>
    /// The schema that holds the store's tables, default <c>usine</c>; made when missing. Several stores can share
    /// a database, each in its own schema.
    /// </summary>
    public string Schema { get; init; } = "usine";

    /// <summary>The span of one partition of a record table, default <see cref="RecordPartitioning.Month"/>.</summary>
    public RecordPartitioning Partitioning { get; init; } = RecordPartitioning.Month;

    /// <summary>Keep every raw message in the raw zone, default true. Without it, replay from raw is impossible.</summary>
    public bool KeepRaw { get; init; } = true;

    /// <summary>The clock of storage, update and audit times, default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The root of the Parquet archive of the raw zone, default none: this store keeps the archive's manifest, not its files.</summary>
    public string? ArchiveDirectory { get; init; }
}

/// <summary>How record tables are split by event time: one partition per calendar month or per day (UTC).</summary>
public enum RecordPartitioning
{
    Month,
    Day,
}
