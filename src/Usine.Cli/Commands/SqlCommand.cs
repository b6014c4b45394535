using System.ComponentModel;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Cli;
using Usine.Cli.Internal;

namespace Usine.Cli.Commands;

internal sealed class SqlSettings : ClientSettings
{
    /// <summary>The most rows the server returns for one statement (docs/api.md).</summary>
    public const int MaxLimit = 100_000;

    [CommandArgument(0, "<QUERY>")]
    [Description("One read-only SQL statement (SELECT, WITH, ...). Quote it for the shell.")]
    public string Query { get; init; } = "";

    [CommandOption("-f|--format <FORMAT>")]
    [Description("table (for people), csv (RFC 4180) or json (an array of objects).")]
    [DefaultValue("table")]
    public string Format { get; init; } = "table";

    [CommandOption("-l|--limit <N>")]
    [Description("The most rows to return, at most 100000. Default: the server's (1000).")]
    public int? Limit { get; init; }

    public override ValidationResult Validate()
    {
        if (string.IsNullOrWhiteSpace(Query))
        {
            return ValidationResult.Error("the query is empty; give a SELECT statement");
        }

        if (Format is not ("table" or "csv" or "json"))
        {
            return ValidationResult.Error($"--format must be table, csv or json, not '{Format}'");
        }

        return Limit is < 1 or > MaxLimit
            ? ValidationResult.Error($"--limit must be between 1 and {MaxLimit.ToString("N0", CultureInfo.InvariantCulture)}")
            : ValidationResult.Success();
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
            Environment.Console.Write(new Text($"Warning: {truncated}.\n", new Style(Color.Yellow)));
        }

        return ExitCodes.Ok;
    }

    private void PrintTable(SqlResult result)
    {
        var table = Output.Table([.. result.Columns.Select(column => column.Name)]);
        for (var i = 0; i < result.Columns.Count; i++)
        {
            if (IsNumeric(result.Columns[i].Type))
            {
                table.Columns[i].RightAligned();
            }
        }

        foreach (var row in result.Rows)
        {
            table.Row([.. row.Select(Output.Scalar)]);
        }

        var console = Environment.Console;
        if (result.Columns.Count > 0)
        {
            console.Write(table);
        }

        var rows = result.Rows.Count == 1 ? "1 row" : $"{Output.Count(result.Rows.Count)} rows";
        console.Write(new Text($"{rows} in {Output.Duration(TimeSpan.FromMilliseconds(result.ElapsedMs))}\n", new Style(decoration: Decoration.Dim)));
    }

    private static bool IsNumeric(string? type) =>
        type is not null && (type.Contains("INT", StringComparison.OrdinalIgnoreCase)
            || type.StartsWith("DECIMAL", StringComparison.OrdinalIgnoreCase)
            || type is "DOUBLE" or "FLOAT" or "REAL" or "HUGEINT");
}
