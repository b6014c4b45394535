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
}
