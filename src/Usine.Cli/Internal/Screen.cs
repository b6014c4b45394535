using System.Collections.Concurrent;
using System.Reflection;
using System.Text;
using System.Text.Json.Serialization;
using Spectre.Console.Rendering;

namespace Usine.Cli.Internal;

/// <summary>A table a command prints: drawn with borders on a terminal, plain aligned text anywhere else.</summary>
internal sealed class TableView(params string[] headers)
{
    private readonly HashSet<int> _rightAligned = [];

    public IReadOnlyList<string> Headers { get; } = headers;

    public List<string[]> Rows { get; } = [];

    public TableView RightAlign(params int[] columns)
    {
        _rightAligned.UnionWith(columns);
        return this;
    }

    /// <summary>Adds a row of plain text cells: values come from the server and are never read as markup.</summary>
    public TableView Row(params string?[] cells)
    {
        Rows.Add([.. cells.Select(cell => cell ?? "")]);
        return this;
    }

    public bool IsRightAligned(int column) => _rightAligned.Contains(column);
}

/// <summary>
/// How the commands print for people. On a terminal, Spectre draws tables with borders to fit its width. In a
/// pipe, a file or a log, everything is plain text at its natural width, one line per row, so that
/// <c>usine status | grep</c> and a CI log read as well as a terminal and a column never breaks into slivers.
/// </summary>
internal static class Screen
{
    private const string Gap = "  ";

    public static void Print(this CliEnvironment environment, TableView table)
    {
        if (!environment.Terminal)
        {
            environment.Out.Write(Plain(table));
            return;
        }

        var drawn = new Table().Border(TableBorder.Rounded);
        for (var i = 0; i < table.Headers.Count; i++)
        {
            var column = new TableColumn(new Text(table.Headers[i]));
            drawn.AddColumn(table.IsRightAligned(i) ? column.RightAligned() : column);
        }

        foreach (var row in table.Rows)
        {
            drawn.AddRow(row.Select(cell => (IRenderable)new Text(cell)).ToArray());
        }

        environment.Console.Write(drawn);
    }

    /// <summary>Labels and values, one per line, for one thing's details; a null value leaves its line out.</summary>
    public static void PrintDetails(this CliEnvironment environment, IEnumerable<(string Label, string? Value)> lines)
    {
        var shown = lines.Where(line => line.Value is not null).ToList();
        if (!environment.Terminal)
        {
            var width = shown.Count == 0 ? 0 : shown.Max(line => line.Label.Length);
            var text = new StringBuilder();
            foreach (var (label, value) in shown)
            {
                text.Append(label.PadRight(width)).Append(Gap).Append(OneLine(value!)).Append('\n');
            }

            environment.Out.Write(text.ToString());
            return;
        }

        var grid = new Grid().AddColumn(new GridColumn().NoWrap().PadRight(2)).AddColumn();
        foreach (var (label, value) in shown)
        {
            grid.AddRow(new Text(label, new Style(decoration: Decoration.Bold)), new Text(value!));
        }

        environment.Console.Write(grid);
    }

    /// <summary>One line of text; <paramref name="dim"/> greys it on a terminal (a footnote such as "2 rows in 3 ms").</summary>
    public static void PrintLine(this CliEnvironment environment, string text, bool dim = false)
    {
        if (!environment.Terminal)
        {
            environment.Out.Write(text + "\n");
            return;
        }

        environment.Console.Write(new Text(text + "\n", dim ? new Style(decoration: Decoration.Dim) : Style.Plain));
    }

    /// <summary>
    /// Columns separated by two spaces, each as wide as its widest cell, numbers aligned right; no trailing
    /// spaces. A line break inside a cell is written as <c>\n</c>, so one row stays one line.
    /// </summary>
    internal static string Plain(TableView table)
    {
        List<string[]> rows = [table.Headers.Select(OneLine).ToArray(), .. table.Rows.Select(row => row.Select(OneLine).ToArray())];
        var widths = new int[table.Headers.Count];
        foreach (var row in rows)
        {
            for (var i = 0; i < widths.Length && i < row.Length; i++)
            {
                widths[i] = Math.Max(widths[i], row[i].Length);
            }
        }

        var text = new StringBuilder();
        var line = new StringBuilder();
        foreach (var row in rows)
        {
            line.Clear();
            for (var i = 0; i < widths.Length; i++)
            {
                var cell = i < row.Length ? row[i] : "";
                if (i > 0)
                {
                    line.Append(Gap);
                }

                line.Append(table.IsRightAligned(i) ? cell.PadLeft(widths[i]) : cell.PadRight(widths[i]));
            }

            text.Append(line.ToString().TrimEnd()).Append('\n');
        }

        return text.ToString();
    }

    private static string OneLine(string text) =>
        text.AsSpan().IndexOfAny("\r\n\t") < 0 ? text
        : text.Replace("\r\n", "\\n", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)
            .Replace("\r", "\\r", StringComparison.Ordinal).Replace("\t", " ", StringComparison.Ordinal);
}

/// <summary>
/// The machine formats of the list and show commands: the API's own data (docs/api.md), so a script reads
/// the same names and values whether it calls the API or the tool.
/// </summary>
internal static class DataOutput
{
    public const string Table = "table";
    public const string Csv = "csv";
    public const string Json = "json";

    private static readonly ConcurrentDictionary<Type, string[]> ColumnsByType = new();

    /// <summary>Null when <paramref name="format"/> is one of table, csv and json, else the line saying what to write.</summary>
    public static string? Problem(string format) =>
        format is Table or Csv or Json ? null : $"--format must be table, csv or json, not '{format}'";

    /// <summary>
    /// Writes <paramref name="json"/> (json) or <paramref name="rows"/> (csv) and returns true; returns false for
    /// the table format, which the command draws itself.
    /// </summary>
    /// <param name="json">What json prints: the API's array of items for a list, its object for one thing.</param>
    /// <param name="rows">What csv prints: an array gives one line per item, an object one line.</param>
    /// <param name="rowType">
    /// The tool's reading of a row: its properties name the columns, in order, so the header is the same
    /// whatever the server sends, even for no rows. Other fields the server sends follow them.
    /// </param>
    public static bool TryWrite(this CliEnvironment environment, string format, JsonElement json, JsonElement rows, Type rowType)
    {
        switch (format)
        {
            case Json:
                environment.Out.Write(JsonSerializer.Serialize(json, Output.PrettyOptions) + "\n");
                return true;
            case Csv:
                WriteCsv(environment.Out, rows, rowType);
                return true;
            default:
                return false;
        }
    }

    /// <summary>A property of an API object, or an empty array when the server left it out.</summary>
    public static JsonElement Items(JsonElement answer, string property) =>
        answer.ValueKind == JsonValueKind.Object && answer.TryGetProperty(property, out var items) && items.ValueKind == JsonValueKind.Array
            ? items
            : EmptyArray;

    /// <summary>A property of an API object, or nothing (no CSV rows) when the server left it out.</summary>
    public static JsonElement Part(JsonElement answer, string property) =>
        answer.ValueKind == JsonValueKind.Object && answer.TryGetProperty(property, out var part) ? part : default;

    private static readonly JsonElement EmptyArray = JsonDocument.Parse("[]").RootElement;

    private static void WriteCsv(TextWriter writer, JsonElement rows, Type rowType)
    {
        List<JsonElement> items = rows.ValueKind switch
        {
            JsonValueKind.Array => [.. rows.EnumerateArray()],
            JsonValueKind.Object => [rows],
            _ => [],
        };
        var columns = ColumnsByType.GetOrAdd(rowType, ColumnsOf).ToList();
        foreach (var item in items.Where(item => item.ValueKind == JsonValueKind.Object))
        {
            foreach (var property in item.EnumerateObject())
            {
                if (!columns.Contains(property.Name, StringComparer.Ordinal))
                {
                    columns.Add(property.Name);
                }
            }
        }

        Output.WriteCsvLine(writer, columns);
        foreach (var item in items)
        {
            Output.WriteCsvLine(writer, columns.Select(column =>
                item.ValueKind == JsonValueKind.Object && item.TryGetProperty(column, out var value) ? Output.Scalar(value) : ""));
        }
    }

    private static string[] ColumnsOf(Type rowType) =>
    [
        .. rowType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<JsonExtensionDataAttribute>() is null
                && p.GetCustomAttribute<JsonIgnoreAttribute>() is not { Condition: JsonIgnoreCondition.Always })
            .Select(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(p.Name)),
    ];
}
