namespace Usine.Storage;

/// <summary>
/// The archive of the raw zone: files per plant, source and day of receipt, with a manifest, and retention of the
/// raw zone and of the archive itself.
/// </summary>
public interface IArchiveStore
{
    /// <summary>Where the archive lives, as the store was configured.</summary>
    string ArchiveRoot { get; }

    /// <summary>Archives the raw messages received before <paramref name="cutoff"/> that no file holds yet.</summary>
    Task<ArchiveRunResult> ArchiveAsync(DateTime cutoff, DateTime now, CancellationToken cancellationToken);

    /// <summary>Deletes raw messages received before <paramref name="before"/> that the archive holds, checked.</summary>
    Task<RawRetentionResult> DeleteArchivedRawAsync(DateOnly before, DateTime now, CancellationToken cancellationToken);

    /// <summary>Deletes archive partitions of days before <paramref name="before"/>.</summary>
    Task<ArchiveRetentionResult> DeleteArchivePartitionsAsync(DateOnly before, DateTime now, CancellationToken cancellationToken);

    IReadOnlyList<ArchiveFile> ArchiveFiles(string? sourceId);

    IReadOnlyList<ArchivePartition> ArchivePartitions(string? sourceId);

    /// <summary>Hashes every archive file again against the manifest.</summary>
    Task<ArchiveVerifyResult> VerifyArchiveAsync(CancellationToken cancellationToken);

    /// <summary>The archived messages of a source received within [from, to), grouped by stream in position order.</summary>
    IAsyncEnumerable<Ingestion.RawZoneMessage> ReadArchiveAsync(string sourceId, DateTime from, DateTime to, CancellationToken cancellationToken);
}

/// <summary>What one archive run wrote.</summary>
/// <param name="Partitions">Plant/source/day partitions that received a new part file.</param>
public sealed record ArchiveRunResult(DateTime Cutoff, int Files, int Partitions, long Rows, long Bytes);

/// <summary>What raw-zone retention deleted, and what it kept because it is not archived (or its archive failed its check).</summary>
public sealed record RawRetentionResult(DateOnly Before, long RowsDeleted, long RowsKeptUnarchived, IReadOnlyList<ArchiveFileProblem> Problems);

/// <summary>What archive retention deleted.</summary>
public sealed record ArchiveRetentionResult(DateOnly Before, int PartitionsDeleted, int FilesDeleted, long RowsDeleted, long BytesDeleted);

/// <summary>One Parquet file of the archive, as the manifest lists it. <see cref="Path"/> is relative to the archive root, with <c>/</c>.</summary>
public sealed record ArchiveFile(
    string Path, string Plant, string SourceId, DateOnly Day, long Rows, long Bytes, string Sha256,
    DateTime MinReceivedAt, DateTime MaxReceivedAt, DateTime CreatedAt, IReadOnlyList<ArchiveFileStream> Streams);

/// <summary>The rows one stream contributed to an archive file.</summary>
public sealed record ArchiveFileStream(string StreamId, long Rows, long MinPosition, long MaxPosition);

/// <summary>The archive of one plant, source and day.</summary>
public sealed record ArchivePartition(string Plant, string SourceId, DateOnly Day, int Files, long Rows, long Bytes, DateTime MinReceivedAt, DateTime MaxReceivedAt);

/// <summary>A file of the manifest that is missing or does not hash to what the manifest recorded.</summary>
/// <param name="Problem"><c>missing</c> or <c>altered</c>.</param>
public sealed record ArchiveFileProblem(string Path, string Problem, string Detail);

/// <summary>The outcome of re-hashing every archive file. <see cref="Unlisted"/>: Parquet files under the root that the manifest does not list.</summary>
public sealed record ArchiveVerifyResult(int Checked, int Ok, long Bytes, IReadOnlyList<ArchiveFileProblem> Problems, IReadOnlyList<string> Unlisted)
{
    public bool IsOk => Problems.Count == 0;
}
