using System.Globalization;

namespace Usine.Server.Ui;

/// <summary>What a triage action did, in one line for the page, and whether it succeeded.</summary>
internal sealed record TriageOutcome(bool Ok, string Message);

/// <summary>
/// The dead-letter actions of the web UI. Replays go through <see cref="Replays"/>, edits and discards through the
/// store with the same audit actions as the HTTP API, so an operator's click and a <c>usine deadletters</c> command
/// leave the same trace.
/// </summary>
internal sealed class DeadLetterTriage(UsineDefinitions definitions, IDeadLetterStore deadLetters, Replays replays, UsineHttpOptions httpOptions, UiSession session)
{
    private string Actor => session.Actor;

    public async Task<TriageOutcome> ReplayOneAsync(long id, bool force, CancellationToken ct)
    {
        if (Refusal(id, out var letter) is { } refused)
        {
            return refused;
        }

        if (!definitions.Sources.ContainsKey(letter!.Source))
        {
            return new(false, $"Dead letter {id} belongs to source '{letter.Source}', which is no longer defined: discard it or define the source again.");
        }

        if (letter.Attempts >= replays.MaxAttempts && !force)
        {
            return new(false, $"Dead letter {id} failed {letter.Attempts} times, the limit of {replays.MaxAttempts} attempts: tick \"force\" to try again.");
        }

        return await Guard("deadletter.replay", Target(id), async () =>
        {
            var r = await replays.ReplayDeadLettersAsync(new DeadLetterFilter { Ids = [id] }, force, Actor, Target(id), ct);
            var after = deadLetters.Get(id)!.Letter;
            return after.Status == "replayed"
                ? new TriageOutcome(true, $"Replayed: {Records(r.Stored)} stored{(r.Duplicates > 0 ? $", {Records(r.Duplicates)} already stored" : "")}.")
                : new TriageOutcome(false, $"Still failing at stage {after.Stage}: {after.Reason} (attempt {after.Attempts}).");
        });
    }

    /// <summary>Replays the open dead letters <paramref name="filter"/> selects; <paramref name="target"/> names them in the audit log.</summary>
    public async Task<TriageOutcome> ReplayGroupAsync(DeadLetterFilter filter, string target, bool force, CancellationToken ct) =>
        filter.Ids is { Count: 0 } ? NothingOpen : await Guard("deadletters.replay", target, async () =>
        {
            var r = await replays.ReplayDeadLettersAsync(session.Scoped(filter with { Status = "open" }, definitions), force, Actor, target, ct);
            var text = $"{r.Selected} sent: {r.Replayed} replayed ({Records(r.Stored)} stored), {r.FailedAgain} still failing"
                + (r.SkippedAtLimit > 0 ? $", {r.SkippedAtLimit} skipped at the attempt limit" : "") + (r.Note is null ? "." : $". {r.Note}.");
            return new TriageOutcome(r.FailedAgain == 0 && r.SkippedAtLimit == 0, text);
        });

    public async Task<TriageOutcome> EditAndReplayAsync(long id, string payload, bool force, CancellationToken ct)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(payload);
        if (bytes.Length > httpOptions.MaxPushBytes)
        {
            return new(false, $"The new payload is {bytes.Length} bytes; at most {httpOptions.MaxPushBytes}.");
        }

        if (Refusal(id, out _) is { } refused)
        {
            return refused;
        }

        var edited = await Guard("deadletter.edit", Target(id), async () =>
        {
            var detail = Replays.Json(new { bytes = bytes.Length, replay = true });
            if (!await deadLetters.EditAsync(id, bytes, new AuditRecord(Actor, "deadletter.edit", Target(id), detail, "ok"), ct))
            {
                return new TriageOutcome(false, $"Dead letter {id} is no longer open.");
            }

            replays.Log.DeadLetterEdited(id, Actor, bytes.Length);
            return new TriageOutcome(true, "Edited.");
        });
        return edited.Ok ? await ReplayOneAsync(id, force, ct) : edited;
    }

    public async Task<TriageOutcome> DiscardAsync(DeadLetterFilter filter, string target, string? reason, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(reason))
        {
            return new(false, "Say why before discarding: the reason is kept with the dead letters and in the audit log.");
        }

        if (filter.Ids is { Count: 0 })
        {
            return NothingOpen;
        }

        var why = reason.Trim();
        var single = filter.Ids is { Count: 1 };
        filter = session.Scoped(filter, definitions);
        return await Guard(single ? "deadletter.discard" : "deadletters.discard", target, async () =>
        {
            var n = await deadLetters.DiscardAsync(filter with { Status = "open" }, why,
                count => new AuditRecord(Actor, single ? "deadletter.discard" : "deadletters.discard", target,
                    Replays.Json(new { filter, reason = why, discarded = count }), single && count == 0 ? "refused: not open" : "ok"), ct);
            replays.Log.DeadLettersDiscarded(target, Actor, n, why);
            return n == 0 ? new TriageOutcome(false, "Nothing discarded: no open dead letter matches.")
                : new TriageOutcome(true, $"Discarded {n} dead letter{(n == 1 ? "" : "s")}: {why}.");
        });
    }

    private static TriageOutcome NothingOpen => new(false, "Nothing to do: no open dead letter is left in this group.");

    public static string Target(long id) => "deadletter:" + id.ToString(CultureInfo.InvariantCulture);

    private TriageOutcome? Refusal(long id, out DeadLetterRow? letter)
    {
        letter = deadLetters.Get(id)?.Letter;
        if (letter is not null && !session.MayReadDeadLetter(id, deadLetters, definitions))
        {
            letter = null;
        }

        return letter is null ? new(false, $"No dead letter with id {id}.")
            : letter.Status != "open" ? new(false, $"Dead letter {id} is {letter.Status}; only open dead letters can be replayed, edited or discarded.")
            : null;
    }

    private async Task<TriageOutcome> Guard(string action, string target, Func<Task<TriageOutcome>> run)
    {
        if (!session.CanOperate)
        {
            return new(false, $"{session.Caller.Name} has the {UsineAuth.Lower(session.Caller.Role)} role: replaying, editing and discarding dead letters need the operator role.");
        }

        try
        {
            return await run();
        }
        catch (UsineException ex)
        {
            // The page shows what went wrong; the log keeps the details for the operator.
            replays.Log.UiActionFailed(ex, action, target);
            return new(false, ex.Message);
        }
    }

    private static string Records(long n) => n == 1 ? "1 record" : $"{n} records";
}
