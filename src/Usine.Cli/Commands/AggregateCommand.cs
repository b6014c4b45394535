namespace Usine.Cli.Commands;

internal sealed class AggregateSettings : RecordFilterSettings
{
    [CommandArgument(0, "<MODEL>")]
    [Description("The model whose records are aggregated, as listed by usine models list.")]
    public string Model { get; init; } = "";

    [CommandOption("-b|--bucket <BUCKET>")]
    [Description("1m, 5m, 15m, 1h, 1d, 1w, 1mo or shift. Default: the server's (1h).")]
    public string? Bucket { get; init; }

    [CommandOption("-m|--measures <MEASURES>")]
    [Description("Comma-separated: count, or FIELD:FUNCTION with count, sum, avg, min, max, p50, p90, p95, p99. Default: count.")]
    public string? Measures { get; init; }

    [CommandOption("--by <GROUPS>")]
    [Description("Comma-separated groups: plant, fields, @shop, @line, @station or @shift.")]
    public string? By { get; init; }

    [CommandOption("--source <SOURCE>")]
    [Description("auto (a rollup when one covers the request), records or rollup. Default: auto.")]
    public string? Source { get; init; }

    [CommandOption("-f|--format <FORMAT>")]
    [Description(FormattedSettings.FormatDescription)]
    [DefaultValue(DataOutput.Table)]
    public string Format { get; init; } = DataOutput.Table;

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Model) ? ValidationResult.Error("the model is missing; see usine models list")
        : DataOutput.Problem(Format) is { } problem ? ValidationResult.Error(problem)
        : Source is not (null or "auto" or "records" or "rollup") ? ValidationResult.Error($"--source must be auto, records or rollup, not '{Source}'")
        : ValidationResult.Success();
}

/// <summary>usine aggregate: a model's records per time bucket and group, computed by the server (from a rollup when one covers it).</summary>
internal sealed class AggregateCommand(CliEnvironment environment) : ClientCommand<AggregateSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, AggregateSettings settings, CancellationToken cancellationToken)
    {
        List<(string, string?)> query =
            [("bucket", settings.Bucket), ("measures", settings.Measures), ("by", settings.By), ("source", settings.Source), .. settings.FilterQuery()];
        var result = await client.AggregateAsync(settings.Model, query, cancellationToken);

        // Every bucket has the same properties, in the order the server gives them: the first one names the columns.
        var columns = result.Buckets.Count == 0 ? ["bucket"] : result.Buckets[0].Select(p => p.Key).ToList();
        var rows = result.Buckets.Select(b => (IReadOnlyList<JsonElement>)[.. columns.Select(c => b.TryGetValue(c, out var v) ? v : default)]).ToList();
        switch (settings.Format)
        {
            case "csv":
                Output.WriteCsv(Environment.Out, new SqlResult([.. columns.Select(c => new SqlColumn(c, null))], rows, false, 0));
                break;
            case "json":
                Output.WriteJsonRows(Environment.Out, new SqlResult([.. columns.Select(c => new SqlColumn(c, null))], rows, false, 0));
                break;
            default:
                var table = new TableView([.. columns])
                    .RightAlign([.. Enumerable.Range(0, columns.Count).Where(i => rows.Count > 0 && rows.All(r => r[i].ValueKind is JsonValueKind.Number or JsonValueKind.Null))]);

                foreach (var row in rows)
                {
                    table.Row([.. row.Select(Output.Scalar)]);
                }

                Environment.Print(table);
                var count = rows.Count == 1 ? "1 bucket" : $"{Output.Count(rows.Count)} buckets";
                Environment.PrintLine($"{count}, from {result.Source}", dim: true);
                break;
        }

        return ExitCodes.Ok;
    }
}
