using Microsoft.Extensions.Logging;

namespace Usine.Server.Internal;

/// <summary>Log events of the server, ids 3000-3099; operations (replay, dead letters, audit) 3200-3299.</summary>
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

    [LoggerMessage(3201, LogLevel.Information, "Dead letters {Target} replayed by {Actor}: {Selected} sent, {Replayed} replayed, {FailedAgain} failed again, {SkippedAtLimit} skipped at the attempt limit")]
    public static partial void DeadLettersReplayed(this ILogger logger, string target, string actor, long selected, long replayed, long failedAgain, long skippedAtLimit);

    [LoggerMessage(3202, LogLevel.Information, "Raw messages of source {SourceId} received from {From:o} to {To:o} replayed by {Actor}: {Read} read, {Stored} stored, {Replayed} dead letters replayed")]
    public static partial void RangeReplayed(this ILogger logger, string sourceId, DateTime from, DateTime to, string actor, long read, long stored, long replayed);

    [LoggerMessage(3203, LogLevel.Information, "Dead letters {Target} discarded by {Actor}: {Count} ({Reason})")]
    public static partial void DeadLettersDiscarded(this ILogger logger, string target, string actor, long count, string reason);

    [LoggerMessage(3204, LogLevel.Information, "Dead letter {Id} edited by {Actor}: {Bytes} bytes")]
    public static partial void DeadLetterEdited(this ILogger logger, long id, string actor, int bytes);
}
