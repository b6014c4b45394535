using System.Text;

namespace Usine.Cli.Commands;

internal sealed class DeadLettersGroupsSettings : DeadLetterFilterSettings
{
    [CommandOption("--status <STATUS>")]
    [Description("Only dead letters in this status: open, replayed or discarded.")]
    public string? Status { get; init; }

    [CommandOption("-l|--limit <N>")]
    [Description("The most groups to list, largest first. Default: the server's (100).")]
    public int? Limit { get; init; }

    [CommandOption("-f|--format <FORMAT>")]
    [Description(FormattedSettings.FormatDescription)]
    [DefaultValue(DataOutput.Table)]
    public string Format { get; init; } = DataOutput.Table;

    public override ValidationResult Validate() =>
        Limit is < 1 ? ValidationResult.Error("--limit must be 1 or more")
        : DataOutput.Problem(Format) is { } problem ? ValidationResult.Error(problem)
        : ValidationResult.Success();
}

/// <summary>Settings of the commands that act on one dead letter by id, or on every one a filter matches.</summary>
internal class DeadLetterTargetSettings : DeadLetterFilterSettings
{
    [CommandArgument(0, "[ID]")]
    [Description("The dead letter's id, as listed by usine deadletters list. Leave it out to use the filter options.")]
    public string? Id { get; init; }

    public override ValidationResult Validate()
    {
        var filtered = !Filter().IsEmpty;
        if (Id is not null && filtered)
        {
            return ValidationResult.Error("give either a dead letter id or filter options (--source, --stage, --matching, --rule, --from, --to), not both");
        }

        if (Id is null && !filtered)
        {
            return ValidationResult.Error("say which dead letters: an id, or filter options (--source, --stage, --matching, --rule, --from, --to)");
        }

        return Id is null || long.TryParse(Id, NumberStyles.None, CultureInfo.InvariantCulture, out _)
            ? ValidationResult.Success()
            : ValidationResult.Error($"'{Id}' is not a dead letter id: ids are numbers, as listed by usine deadletters list");
    }
}

internal sealed class DeadLettersReplaySettings : DeadLetterTargetSettings
{
    [CommandOption("--force")]
    [Description("Replay even dead letters that reached the attempt limit (maxAttempts, default 5).")]
    public bool Force { get; init; }
}

internal sealed class DeadLettersDiscardSettings : DeadLetterTargetSettings
{
    [CommandOption("--reason <TEXT>")]
    [Description("Why the dead letters are dropped; required, and kept with them and in the audit log.")]
    public string? Reason { get; init; }

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Reason)
            ? ValidationResult.Error("--reason is required: say why the dead letters are dropped")
            : base.Validate();
}

internal sealed class DeadLettersEditSettings : ClientSettings
{
    [CommandArgument(0, "<ID>")]
    [Description("The dead letter's id.")]
    public string Id { get; init; } = "";

    [CommandOption("--payload <TEXT>")]
    [Description("The corrected payload, as text.")]
    public string? Payload { get; init; }

    [CommandOption("--file <PATH>")]
    [Description("A file holding the corrected payload, sent byte for byte.")]
    public string? File { get; init; }

    [CommandOption("--replay")]
    [Description("Replay the dead letter right after the edit.")]
    public bool Replay { get; init; }

    [CommandOption("--force")]
    [Description("With --replay: replay even if the dead letter reached the attempt limit.")]
    public bool Force { get; init; }

    public override ValidationResult Validate() =>
        (Payload is null) == (File is null)
            ? ValidationResult.Error("give the corrected payload with --payload TEXT or --file PATH, one of the two")
            : ValidationResult.Success();
}

/// <summary>usine deadletters groups: how many dead letters failed the same way, per source, stage and rule broken, with example values.</summary>
internal sealed class DeadLettersGroupsCommand(CliEnvironment environment) : ClientCommand<DeadLettersGroupsSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, DeadLettersGroupsSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetDeadLetterGroupsAsync(settings.Filter(settings.Status), settings.Limit, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(DeadLetterGroup)))
        {
            return ExitCodes.Ok;
        }

        var groups = answer.Value;
        if (groups.Count == 0)
        {
            Environment.PrintLine("No dead letters match.");
            return ExitCodes.Ok;
        }

        var table = new TableView("count", "open", "replayed", "discarded", "source", "stage", "last received", "rule", "examples").RightAlign(0, 1, 2, 3);
        foreach (var g in groups)
        {
            table.Row(Output.Count(g.Count), Output.Count(g.Open), Output.Count(g.Replayed), Output.Count(g.Discarded), g.Source, g.Stage,
                Output.Time(g.LastReceivedAt), g.Rule ?? g.Reason, string.Join(" · ", g.Examples ?? []));
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }
}

/// <summary>usine deadletters replay: sends dead letters through the current pipeline again, after a fix.</summary>
internal sealed class DeadLettersReplayCommand(CliEnvironment environment) : ClientCommand<DeadLettersReplaySettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, DeadLettersReplaySettings settings, CancellationToken cancellationToken)
    {
        if (settings.Id is { } id)
        {
            var one = await client.ReplayDeadLetterAsync(id, settings.Force, cancellationToken);
            return await DeadLetterOutput.OneAsync(Environment, one);
        }

        var r = await client.ReplayDeadLettersAsync(settings.Filter(), settings.Force, cancellationToken);
        await Environment.Out.WriteLineAsync(
            $"{Output.Count(r.Selected)} dead letters sent again: {Output.Count(r.Replayed)} replayed, {Output.Count(r.FailedAgain)} failed again; "
            + $"{Output.Count(r.Stored)} records stored, {Output.Count(r.Duplicates)} already stored");
        if (r.Note is not null)
        {
            await Environment.Out.WriteLineAsync(r.Note + (r.SkippedAtLimit > 0 ? " (--force)" : ""));
        }

        return ExitCodes.Ok;
    }
}

/// <summary>usine deadletters edit: replaces a dead letter's payload (the original is kept), and replays it on request.</summary>
internal sealed class DeadLettersEditCommand(CliEnvironment environment) : ClientCommand<DeadLettersEditSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, DeadLettersEditSettings settings, CancellationToken cancellationToken)
    {
        string? text = settings.Payload;
        string? base64 = null;
        if (settings.File is { } path)
        {
            if (!System.IO.File.Exists(path))
            {
                throw CliException.Usage($"file not found: {path}");
            }

            var bytes = await System.IO.File.ReadAllBytesAsync(path, cancellationToken);
            try
            {
                text = new UTF8Encoding(false, true).GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                base64 = Convert.ToBase64String(bytes);
            }
        }

        var r = await client.EditDeadLetterAsync(settings.Id, text, base64, settings.Replay, settings.Force, cancellationToken);
        if (r.Outcome is null)
        {
            await Environment.Out.WriteLineAsync($"dead letter {r.Id} edited; the original payload is kept. Replay it with: usine deadletters replay {r.Id}");
            return ExitCodes.Ok;
        }

        return await DeadLetterOutput.OneAsync(Environment, r);
    }
}

/// <summary>usine deadletters discard: drops dead letters for good, with the reason why.</summary>
internal sealed class DeadLettersDiscardCommand(CliEnvironment environment) : ClientCommand<DeadLettersDiscardSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, DeadLettersDiscardSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Id is { } id)
        {
            await client.DiscardDeadLetterAsync(id, settings.Reason!, cancellationToken);
            await Environment.Out.WriteLineAsync($"dead letter {id} discarded");
            return ExitCodes.Ok;
        }

        var r = await client.DiscardDeadLettersAsync(settings.Filter(), settings.Reason!, cancellationToken);
        await Environment.Out.WriteLineAsync($"{Output.Count(r.Discarded ?? 0)} dead letters discarded");
        return ExitCodes.Ok;
    }
}

internal static class DeadLetterOutput
{
    /// <summary>The outcome of replaying one dead letter: 0 when it became a record, 1 when it failed again.</summary>
    public static async Task<int> OneAsync(CliEnvironment environment, DeadLetterReplay r)
    {
        if (r.Outcome == "replayed")
        {
            await environment.Out.WriteLineAsync(r.Stored > 0
                ? $"dead letter {r.Id} replayed: its record is stored"
                : $"dead letter {r.Id} replayed: its record was stored already");
            return ExitCodes.Ok;
        }

        await environment.Error.WriteLineAsync($"error: dead letter {r.Id} failed again (attempt {r.Attempts}) at {r.Stage}: {r.Reason}");
        return ExitCodes.Failure;
    }
}
