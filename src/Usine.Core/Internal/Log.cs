using Microsoft.Extensions.Logging;

namespace Usine.Internal;

/// <summary>Every log event of Usine, with its id in one place.</summary>
internal static partial class Log
{
    [LoggerMessage(1001, LogLevel.Error, "Commit of {Count} messages of source {SourceId} failed; the batch and those processed after it are retried by their connectors")]
    public static partial void CommitFailed(this ILogger logger, Exception exception, string sourceId, int count);

    [LoggerMessage(1002, LogLevel.Information, "Referential loaded: {Avatars} avatars")]
    public static partial void ReferentialLoaded(this ILogger logger, int avatars);

    [LoggerMessage(1003, LogLevel.Error, "Pipeline of source {SourceId} failed on a batch of {Count} messages")]
    public static partial void PipelineFailed(this ILogger logger, Exception exception, string sourceId, int count);

    [LoggerMessage(1101, LogLevel.Information, "Job {JobId} started (source {SourceId}) {Description}")]
    public static partial void JobStarted(this ILogger logger, string jobId, string sourceId, string description);

    [LoggerMessage(1102, LogLevel.Information, "Job {JobId}: {From} -> {To} {Reason}")]
    public static partial void JobStateChanged(this ILogger logger, string jobId, Usine.Operations.JobState from, Usine.Operations.JobState to, string reason);

    [LoggerMessage(1103, LogLevel.Error, "Job {JobId}: {From} -> {To} {Reason}")]
    public static partial void JobFailed(this ILogger logger, string jobId, Usine.Operations.JobState from, Usine.Operations.JobState to, string reason);

    [LoggerMessage(1104, LogLevel.Warning, "An ingest observer failed on a batch of source {SourceId}; the batch is committed, only its figures are missing")]
    public static partial void ObserverFailed(this ILogger logger, Exception exception, string sourceId);

    [LoggerMessage(1201, LogLevel.Warning, "Replay batch of source {SourceId}, stream {StreamId} hit a transient failure (attempt {Attempt}); sending it again")]
    public static partial void ReplayBatchRetried(this ILogger logger, Exception exception, string sourceId, string streamId, int attempt);

    [LoggerMessage(1301, LogLevel.Warning, "Alert {Rule} FIRING ({Severity}) source {SourceId}: {Summary}")]
    public static partial void AlertFired(this ILogger logger, string rule, string severity, string sourceId, string summary);

    [LoggerMessage(1302, LogLevel.Information, "Alert {Rule} resolved, source {SourceId}: {Summary}")]
    public static partial void AlertResolved(this ILogger logger, string rule, string sourceId, string summary);

    [LoggerMessage(1303, LogLevel.Error, "Alert evaluation failed; the next one runs on schedule")]
    public static partial void AlertEvaluationFailed(this ILogger logger, Exception exception);

    [LoggerMessage(1304, LogLevel.Warning, "Webhook {Notifier}: delivery of {Rule} {Status} failed (attempt {Attempt}: {Problem}); retrying in {Delay}")]
    public static partial void WebhookRetry(this ILogger logger, string notifier, string rule, string status, int attempt, string problem, TimeSpan delay);

    [LoggerMessage(1305, LogLevel.Error, "Webhook {Notifier}: gave up delivering {Rule} {Status} after {Attempts} attempts: {Problem}")]
    public static partial void WebhookFailed(this ILogger logger, string notifier, string rule, string status, int attempts, string problem);

    [LoggerMessage(1306, LogLevel.Error, "Webhook {Notifier}: queue full, dropped the oldest event ({Rule} {Status})")]
    public static partial void WebhookDropped(this ILogger logger, string notifier, string rule, string status);

    // Source runner: 1401-1419.
    [LoggerMessage(1401, LogLevel.Warning, "Source {SourceId}: ingest of {Count} messages failed transiently (attempt {Attempt}); retrying the same batch in {Delay}")]
    public static partial void IngestRetry(this ILogger logger, Exception exception, string sourceId, int count, int attempt, TimeSpan delay);

    [LoggerMessage(1402, LogLevel.Error, "Source {SourceId}: ingest of {Count} messages failed and cannot be retried; the run stops and the messages stay unacknowledged")]
    public static partial void IngestFailed(this ILogger logger, Exception exception, string sourceId, int count);

    [LoggerMessage(1403, LogLevel.Information, "Source {SourceId} stopped: {Received} received, {Acknowledged} acknowledged, {Reconnects} reconnects")]
    public static partial void RunnerStopped(this ILogger logger, string sourceId, long received, long acknowledged, long reconnects);

    [LoggerMessage(1404, LogLevel.Warning, "Source {SourceId}: stop did not finish committing within {Timeout}; what is left stays unacknowledged and comes again next time")]
    public static partial void DrainTimedOut(this ILogger logger, string sourceId, TimeSpan timeout);

    [LoggerMessage(1405, LogLevel.Warning, "Source {SourceId}: a StateChanged handler threw")]
    public static partial void StateHandlerFailed(this ILogger logger, Exception exception, string sourceId);

    [LoggerMessage(1406, LogLevel.Warning, "Source {SourceId}: reading the checkpoint of {StreamId} failed transiently (attempt {Attempt}); retrying in {Delay}")]
    public static partial void CheckpointRetry(this ILogger logger, Exception exception, string sourceId, string streamId, int attempt, TimeSpan delay);
}
