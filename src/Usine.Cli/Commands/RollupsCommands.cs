namespace Usine.Cli.Commands;

internal sealed class RollupsRebuildSettings : ClientSettings
{
    [CommandOption("-m|--model <NAME>")]
    [Description("The model whose rollups are recomputed from its records.")]
    public string? Model { get; init; }

    [CommandOption("--from <TIME>")]
    [Description("Start: ISO 8601 (UTC unless an offset is given), now, or a time ago such as 6h. Widened to whole buckets.")]
    public string? From { get; init; }

    [CommandOption("--to <TIME>")]
    [Description("End (excluded), same forms as --from. Widened to whole buckets.")]
    public string? To { get; init; }

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Model) ? ValidationResult.Error("--model is required: the model whose rollups to rebuild, as listed by usine models list")
        : string.IsNullOrWhiteSpace(From) || string.IsNullOrWhiteSpace(To) ? ValidationResult.Error("--from and --to are both required: the rebuild recomputes the buckets between them")
        : ValidationResult.Success();
}

/// <summary>usine rollups rebuild: recompute a model's rollup buckets from its records, in one transaction, audited.</summary>
internal sealed class RollupsRebuildCommand(CliEnvironment environment) : ClientCommand<RollupsRebuildSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, RollupsRebuildSettings settings, CancellationToken cancellationToken)
    {
        var result = await client.RebuildRollupsAsync(settings.Model!, settings.From!, settings.To!, cancellationToken);
        var table = new TableView("rollup", "table", "from", "to", "rows before", "rows after").RightAlign(4, 5);
        foreach (var r in result.Rollups)
        {
            table.Row(r.Rollup, r.Table, Output.Time(r.From), Output.Time(r.To), Output.Count(r.RowsBefore), Output.Count(r.RowsAfter));
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }
}
