namespace Usine.Cli.Commands;

internal sealed class ReplaySettings : ClientSettings
{
    [CommandOption("-s|--source <ID>")]
    [Description("The source whose raw messages to process again.")]
    public string? Source { get; init; }

    [CommandOption("--from <TIME>")]
    [Description("Start of the range of receive times, included (ISO 8601, UTC unless it says otherwise).")]
    public string? From { get; init; }

    [CommandOption("--to <TIME>")]
    [Description("End of the range of receive times, excluded.")]
    public string? To { get; init; }

    [CommandOption("--from-archive")]
    [Description("Read the messages from the archive instead of the raw zone (or, in a cluster, the JetStream stream).")]
    public bool FromArchive { get; init; }

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Source) || string.IsNullOrWhiteSpace(From) || string.IsNullOrWhiteSpace(To)
            ? ValidationResult.Error("--source, --from and --to are required: the source and the range of receive times to replay")
            : ValidationResult.Success();
}

/// <summary>usine replay: processes a range of raw messages again through the current pipeline, changing only what the fix changes.</summary>
internal sealed class ReplayCommand(CliEnvironment environment) : ClientCommand<ReplaySettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ReplaySettings settings, CancellationToken cancellationToken)
    {
        var r = await client.ReplayRangeAsync(settings.Source!, settings.From!, settings.To!, settings.FromArchive, cancellationToken);
        Environment.PrintDetails(
        [
            ("source", r.Source),
            ("range", $"{Output.Time(r.From)} to {Output.Time(r.To)} ({r.Origin})"),
            ("job", r.Job),
            ("read", Output.Count(r.Read)),
            ("stored", Output.Count(r.Stored)),
            ("already stored", Output.Count(r.Duplicates)),
            ("failed", Output.Count(r.Failed)),
            ("dead letters", $"{Output.Count(r.DeadLettersNew)} new, {Output.Count(r.DeadLettersUnchanged)} unchanged, {Output.Count(r.DeadLettersUpdated)} updated, {Output.Count(r.Replayed)} replayed"),
            ("took", Output.Duration(TimeSpan.FromMilliseconds(r.ElapsedMs))),
            .. (r.Note is { } note ? [("note", note)] : Array.Empty<(string, string)>()),
        ]);
        return ExitCodes.Ok;
    }
}

internal sealed class AuditListSettings : FormattedSettings
{
    [CommandOption("--action <ACTION>")]
    [Description("Only entries of this action: deadletter.replay, deadletters.replay, deadletter.edit, deadletter.discard, deadletters.discard, replay.range.")]
    public string? Action { get; init; }

    [CommandOption("--since <TIME>")]
    [Description("Only entries at or after this time (ISO 8601).")]
    public string? Since { get; init; }

    [CommandOption("-l|--limit <N>")]
    [Description("The most entries to list, newest first. Default: the server's (100).")]
    public int? Limit { get; init; }

    public override ValidationResult Validate() =>
        Limit is < 1 ? ValidationResult.Error("--limit must be 1 or more") : base.Validate();
}

/// <summary>usine audit list: who replayed, edited or discarded what, and when.</summary>
internal sealed class AuditListCommand(CliEnvironment environment) : ClientCommand<AuditListSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, AuditListSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetAuditAsync(settings.Action, settings.Since, settings.Limit, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(AuditEntry)))
        {
            return ExitCodes.Ok;
        }

        var entries = answer.Value;
        if (entries.Count == 0)
        {
            Environment.PrintLine("No audit entries match.");
            return ExitCodes.Ok;
        }

        var table = new TableView("id", "at", "actor", "action", "target", "result", "detail").RightAlign(0);
        foreach (var e in entries)
        {
            table.Row(e.Id.ToString(CultureInfo.InvariantCulture), Output.Time(e.At), e.Actor, e.Action, e.Target, e.Result, e.Detail?.GetRawText());
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }
}
