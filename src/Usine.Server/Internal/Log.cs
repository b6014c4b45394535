using Microsoft.Extensions.Logging;

namespace Usine.Server.Internal;

/// <summary>Log events of the server, ids 3000-3199; the archive 3300-3399.</summary>
internal static partial class Log
{
    [LoggerMessage(3001, LogLevel.Information, "Imported {File} into source {SourceId}: {Messages} messages, {Stored} records, {DeadLetters} dead letters")]
    public static partial void DropImported(this ILogger logger, string sourceId, string file, long messages, long stored, long deadLetters);

    [LoggerMessage(3002, LogLevel.Error, "File {File} of source {SourceId} could not be imported; moved to failed/")]
    public static partial void DropFailed(this ILogger logger, Exception exception, string sourceId, string file);

    [LoggerMessage(3003, LogLevel.Error, "Looking for files of source {SourceId} in {Folder} failed")]
    public static partial void DropScanFailed(this ILogger logger, Exception exception, string sourceId, string folder);

    [LoggerMessage(3004, LogLevel.Information, "Usine listens on {Urls} with data in {DataDirectory}")]
    public static partial void Listening(this ILogger logger, string urls, string dataDirectory);

    [LoggerMessage(3005, LogLevel.Error, "Request {Method} {Path} failed")]
    public static partial void RequestFailed(this ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(3101, LogLevel.Error, "Checking the streams for silence failed; the next check runs on schedule")]
    public static partial void StreamCheckFailed(this ILogger logger, Exception exception);

    [LoggerMessage(3300, LogLevel.Information, "Archived {Files} files, {Rows} raw messages, {Bytes} bytes received before {Cutoff}")]
    public static partial void ArchiveWritten(this ILogger logger, int files, long rows, long bytes, DateTime cutoff);

    [LoggerMessage(3301, LogLevel.Information, "Retention deleted {RawRowsDeleted} raw messages and {Partitions} archive partitions ({Files} files); kept {RawRowsKept} raw messages that are not archived")]
    public static partial void RetentionApplied(this ILogger logger, long rawRowsDeleted, long rawRowsKept, int partitions, int files);

    [LoggerMessage(3302, LogLevel.Error, "Raw messages kept: archive file {Path} is {Problem} ({Detail}); restore it or re-archive, then retention can delete them")]
    public static partial void RetentionKeptRaw(this ILogger logger, string path, string problem, string detail);

    [LoggerMessage(3303, LogLevel.Error, "Archive job {JobId} failed")]
    public static partial void ArchiveRunFailed(this ILogger logger, Exception exception, string jobId);
}
