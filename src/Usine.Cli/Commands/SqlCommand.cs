namespace Usine.Cli.Commands;

internal sealed class SqlSettings : FormattedSettings
{
    /// <summary>The most rows the server returns for one statement (docs/api.md).</summary>
    public const int MaxLimit = 100_000;

    [CommandArgument(0, "<QUERY>")]
    [Description("One read-only SQL statement (SELECT, WITH, ...). Quote it for the shell.")]
    public string Query { get; init; } = "";

    [CommandOption("-l|--limit <N>")]
    [Description("The most rows to return, at most 100000. Default: the server's (1000).")]
    public int? Limit { get; init; }

    public override ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Query))
        {
            return ValidationResult.Error("the query is empty; give a SELECT statement");
        }

        return Limit is < 1 or > MaxLimit
            ? ValidationResult.Error($"--limit must be between 1 and {MaxLimit.ToString("N0", CultureInfo.InvariantCulture)}")
            : base.Validate();
    }
}

/// <summary>usine sql: runs one read-only statement on the server and prints the rows.</summary>
internal sealed class SqlCommand(CliEnvironment environment) : ClientCommand<SqlSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, SqlSettings settings, CancellationToken cancellationToken)
    {
        var result = await client.QueryAsync(settings.Query, settings.Limit, cancellationToken);
        var truncated = result.Truncated
            ? $"the result was cut at {Output.Count(result.Rows.Count)} rows; raise --limit (at most {Output.Count(SqlSettings.MaxLimit)}) or narrow the query"
            : null;
        switch (settings.Format)
        {
            case "csv":
                Output.WriteCsv(Environment.Out, result);
                break;
            case "json":
                Output.WriteJsonRows(Environment.Out, result);
                break;
            default:
                PrintTable(result);
                break;
        }

        // Machine formats keep standard output clean for pipes, so the warning goes to standard error.
        if (truncated is not null && settings.Format != "table")
        {
            await Environment.Error.WriteLineAsync($"warning: {truncated}");
        }
        else if (truncated is not null)
        {
            Environment.PrintLine($"Warning: {truncated}.");
        }

        return ExitCodes.Ok;
    }

    private void PrintTable(SqlResult result)
    {
        var table = new TableView([.. result.Columns.Select(column => column.Name)])
            .RightAlign([.. Enumerable.Range(0, result.Columns.Count).Where(i => IsNumeric(result.Columns[i].Type))]);

        foreach (var row in result.Rows)
        {
            table.Row([.. row.Select(Output.Scalar)]);
        }

        if (result.Columns.Count > 0)
        {
            Environment.Print(table);
        }

        var rows = result.Rows.Count == 1 ? "1 row" : $"{Output.Count(result.Rows.Count)} rows";
        Environment.PrintLine($"{rows} in {Output.Duration(TimeSpan.FromMilliseconds(result.ElapsedMs))}", dim: true);
    }

    private static bool IsNumeric(string? type) =>
        type is not null && (type.Contains("INT", StringComparison.OrdinalIgnoreCase)
            || type.StartsWith("DECIMAL", StringComparison.OrdinalIgnoreCase)
            || type is "DOUBLE" or "FLOAT" or "REAL" or "HUGEINT");
}
