namespace Usine.Cli.Commands;

/// <summary>The options that choose dead letters, shared by list, groups, replay and discard.</summary>
internal class DeadLetterFilterSettings : ClientSettings
{
    [CommandOption("--source <ID>")]
    [Description("Only the dead letters of this source.")]
    public string? Source { get; init; }

    [CommandOption("--stage <STAGE>")]
    [Description("Only those that failed this stage: decode, map, validate, step, contextualize or store.")]
    public string? Stage { get; init; }

    [CommandOption("--matching <TEXT>")]
    [Description("Only those whose reason contains this text, ignoring case.")]
    public string? Matching { get; init; }

    [CommandOption("--rule <RULE>")]
    [Description("Only those that broke this rule, as `deadletters groups` shows it (the reason without its values).")]
    public string? Rule { get; init; }

    [CommandOption("--from <TIME>")]
    [Description("Only those received at or after this time (ISO 8601, UTC unless it says otherwise).")]
    public string? From { get; init; }

    [CommandOption("--to <TIME>")]
    [Description("Only those received before this time.")]
    public string? To { get; init; }

    public DeadLetterFilter Filter(string? status = null) => new(Source, Stage, status, Matching, From, To, Rule: Rule);
}

internal sealed class DeadLettersListSettings : DeadLetterFilterSettings
{
    [CommandOption("--status <STATUS>")]
    [Description("Only those in this status: open, replayed or discarded.")]
    public string? Status { get; init; }

    [CommandOption("-l|--limit <N>")]
    [Description("The most rows to list. Default: the server's (100).")]
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

internal sealed class DeadLettersShowSettings : FormattedSettings
{
    [CommandArgument(0, "<ID>")]
    [Description("The dead letter's id, as listed by usine deadletters list.")]
    public string Id { get; init; } = "";
}

/// <summary>usine deadletters list: the messages that failed a stage, newest first.</summary>
internal sealed class DeadLettersListCommand(CliEnvironment environment) : ClientCommand<DeadLettersListSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, DeadLettersListSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetDeadLettersAsync(settings.Filter(settings.Status), settings.Limit, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(DeadLetter)))
        {
            return ExitCodes.Ok;
        }

        var deadLetters = answer.Value;
        if (deadLetters.Count == 0)
        {
            Environment.PrintLine("No dead letters match.");
            return ExitCodes.Ok;
        }

        var table = new TableView("id", "received", "source", "stage", "status", "attempts", "model", "reason").RightAlign(5);
        foreach (var letter in deadLetters)
        {
            table.Row(
                letter.Id, Output.Time(letter.ReceivedAt), letter.Source, letter.Stage, letter.Status,
                letter.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture), Model(letter), letter.Reason);
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }

    internal static string? Model(DeadLetter letter) =>
        letter.Model is null ? null : letter.ModelVersion is { } version ? $"{letter.Model} v{version}" : letter.Model;
}

/// <summary>usine deadletters show: one dead letter with why it failed and the payload as received.</summary>
internal sealed class DeadLettersShowCommand(CliEnvironment environment) : ClientCommand<DeadLettersShowSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, DeadLettersShowSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetDeadLetterAsync(settings.Id, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(DeadLetter)))
        {
            return ExitCodes.Ok;
        }

        var letter = answer.Value;
        Environment.PrintDetails(
        [
            ("dead letter", letter.Id),
            ("source", letter.Source),
            ("stream", letter.Stream),
            ("position", letter.Position),
            ("topic", letter.Topic),
            ("stage", letter.Stage),
            ("status", letter.Status),
            ("attempts", letter.Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("model", DeadLettersListCommand.Model(letter)),
            ("received", Output.Time(letter.ReceivedAt)),
            ("failed", Output.Time(letter.CreatedAt)),
            ("error", letter.ErrorType),
            ("reason", letter.Reason),
            ("edited", letter.EditedAt is null ? null : Output.Time(letter.EditedAt)),
            ("discarded because", letter.DiscardReason),
        ]);

        // The payload goes out raw, not through the console renderer, so long lines are not wrapped and it
        // can be copied back into a file as it was received.
        var output = Environment.Out;
        var size = letter.PayloadBytes is { } bytes ? $"{Output.Count(bytes)} bytes" : "size unknown";
        if (letter.Payload is { } payload)
        {
            var pretty = Output.PrettyJson(payload);
            await output.WriteLineAsync(pretty is null ? $"payload ({size}):" : $"payload ({size}, JSON shown indented):");
            await output.WriteLineAsync(pretty ?? payload);
        }
        else if (letter.PayloadBase64 is { } base64)
        {
            await output.WriteLineAsync($"payload ({size}, not UTF-8, base64):");
            await output.WriteLineAsync(base64);
        }
        else
        {
            await output.WriteLineAsync("payload: none");
        }

        if (letter.OriginalPayload is { } original)
        {
            await output.WriteLineAsync("original payload, before the edit:");
            await output.WriteLineAsync(original);
        }
        else if (letter.OriginalPayloadBase64 is { } originalBase64)
        {
            await output.WriteLineAsync("original payload, before the edit (not UTF-8, base64):");
            await output.WriteLineAsync(originalBase64);
        }

        return ExitCodes.Ok;
    }
}
