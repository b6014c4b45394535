using Microsoft.Extensions.Logging;

namespace Usine.Connectors.Files.Internal;

/// <summary>Every log event of the file and HTTP push connectors, with its id in one place (3001-3019, as when they lived in the server).</summary>
internal static partial class Log
{
    [LoggerMessage(3001, LogLevel.Information, "Imported {File} into source {SourceId}: {Messages} messages, {Stored} records, {DeadLetters} dead letters")]
    public static partial void DropImported(this ILogger logger, string sourceId, string file, long messages, long stored, long deadLetters);

    [LoggerMessage(3002, LogLevel.Error, "File {File} of source {SourceId} could not be imported; moved to failed/")]
    public static partial void DropFailed(this ILogger logger, Exception exception, string sourceId, string file);

    [LoggerMessage(3003, LogLevel.Error, "Looking for files of source {SourceId} in {Folder} failed")]
    public static partial void DropScanFailed(this ILogger logger, Exception exception, string sourceId, string folder);
}
