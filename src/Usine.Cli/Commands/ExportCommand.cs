namespace Usine.Cli.Commands;

/// <summary>The record filters the export and aggregate commands share, as the API takes them.</summary>
internal abstract class RecordFilterSettings : ClientSettings
{
    [CommandOption("--from <TIME>")]
    [Description("Records from this event time (ISO 8601).")]
    public string? From { get; init; }

    [CommandOption("--to <TIME>")]
    [Description("Records before this event time (ISO 8601).")]
    public string? To { get; init; }

    [CommandOption("--plant <PLANT>")]
    [Description("Only this plant's records.")]
    public string? Plant { get; init; }

    [CommandOption("-w|--where <FIELD:OP:VALUE>")]
    [Description("A filter such as status:eq:NOK or torque:gt:50 (eq, ne, lt, le, gt, ge, in with | between values, like); repeat for several. Aggregates also take @shift, @shop, @line and @station.")]
    public string[] Where { get; init; } = [];

    /// <summary>The filters as query parameters; those not given are left out.</summary>
    public IEnumerable<(string Name, string? Value)> FilterQuery() =>
        [("from", From), ("to", To), ("plant", Plant), .. Where.Select(w => ("where", (string?)w))];
}

internal sealed class ExportSettings : RecordFilterSettings
{
    [CommandArgument(0, "<MODEL>")]
    [Description("The model whose records are exported, as listed by usine models list.")]
    public string Model { get; init; } = "";

    [CommandOption("-o|--out <FILE>")]
    [Description("The file to write.")]
    public string? Out { get; init; }

    [CommandOption("-f|--format <FORMAT>")]
    [Description("csv, ndjson or parquet. Default: from the file's extension, else csv.")]
    public string? Format { get; init; }

    [CommandOption("--avatar <ID>")]
    [Description("Only the records of this avatar (a VIN, a machine).")]
    public string? Avatar { get; init; }

    public string ResolvedFormat => Format ?? System.IO.Path.GetExtension(Out ?? "").ToLowerInvariant() switch
    {
        ".parquet" => "parquet",
        ".ndjson" or ".jsonl" => "ndjson",
        _ => "csv",
    };

    public override ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Out))
        {
            return ValidationResult.Error("--out is required: the file to write, such as nok.parquet");
        }

        return ResolvedFormat is "csv" or "ndjson" or "parquet"
            ? ValidationResult.Success()
            : ValidationResult.Error($"--format must be csv, ndjson or parquet, not '{Format}'");
    }
}

/// <summary>usine export: a model's records, filtered, streamed from the server into a file.</summary>
internal sealed class ExportCommand(CliEnvironment environment) : ClientCommand<ExportSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ExportSettings settings, CancellationToken cancellationToken)
    {
        List<(string, string?)> query = [("format", settings.ResolvedFormat), ("avatar", settings.Avatar), .. settings.FilterQuery()];
        // Written beside the target and renamed at the end: a failed export never leaves half a file under its name.
        var target = Path.GetFullPath(settings.Out!);
        var partial = target + ".partial";
        try
        {
            long bytes;
            var rows = new ExportRows(settings.ResolvedFormat);
            await using (var file = File.Create(partial))
            {
                bytes = await client.ExportAsync(settings.Model, query, file, rows, cancellationToken);
            }

            var count = rows.Count(partial);
            File.Move(partial, target, overwrite: true);
            Environment.PrintLine($"Exported {settings.Model} as {settings.ResolvedFormat} to {settings.Out}: {Output.Count(count)} {(count == 1 ? "row" : "rows")}, {Output.Bytes(bytes)}.");
            return ExitCodes.Ok;
        }
        finally
        {
            File.Delete(partial);
        }
    }
}
