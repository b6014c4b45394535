namespace Usine.Cli.Commands;

internal sealed class ReconcileSettings : ClientSettings
{
    [CommandOption("-s|--source <ID>")]
    [Description("The source to reconcile.")]
    public string? Source { get; init; }

    [CommandOption("--from <TIME>")]
    [Description("Start, ISO 8601 (UTC unless an offset is given) or a time ago such as 6h. Default: 24 hours ago.")]
    public string? From { get; init; }

    [CommandOption("--to <TIME>")]
    [Description("End (excluded), same forms as --from. Default: now.")]
    public string? To { get; init; }

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Source)
            ? ValidationResult.Error("--source is required: give the id of the source to reconcile, as listed by usine sources list")
            : ValidationResult.Success();
}

/// <summary>
/// usine reconcile: per hour, what landed and what it became, against the tables; imported files against
/// their counts; sequence gaps. Exit code 1 when something does not reconcile, so scripts can act on it.
/// </summary>
internal sealed class ReconcileCommand(CliEnvironment environment) : ClientCommand<ReconcileSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ReconcileSettings settings, CancellationToken cancellationToken)
    {
        var r = await client.ReconcileAsync(settings.Source!, settings.From, settings.To, cancellationToken);
        var t = r.Totals;
        Environment.PrintDetails(
        [
            ("source", r.Source),
            ("range", $"{Output.Time(r.From)} to {Output.Time(r.To)}"),
            ("landed", t is null ? "-" : Output.Count(t.Landed)),
            ("stored", t is null ? "-" : Output.Count(t.Stored)),
            ("duplicates", t is null ? "-" : Output.Count(t.Duplicates)),
            ("rejected", t is null ? "-" : Output.Count(t.Rejected)),
            ("pending", t is null ? "-" : Output.Count(t.Pending)),
            ("result", r.Consistent ? "consistent" : $"{r.Mismatches?.Count ?? 0} mismatch(es)"),
        ]);

        var hours = r.Hours ?? [];
        if (hours.Count > 0)
        {
            var table = new TableView("hour", "landed", "stored", "replayed", "duplicates", "rejected", "records found", "dead letters found", "problems")
                .RightAlign(1, 2, 3, 4, 5, 6, 7);
            foreach (var h in hours)
            {
                table.Row(Output.Time(h.Hour), Output.Count(h.Landed), Output.Count(h.Stored), Output.Count(h.Replayed), Output.Count(h.Duplicates),
                    Output.Count(h.Rejected), Output.Count(h.RecordsFound), Output.Count(h.DeadLettersFound),
                    h.Problems is { Count: > 0 } p ? string.Join("; ", p) : "");
            }

            Environment.Print(table);
        }
        else
        {
            Environment.PrintLine("Nothing landed for this source in the range.");
        }

        if (r.Files is { Count: > 0 } files)
        {
            var table = new TableView("file", "declared", "lines", "landed", "problems").RightAlign(1, 2, 3);
            foreach (var f in files)
            {
                table.Row(f.Name ?? f.Stream, f.Declared is { } d ? Output.Count(d) : "-", f.Lines is { } l ? Output.Count(l) : "reading",
                    Output.Count(f.Landed), f.Problems is { Count: > 0 } p ? string.Join("; ", p) : "");
            }

            Environment.Print(table);
        }

        if (r.Gaps is { Count: > 0 } gaps)
        {
            var table = new TableView("scope", "after", "before", "missing", "between").RightAlign(1, 2, 3);
            foreach (var g in gaps)
            {
                table.Row(g.Scope, Output.Count(g.After), Output.Count(g.Before), Output.Count(g.Missing), $"{Output.Time(g.AfterTime)} and {Output.Time(g.BeforeTime)}");
            }

            Environment.Print(table);
        }

        foreach (var m in r.Mismatches ?? [])
        {
            Environment.PrintLine("mismatch: " + m);
        }

        return r.Consistent ? ExitCodes.Ok : ExitCodes.Failure;
    }
}
