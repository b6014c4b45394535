using System.Text.Json.Serialization;

namespace Usine.Cli.Internal;

// The shapes of docs/api.md. Everything the server may leave out is nullable, so an older or newer server
// still prints what it has instead of failing to parse.

internal sealed record ApiError(string? Error, string? Title, string? Detail);

internal sealed record StatusInfo(
    DateTimeOffset? StartedAt,
    double UptimeSeconds,
    string? DataDirectory,
    IReadOnlyList<string>? Plants,
    long Avatars,
    IReadOnlyDictionary<string, long>? Records,
    DeadLetterCounts? DeadLetters,
    IReadOnlyList<SourceInfo>? Sources,
    IReadOnlyDictionary<string, long>? Jobs = null,
    bool AlertsAvailable = false,
    IReadOnlyList<FiringAlert>? Alerts = null,
    ClusterStatus? Cluster = null);

/// <summary>The roles of the server answering, and the transport between the roles of its cluster.</summary>
internal sealed record ClusterStatus(
    string? Roles,
    string? Transport,
    string? Stream,
    int? Replicas,
    long? Lag,
    long? Unacknowledged,
    string? Error,
    IReadOnlyList<ClusterMember>? Members);

/// <summary>One process of a cluster, as it says itself.</summary>
internal sealed record ClusterMember(string? Id, string? Roles, string? Urls, DateTimeOffset? SeenAt, long? Published, long? Processed, long? GivenUp, string? Error);

internal sealed record FiringAlert(string? Rule, string? Severity, string? Source, string? Summary, DateTimeOffset? Since);

internal sealed record DeadLetterCounts(long Open, long Total);

// Without --limit the field is left out rather than sent as null, so the server applies its own default.
internal sealed record SqlRequest(string Sql, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Limit);

internal sealed record SqlColumn(string Name, string? Type);

internal sealed record SqlResult(
    IReadOnlyList<SqlColumn> Columns,
    IReadOnlyList<IReadOnlyList<JsonElement>> Rows,
    bool Truncated,
    double ElapsedMs);

internal sealed record ModelSummary(
    string Name,
    int Version,
    IReadOnlyList<int>? Versions,
    int Fields,
    string? Description);

internal sealed record ModelDetail(
    string Name,
    int Version,
    IReadOnlyList<int>? Versions,
    string? Description,
    string? Time,
    IReadOnlyList<string>? Key,
    ModelAvatar? Avatar,
    IReadOnlyList<ModelField>? Fields,
    IReadOnlyList<ModelRollup>? Rollups,
    string? Table,
    string? Origin);

internal sealed record ModelAvatar(
    string? Type,
    string? Id,
    [property: JsonConverter(typeof(AnyAsStringConverter))] string? Attach);

internal sealed record ModelField(
    string Name,
    string? Type,
    string? Unit,
    bool Required,
    [property: JsonConverter(typeof(AnyAsStringConverter))] string? Min,
    [property: JsonConverter(typeof(AnyAsStringConverter))] string? Max,
    IReadOnlyList<string>? Enum,
    string? Pattern,
    string? Description);

internal sealed record ModelRollup(
    string? Name,
    string? Bucket,
    IReadOnlyList<string>? By,
    IReadOnlyDictionary<string, IReadOnlyList<string>>? Measures);

internal sealed record SourceInfo(
    string Id,
    string? Plant,
    string? Kind,
    string? Format,
    string? Model,
    string? Topic,
    string? Path,
    [property: JsonConverter(typeof(AnyAsStringConverter))] string? ExpectEvery,
    string? Description,
    string? State,
    long Received,
    long Stored,
    long Duplicates,
    long DeadLetters,
    long Bytes,
    DateTimeOffset? LastSeen,
    string? Job = null,
    string? JobState = null,
    string? JobReason = null,
    double RatePerSecond = 0,
    long DeadLettersLastHour = 0,
    double LagSeconds = 0)
{
    /// <summary>Whatever else the server says about the source (its map, connection settings...).</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Extra { get; init; }
}

internal sealed record JobInfo(
    string Id,
    string? Kind,
    string? Source,
    string? Description,
    string? State,
    DateTimeOffset? StateSince,
    DateTimeOffset? StartedAt,
    DateTimeOffset? EndedAt,
    long? Total,
    long Received,
    long Stored,
    long Duplicates,
    long Rejected,
    DateTimeOffset? LastActivityAt,
    string? LastError,
    DateTimeOffset? LastErrorAt,
    string? Detail = null,
    long SequenceGaps = 0);

internal sealed record JobTransition(DateTimeOffset? At, string? From, string? To, string? Reason);

internal sealed record JobDetail(JobInfo Job, IReadOnlyList<JobTransition>? History);

internal sealed record ImportResult(
    string? Source,
    string? Stream,
    string? Name,
    string? Sha256,
    string? Format,
    long Messages,
    long Skipped,
    long Stored,
    long Duplicates,
    long DeadLetters,
    bool AlreadyImported,
    double ElapsedMs,
    string? Job = null);

internal sealed record AvatarRef(string Type, string Id);

internal sealed record AvatarLink(string? Kind, string? Type, string? Id, DateTimeOffset? From, DateTimeOffset? Until);

internal sealed record AvatarRecord(string? Model, DateTimeOffset? Time, IReadOnlyDictionary<string, JsonElement>? Values);

internal sealed record AvatarDetail(
    long? Key,
    string Type,
    string Id,
    string? Plant,
    DateTimeOffset? FirstSeen,
    IReadOnlyDictionary<string, string>? Attributes,
    AvatarRef? Parent,
    IReadOnlyList<AvatarRef>? Ancestors,
    IReadOnlyList<AvatarRef>? Children,
    IReadOnlyList<AvatarLink>? Links,
    IReadOnlyDictionary<string, long>? Records,
    IReadOnlyList<AvatarRecord>? Recent);

/// <summary>A dead letter; the list leaves the payload fields out, <c>GET /api/deadletters/{id}</c> fills them.</summary>
internal sealed record DeadLetter(
    [property: JsonConverter(typeof(AnyAsStringConverter))] string Id,
    string? Source,
    string? Stream,
    [property: JsonConverter(typeof(AnyAsStringConverter))] string? Position,
    string? Stage,
    string? Reason,
    string? Status,
    int Attempts,
    string? Model,
    int? ModelVersion,
    DateTimeOffset? ReceivedAt,
    DateTimeOffset? CreatedAt,
    string? Payload = null,
    string? PayloadBase64 = null,
    long? PayloadBytes = null,
    string? ErrorType = null,
    string? Topic = null,
    string? OriginalPayload = null,
    string? OriginalPayloadBase64 = null,
    DateTimeOffset? EditedAt = null,
    string? DiscardReason = null);

/// <summary>Which dead letters; what is null is left out, so the server applies no condition for it.</summary>
internal sealed record DeadLetterFilter(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Source = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Stage = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Status = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Reason = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? From = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? To = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<long>? Ids = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Rule = null)
{
    [JsonIgnore]
    public bool IsEmpty => this == new DeadLetterFilter();
}

/// <summary>Dead letters of one source, stage and rule broken; <see cref="Examples"/> are values of its latest reasons.</summary>
internal sealed record DeadLetterGroup(
    string? Source, string? Stage, string? Rule, string? Reason, IReadOnlyList<string>? Examples, long Count, long Open, long Replayed, long Discarded, int MaxAttempts,
    DateTimeOffset? FirstReceivedAt, DateTimeOffset? LastReceivedAt);

internal sealed record EditRequest(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Payload,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? PayloadBase64,
    bool Replay,
    bool Force);

/// <summary>The answer to replaying (or editing) one dead letter; <see cref="Outcome"/> is null after an edit alone.</summary>
internal sealed record DeadLetterReplay(
    [property: JsonConverter(typeof(AnyAsStringConverter))] string? Id,
    string? Outcome,
    string? Status,
    string? Stage,
    string? Reason,
    int? Attempts,
    long Stored,
    long Duplicates,
    bool Edited);

internal sealed record DeadLettersReplay(
    long Selected, long Replayed, long FailedAgain, long SkippedAtLimit, long SkippedUnknownSource, long Stored, long Duplicates, string? Note, string? Job);

internal sealed record DiscardResult([property: JsonConverter(typeof(AnyAsStringConverter))] string? Id, string? Status, long? Discarded, string? Reason);

internal sealed record RangeReplay(
    string? Source, DateTimeOffset? From, DateTimeOffset? To, string? Origin, string? Job, long Read, long Stored, long Duplicates, long Failed,
    long DeadLettersNew, long DeadLettersUnchanged, long DeadLettersUpdated, long Replayed, int Streams, double ElapsedMs, string? Note = null);

internal sealed record AuditEntry(long Id, DateTimeOffset? At, string? Actor, string? Action, string? Target, JsonElement? Detail, string? Result);

/// <summary>
/// Reads any JSON value into a string: the contract leaves some values open (an id may be a number or a
/// string, a range bound a number or a timestamp), and the tool only displays them.
/// </summary>
internal sealed class AnyAsStringConverter : JsonConverter<string>
{
    public override bool HandleNull => true;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.String:
                return reader.GetString();
            default:
                using (var document = JsonDocument.ParseValue(ref reader))
                {
                    return document.RootElement.GetRawText();
                }
        }
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value);
}

internal sealed record ArchiveProblem(string Path, string? Problem, string? Detail);

internal sealed record ArchiveRun(
    string? ArchiveJob,
    string? RetentionJob,
    DateTimeOffset? Cutoff,
    int Files,
    long Rows,
    long Bytes,
    long RawRowsDeleted,
    long RawRowsKept,
    int PartitionsDeleted,
    IReadOnlyList<ArchiveProblem>? Problems,
    double ElapsedMs);

internal sealed record ArchiveDay(
    string? Plant,
    string? Source,
    string? Day,
    int Files,
    long Rows,
    long Bytes,
    DateTimeOffset? MinReceivedAt,
    DateTimeOffset? MaxReceivedAt);

internal sealed record ArchiveSummary(string? Root, int Partitions, int Files, long Rows, long Bytes, IReadOnlyList<ArchiveDay>? Days);

internal sealed record ArchiveVerification(
    bool Ok,
    int Checked,
    int Intact,
    long Bytes,
    IReadOnlyList<ArchiveProblem>? Problems,
    IReadOnlyList<string>? Unlisted);

internal sealed record SourceRemoved(string Removed);
