using Npgsql;
using Usine.Ingestion;

namespace Usine.Storage.Postgres;

/// <summary>
/// The manifest of the raw zone's archive. In a cluster the raw messages are kept by the JetStream streams, which
/// replays read; this store keeps the manifest tables (<c>archive_files</c>, <c>archive_file_streams</c>,
/// <c>archive_progress</c>) and reads them, but writes no Parquet itself: the operations that write, check or read
/// archive files say so, rather than doing nothing.
/// </summary>
internal sealed class PostgresArchive(PostgresDatabase db) : PostgresFacet(db), IArchiveStore
{
    private const string NotHere = "the PostgreSQL store does not write or read Parquet archive files: in cluster mode the raw messages stay in the JetStream "
        + "stream (replay by time range reads it); run the archive from the embedded DuckDB store";

    public string ArchiveRoot => Db.Options.ArchiveDirectory ?? "";

    public Task<ArchiveRunResult> ArchiveAsync(DateTime cutoff, DateTime now, CancellationToken cancellationToken) => throw new NotSupportedException(NotHere);

    public Task<RawRetentionResult> DeleteArchivedRawAsync(DateOnly before, DateTime now, CancellationToken cancellationToken) => throw new NotSupportedException(NotHere);

    public Task<ArchiveRetentionResult> DeleteArchivePartitionsAsync(DateOnly before, DateTime now, CancellationToken cancellationToken) => throw new NotSupportedException(NotHere);

    public Task<ArchiveVerifyResult> VerifyArchiveAsync(CancellationToken cancellationToken) => throw new NotSupportedException(NotHere);

    public IAsyncEnumerable<RawZoneMessage> ReadArchiveAsync(string sourceId, DateTime from, DateTime to, CancellationToken cancellationToken) => throw new NotSupportedException(NotHere);

    /// <summary>Every file of the manifest, optionally of one source, by plant, source, day and path.</summary>
    public IReadOnlyList<ArchiveFile> ArchiveFiles(string? sourceId)
    {
        object?[] args = sourceId is null ? [] : [sourceId];
        var streams = Read(
            "SELECT s.path, s.stream_id, s.rows, s.min_position, s.max_position FROM archive_file_streams s JOIN archive_files f USING (path)"
            + (sourceId is null ? "" : " WHERE f.source_id = $1") + " ORDER BY s.path, s.stream_id",
            r => (Path: r.GetString(0), Stream: new ArchiveFileStream(r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4))),
            args).ToLookup(s => s.Path, s => s.Stream, StringComparer.Ordinal);
        return Read(
            "SELECT path, plant, source_id, day, rows, bytes, sha256, min_received_at, max_received_at, created_at FROM archive_files"
            + (sourceId is null ? "" : " WHERE source_id = $1") + " ORDER BY plant, source_id, day, path",
            r => new ArchiveFile(r.GetString(0), r.GetString(1), r.GetString(2), r.GetFieldValue<DateOnly>(3),
                r.GetInt64(4), r.GetInt64(5), r.GetString(6), r.GetDateTime(7), r.GetDateTime(8), r.GetDateTime(9),
                [.. streams[r.GetString(0)]]),
            args);
    }

    /// <summary>The manifest summed per plant, source and day.</summary>
    public IReadOnlyList<ArchivePartition> ArchivePartitions(string? sourceId) =>
        [.. ArchiveFiles(sourceId).GroupBy(f => (f.Plant, f.SourceId, f.Day)).Select(g => new ArchivePartition(
            g.Key.Plant, g.Key.SourceId, g.Key.Day, g.Count(), g.Sum(f => f.Rows), g.Sum(f => f.Bytes), g.Min(f => f.MinReceivedAt), g.Max(f => f.MaxReceivedAt)))];
}
