using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Usine.Server.Operations;

/// <summary>What replaying dead letters did.</summary>
/// <param name="Selected">Open dead letters sent through the pipeline.</param>
/// <param name="Replayed">Of those, the ones that succeeded and are now status replayed.</param>
/// <param name="FailedAgain">Of those, the ones that failed again: still open, one attempt more, with their new stage and reason.</param>
/// <param name="SkippedAtLimit">Open dead letters left alone because they reached the attempt limit.</param>
/// <param name="SkippedUnknownSource">Open dead letters of sources that are no longer defined.</param>
/// <param name="Stored">Records stored for the first time.</param>
/// <param name="Duplicates">Records that were stored already.</param>
/// <param name="Note">What to do about skipped letters, when there are any.</param>
public sealed record DeadLetterReplayResult(
    long Selected, long Replayed, long FailedAgain, long SkippedAtLimit, long SkippedUnknownSource, long Stored, long Duplicates, string? Note, string? Job);

/// <summary>What replaying a range of raw messages did.</summary>
public sealed record RangeReplayResult(
    string Source, DateTime From, DateTime To, string Origin, string Job, long Read, long Stored, long Duplicates, long Failed,
    long DeadLettersNew, long DeadLettersUnchanged, long DeadLettersUpdated, long Replayed, int Streams, double ElapsedMs, string? Note = null);

/// <summary>Nothing to replay in a range, with why: the log of raw messages no longer holds it, and the raw zone has none.</summary>
public sealed class RangeNotHeldException(string message) : UsineException(message);

/// <summary>
/// The operations that send messages received earlier through the current pipelines again: dead letters
/// (one, or every one matching a filter, after a fix of a model or a mapping, or after an edit) and ranges
/// of the raw zone. Each is audited; replays of several messages run as jobs. In a cluster, a range is read
/// from the JetStream stream (<paramref name="log"/>) while the stream still holds it, else from the raw zone.
/// </summary>
public sealed class Replays(UsineDefinitions definitions, IngestEngine engine, IUsineStore store, JobRegistry jobs, int maxAttempts, ILogger logger, TimeProvider time,
    IRawMessageLog? log = null)
{
    private readonly ReplayRunner _runner = new(engine, logger);

    internal ILogger Log => logger;

    /// <summary>Attempts after which a dead letter is not replayed again unless forced.</summary>
    public int MaxAttempts { get; } = maxAttempts;

    /// <summary>Replays the open dead letters matching <paramref name="filter"/>, skipping (and counting) those at the attempt limit unless <paramref name="force"/>.</summary>
    public async Task<DeadLetterReplayResult> ReplayDeadLettersAsync(DeadLetterFilter filter, bool force, string actor, string target, CancellationToken ct)
    {
        var (open, atLimit) = store.DeadLetters.CountReplayable(filter, MaxAttempts);
        var skippedAtLimit = force ? 0 : atLimit;
        var job = filter.Ids is { Count: 1 } ? null : jobs.Start(JobKind.Replay, filter.Source, $"dead letters {target}");
        var unknown = new Counter();
        var action = filter.Ids is { Count: 1 } ? "deadletter.replay" : "deadletters.replay";
        var detail = new Dictionary<string, object?> { ["filter"] = filter, ["force"] = force, ["maxAttempts"] = MaxAttempts };
        try
        {
            if (job is not null)
            {
                job.Total = open - skippedAtLimit;
            }

            var letters = KnownSources(store.DeadLetters.ReadForReplayAsync(filter, MaxAttempts, force, ct), unknown, ct);
            var r = await _runner.RunAsync(letters, IngestMode.Retry, CsvHeaderAsync, job, ct);
            var note = skippedAtLimit == 0 ? null
                : $"{skippedAtLimit} dead letter{(skippedAtLimit == 1 ? " is" : "s are")} at the limit of {MaxAttempts} attempts and {(skippedAtLimit == 1 ? "was" : "were")} skipped; replay with force to try again";
            if (unknown.Value > 0)
            {
                note = (note is null ? "" : note + "; ") + $"{unknown.Value} belong to sources that are no longer defined";
            }

            var result = new DeadLetterReplayResult(r.Read, r.DeadLetters.Replayed, r.DeadLetters.Updated, skippedAtLimit, unknown.Value, r.Stored, r.Duplicates, note, job?.Id);
            detail["outcome"] = result;
            await store.Audit.AppendAsync(new AuditRecord(actor, action, target, Json(detail), AuditResult(result, filter)), CancellationToken.None);
            job?.SetState(JobState.Stopped, $"{result.Replayed} replayed, {result.FailedAgain} failed again, {skippedAtLimit} skipped at the attempt limit");
            logger.DeadLettersReplayed(target, actor, result.Selected, result.Replayed, result.FailedAgain, skippedAtLimit);
            return result;
        }
        catch (Exception ex)
        {
            job?.SetState(JobState.Failed, ex.Message);
            await store.Audit.AppendAsync(new AuditRecord(actor, action, target, Json(detail), "failed: " + ex.Message), CancellationToken.None);
            throw;
        }
    }

    /// <summary>
    /// The audit result of a dead-letter replay: <c>ok</c> when every letter sent went through, else what failed
    /// again (with the new reason, for one letter), so that the log never calls a failed replay a success.
    /// </summary>
    private string AuditResult(DeadLetterReplayResult r, DeadLetterFilter filter)
    {
        if (r.FailedAgain == 0)
        {
            return "ok";
        }

        if (filter.Ids is [var id] && store.DeadLetters.Get(id)?.Letter is { } letter)
        {
            return $"failed again at {letter.Stage}: {letter.Reason}";
        }

        return $"failed again: {r.FailedAgain} of {r.Selected} ({r.Replayed} replayed)";
    }

    /// <summary>
    /// Replays the raw messages of a source received in [<paramref name="from"/>, <paramref name="to"/>) as a job.
    /// Null when there is no raw message in the range.
    /// </summary>
    public async Task<RangeReplayResult?> ReplayRangeAsync(SourceDefinition source, DateTime from, DateTime to, bool fromArchive, string actor, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        long? total = null;
        IAsyncEnumerable<RawZoneMessage> messages;
        CsvHeaderLookup csvHeader = CsvHeaderAsync;
        string? note = null;
        var origin = fromArchive ? "archive" : "raw";
        DateTime? held = null;
        string? holds = null;
        if (!fromArchive && log is not null)
        {
            held = await log.FirstTimeAsync(ct);
            holds = held is { } first ? $"{log.Description} holds the messages received from {Iso(first)} on, after the start of the range" : $"{log.Description} holds no message";
            note = holds + ": the store's raw zone was read instead";
        }

        if (held is { } oldest && oldest <= from)
        {
            // The stream holds the whole range: it is read back from there, with the CSV headers its messages carry.
            var headers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
            messages = log!.ReadAsync(source.Id, from, to, headers, ct);
            csvHeader = (sourceId, streamId, c) => headers.TryGetValue(streamId, out var h) ? Task.FromResult<IReadOnlyList<string>?>(h) : CsvHeaderAsync(sourceId, streamId, c);
            origin = log.Origin;
            note = null;
        }
        else if (fromArchive)
        {
            messages = ReadArchive(source.Id, from, to, ct);
        }
        else
        {
            total = store.RawZone.CountRaw(source.Id, from, to);
            if (total == 0)
            {
                return holds is null ? null
                    : throw new RangeNotHeldException($"no raw messages of source {source.Id} received between {Iso(from)} and {Iso(to)}: {holds}, and the store's raw zone has none in the range");
            }

            messages = store.RawZone.ReadRawAsync(source.Id, from, to, ct);
        }

        var target = "source:" + source.Id;
        var job = jobs.Start(JobKind.Replay, source.Id, $"{origin} {Iso(from)} to {Iso(to)}");
        job.Total = total;
        var detail = new Dictionary<string, object?> { ["source"] = source.Id, ["from"] = from, ["to"] = to, ["origin"] = origin, ["job"] = job.Id, ["note"] = note };
        try
        {
            var r = await _runner.RunAsync(messages, IngestMode.Replay, csvHeader, job, ct);
            if (r.Read == 0)
            {
                job.SetState(JobState.Stopped, "nothing to replay");
                return null;
            }

            var result = new RangeReplayResult(source.Id, from, to, origin, job.Id, r.Read, r.Stored, r.Duplicates, r.Failed,
                r.DeadLetters.New, r.DeadLetters.Unchanged, r.DeadLetters.Updated, r.DeadLetters.Replayed, r.Streams, time.GetElapsedTime(started).TotalMilliseconds, note);
            detail["outcome"] = result;
            var audited = r.Failed == 0 ? "ok"
                : $"partly failed: {r.Failed} of {r.Read} messages are dead letters ({r.DeadLetters.New} new, {r.DeadLetters.Unchanged + r.DeadLetters.Updated} already open)";
            await store.Audit.AppendAsync(new AuditRecord(actor, "replay.range", target, Json(detail), audited), CancellationToken.None);
            job.SetState(JobState.Stopped, $"{r.Read} read, {r.Stored} stored, {r.DeadLetters.Replayed} dead letters replayed");
            logger.RangeReplayed(source.Id, from, to, actor, r.Read, r.Stored, r.DeadLetters.Replayed);
            return result;
        }
        catch (Exception ex)
        {
            job.SetState(JobState.Failed, ex.Message);
            await store.Audit.AppendAsync(new AuditRecord(actor, "replay.range", target, Json(detail), "failed: " + ex.Message), CancellationToken.None);
            throw;
        }
    }

    /// <summary>
    /// The archive's messages of a source in a range, in the same order as the raw zone's. This is the one place
    /// replay reaches the archive; a missing or altered archive file fails the replay, naming the file.
    /// </summary>
    private IAsyncEnumerable<RawZoneMessage> ReadArchive(string sourceId, DateTime from, DateTime to, CancellationToken ct) =>
        store.Archive.ReadArchiveAsync(sourceId, from, to, ct);

    /// <summary>The CSV header a stream was imported with; a CSV stream without one cannot be read again.</summary>
    private Task<IReadOnlyList<string>?> CsvHeaderAsync(string sourceId, string streamId, CancellationToken ct)
    {
        if (!definitions.Sources.TryGetValue(sourceId, out var source) || source.Format != PayloadFormat.Csv)
        {
            return Task.FromResult<IReadOnlyList<string>?>(null);
        }

        return Task.FromResult<IReadOnlyList<string>?>(store.RawZone.CsvHeader(streamId)
            ?? throw new UsineException($"stream {streamId} of CSV source '{sourceId}' has no recorded header line, so its messages cannot be processed again"));
    }

    private async IAsyncEnumerable<RawZoneMessage> KnownSources(IAsyncEnumerable<RawZoneMessage> messages, Counter unknown, [EnumeratorCancellation] CancellationToken ct)
    {
        await foreach (var m in messages.WithCancellation(ct))
        {
            if (definitions.Sources.ContainsKey(m.SourceId))
            {
                yield return m;
            }
            else
            {
                unknown.Value++;
            }
        }
    }

    private sealed class Counter
    {
        public long Value;
    }

    internal static string Iso(DateTime t) => t.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    internal static string Json(object value) => JsonSerializer.Serialize(value, JsonOptions);
}
