namespace Usine.Server.Internal;

/// <summary>Log events of the server, ids 3000-3199; operations (replay, dead letters, audit) 3200-3299; the archive 3300-3399; the web UI 3500-3599.</summary>
internal static partial class Log
{
    [LoggerMessage(3004, LogLevel.Information, "Usine listens on {Urls} with data in {DataDirectory}")]
    public static partial void Listening(this ILogger logger, string urls, string dataDirectory);

    [LoggerMessage(3005, LogLevel.Error, "Request {Method} {Path} failed")]
    public static partial void RequestFailed(this ILogger logger, Exception exception, string method, string path);

    [LoggerMessage(3101, LogLevel.Error, "Checking the streams for silence failed; the next check runs on schedule")]
    public static partial void StreamCheckFailed(this ILogger logger, Exception exception);

    [LoggerMessage(3102, LogLevel.Information, "The store commits again: a probe write succeeded, {Sources} sources are no longer failing")]
    public static partial void StoreRecovered(this ILogger logger, int sources);

    [LoggerMessage(3103, LogLevel.Debug, "The store still cannot commit: the probe write failed")]
    public static partial void StoreProbeFailed(this ILogger logger, Exception exception);

    [LoggerMessage(3104, LogLevel.Error, "Source {SourceId} cannot start and is failed; the rest of the platform runs: {Reason}")]
    public static partial void SourceFailedAtStart(this ILogger logger, string sourceId, string reason);

    [LoggerMessage(3105, LogLevel.Error, "The stored definition {File} no longer loads and is set aside; the rest of the platform runs: {Reason}")]
    public static partial void DefinitionSetAside(this ILogger logger, string file, string reason);

    [LoggerMessage(3300, LogLevel.Information, "Archived {Files} files, {Rows} raw messages, {Bytes} bytes received before {Cutoff}")]
    public static partial void ArchiveWritten(this ILogger logger, int files, long rows, long bytes, DateTime cutoff);

    [LoggerMessage(3301, LogLevel.Information, "Retention deleted {RawRowsDeleted} raw messages and {Partitions} archive partitions ({Files} files); kept {RawRowsKept} raw messages that are not archived")]
    public static partial void RetentionApplied(this ILogger logger, long rawRowsDeleted, long rawRowsKept, int partitions, int files);

    [LoggerMessage(3302, LogLevel.Error, "Raw messages kept: archive file {Path} is {Problem} ({Detail}); restore it or re-archive, then retention can delete them")]
    public static partial void RetentionKeptRaw(this ILogger logger, string path, string problem, string detail);

    [LoggerMessage(3303, LogLevel.Error, "Archive job {JobId} failed")]
    public static partial void ArchiveRunFailed(this ILogger logger, Exception exception, string jobId);

    [LoggerMessage(3201, LogLevel.Information, "Dead letters {Target} replayed by {Actor}: {Selected} sent, {Replayed} replayed, {FailedAgain} failed again, {SkippedAtLimit} skipped at the attempt limit")]
    public static partial void DeadLettersReplayed(this ILogger logger, string target, string actor, long selected, long replayed, long failedAgain, long skippedAtLimit);

    [LoggerMessage(3202, LogLevel.Information, "Raw messages of source {SourceId} received from {From:o} to {To:o} replayed by {Actor}: {Read} read, {Stored} stored, {Replayed} dead letters replayed")]
    public static partial void RangeReplayed(this ILogger logger, string sourceId, DateTime from, DateTime to, string actor, long read, long stored, long replayed);

    [LoggerMessage(3203, LogLevel.Information, "Dead letters {Target} discarded by {Actor}: {Count} ({Reason})")]
    public static partial void DeadLettersDiscarded(this ILogger logger, string target, string actor, long count, string reason);

    [LoggerMessage(3204, LogLevel.Information, "Dead letter {Id} edited by {Actor}: {Bytes} bytes")]
    public static partial void DeadLetterEdited(this ILogger logger, long id, string actor, int bytes);

    [LoggerMessage(3601, LogLevel.Warning, "Alert history queue full: the oldest waiting event ({Rule} {Status}) is not kept in the history")]
    public static partial void AlertHistoryDropped(this ILogger logger, string rule, string status);

    [LoggerMessage(3602, LogLevel.Error, "Writing {Count} alert events to the history failed; they were notified but are not kept")]
    public static partial void AlertHistoryFailed(this ILogger logger, Exception exception, int count);

    [LoggerMessage(3501, LogLevel.Warning, "Web UI action {Action} on {Target} failed")]
    public static partial void UiActionFailed(this ILogger logger, Exception exception, string action, string target);

    [LoggerMessage(3502, LogLevel.Warning, "Refreshing the web UI's overview failed; the next refresh runs on schedule")]
    public static partial void UiRefreshFailed(this ILogger logger, Exception exception);
}
