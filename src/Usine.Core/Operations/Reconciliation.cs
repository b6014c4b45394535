namespace Usine.Operations;

/// <summary>
/// One hour of one source, by the hour its batches landed: what landed in the raw zone, what it became, and
/// what the tables hold for that hour. A landed message decodes to zero or more messages (one for JSON and
/// CSV; one too when it cannot be decoded), and each becomes exactly one record, duplicate or dead letter, so
/// <c>Decoded = Stored - Replayed + Duplicates + Rejected</c>; records stored by a replay land no new message
/// and are counted in <see cref="Replayed"/>.
/// </summary>
public sealed record ReconcileHour(
    DateTime Hour, long Landed, long Stored, long Replayed, long Duplicates, long Rejected,
    long RecordsFound, long DeadLettersFound, IReadOnlyList<string> Problems)
{
    /// <summary>The messages the landed ones decoded to; equal to <see cref="Landed"/> when each held one.</summary>
    public long Decoded { get; init; } = Landed;
}

/// <summary>Numbers missing from a source's sequence field: the messages between <see cref="After"/> and <see cref="Before"/> never arrived.</summary>
public sealed record SequenceGap(string Scope, long After, long Before, long Missing, DateTime AfterTime, DateTime BeforeTime);

/// <summary>An imported file: the count it declared (if any), the lines it had, and the lines that landed.</summary>
public sealed record FileReconciliation(string Stream, string? Name, long? Declared, long? Lines, long Landed, DateTime? FinishedAt, IReadOnlyList<string> Problems);

/// <summary>Reconciliation of one source over a time range.</summary>
public sealed record ReconcileReport(
    string Source, DateTime From, DateTime To,
    IReadOnlyList<ReconcileHour> Hours,
    IReadOnlyList<FileReconciliation> Files,
    IReadOnlyList<SequenceGap> Gaps,
    long Pending,
    IReadOnlyList<string> Mismatches)
{
    public bool Consistent => Mismatches.Count == 0;

    public long Landed => Hours.Sum(h => h.Landed);
    public long Stored => Hours.Sum(h => h.Stored);
    public long Duplicates => Hours.Sum(h => h.Duplicates);
    public long Rejected => Hours.Sum(h => h.Rejected);
}
