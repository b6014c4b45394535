using System.Text;
using Usine.Ingestion;

namespace Usine.Storage;

/// <summary>
/// Dead letters: the messages that failed a stage, kept with their payload until they are replayed or discarded.
/// Every operation takes a <see cref="DeadLetterFilter"/>; a plant-scoped caller sets its <see cref="DeadLetterFilter.Plants"/>.
/// </summary>
public interface IDeadLetterStore
{
    /// <summary>Dead letters matching <paramref name="filter"/>, newest first, without their payloads.</summary>
    IReadOnlyList<DeadLetterRow> List(DeadLetterFilter filter, int limit);

    /// <summary>Dead letters that failed the same way, the largest groups first.</summary>
    IReadOnlyList<DeadLetterGroup> Groups(DeadLetterFilter filter, int limit);

    /// <summary>One dead letter with its payload, the payload before an edit, and why it was discarded; null when there is none.</summary>
    DeadLetterDetail? Get(long id);

    /// <summary>The source and plant of a dead letter, to check a caller's scope before showing or changing it.</summary>
    (string Source, string? Plant)? Owner(long id);

    /// <summary>Open and total dead letters matching <paramref name="filter"/>.</summary>
    (long Open, long Total) Count(DeadLetterFilter filter);

    /// <summary>Open dead letters matching <paramref name="filter"/>, and how many of them reached <paramref name="maxAttempts"/>.</summary>
    (long Open, long AtLimit) CountReplayable(DeadLetterFilter filter, int maxAttempts);

    /// <summary>
    /// The open dead letters matching <paramref name="filter"/> as messages to retry, grouped by stream in position
    /// order; those at <paramref name="maxAttempts"/> or more are left out unless <paramref name="force"/>.
    /// </summary>
    IAsyncEnumerable<RawZoneMessage> ReadForReplayAsync(DeadLetterFilter filter, int maxAttempts, bool force, CancellationToken cancellationToken);

    /// <summary>Replaces the payload of an open dead letter, keeping the first one, audited; false when it is not open.</summary>
    Task<bool> EditAsync(long id, byte[] payload, AuditRecord audit, CancellationToken cancellationToken);

    /// <summary>Discards the dead letters matching <paramref name="filter"/> with a reason, each audited; returns how many.</summary>
    Task<long> DiscardAsync(DeadLetterFilter filter, string reason, Func<long, AuditRecord> audit, CancellationToken cancellationToken);
}

/// <summary>One dead letter as its page shows it.</summary>
/// <param name="OriginalPayload">The payload as received, when it was edited since.</param>
public sealed record DeadLetterDetail(DeadLetterRow Letter, byte[]? OriginalPayload, DateTime? EditedAt, string? DiscardReason);

/// <summary>A dead letter; <see cref="Payload"/> is only read for one letter at a time.</summary>
public sealed record DeadLetterRow(
    long Id, string Source, string Stream, long Position, string Stage, string Reason, string Status, int Attempts,
    string? Model, int? ModelVersion, DateTime ReceivedAt, DateTime CreatedAt, string? ErrorType, string? Topic,
    long PayloadBytes, byte[]? Payload);

/// <summary>Which dead letters an operation applies to; every criterion given must hold.</summary>
public sealed record DeadLetterFilter
{
    public string? Source { get; init; }

    /// <summary>decode, map, validate, step, contextualize or store.</summary>
    public string? Stage { get; init; }

    /// <summary>open, replayed or discarded.</summary>
    public string? Status { get; init; }

    /// <summary>Text the reason contains, ignoring case.</summary>
    public string? Reason { get; init; }

    /// <summary>The rule broken, exactly as a group names it (<see cref="DeadLetterGroup.Rule"/>).</summary>
    public string? Rule { get; init; }

    /// <summary>Received at or after this time (UTC).</summary>
    public DateTime? From { get; init; }

    /// <summary>Received before this time (UTC).</summary>
    public DateTime? To { get; init; }

    public IReadOnlyList<long>? Ids { get; init; }

    /// <summary>Only the dead letters of these sources; null for every source. With <see cref="Plants"/>, only those whose plant is unknown.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyCollection<string>? Sources { get; init; }

    /// <summary>Only the dead letters of these plants (a plant-scoped caller's); null for every plant.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyCollection<string>? Plants { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsEmpty => Source is null && Stage is null && Status is null && Reason is null && Rule is null && From is null && To is null && Ids is null && Sources is null && Plants is null;
}

/// <summary>Dead letters that failed the same way: one source, stage and rule broken, whatever the values.</summary>
/// <param name="Rule">The reason without the values it quotes: "field 'temp' is above the maximum 220".</param>
/// <param name="Reason">The full reason of the latest letter of the group.</param>
/// <param name="Examples">Values of up to three of the group's latest distinct reasons: "228.5 degC", "999 degC".</param>
public sealed record DeadLetterGroup(
    string Source, string Stage, string Rule, string Reason, IReadOnlyList<string> Examples, long Count, long Open, long Replayed, long Discarded,
    int MaxAttempts, DateTime FirstReceivedAt, DateTime LastReceivedAt);

/// <summary>Payloads as people read them.</summary>
public static class Payloads
{
    /// <summary>The payload as text when it is valid UTF-8, otherwise null.</summary>
    public static string? Text(byte[] payload)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(payload);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
