using Microsoft.Extensions.Logging;

namespace Usine.Server.Internal;

/// <summary>Log events of the server, ids 3000-3099.</summary>
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
}
