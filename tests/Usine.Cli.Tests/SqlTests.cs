using System.Text.Json;
using System.Text.RegularExpressions;

namespace Usine.Cli.Tests;

public sealed class SqlTests
{
    private const string Query = "SELECT station, count(*) AS n, avg(torque) AS avg_torque, max(note) AS note FROM m_screwing GROUP BY station";

    // A value with a comma, quotes and a line break, a null and an accent: what CSV and JSON must survive.
    private const string ResultJson = """
        {"columns":[{"name":"station","type":"VARCHAR"},{"name":"n","type":"BIGINT"},{"name":"avg_torque","type":"DOUBLE"},{"name":"note","type":"VARCHAR"}],
         "rows":[["S1",42,12.5,"a, \"b\"\nc"],["Séville",7,null,null]],
         "truncated":false,"elapsedMs":3.1}
        """;

    private static Task<FakeUsineServer> StartServerAsync(string result = ResultJson) => FakeUsineServer.StartAsync(app =>
        app.MapPost("/api/sql", async (HttpRequest request) =>
        {
            using var body = await JsonDocument.ParseAsync(request.Body);
            return body.RootElement.GetProperty("sql").GetString()!.StartsWith("SELECT", StringComparison.Ordinal)
                ? FakeUsineServer.Json(result)
                : FakeUsineServer.Json("""{"error":"only a single read-only query (SELECT, WITH, ...) is allowed"}""", StatusCodes.Status400BadRequest);
        }));

    [Fact]
    public async Task The_table_format_shows_every_column_and_value_and_the_row_count()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["sql", Query, "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        var header = result.Output.Split('\n').Single(line => line.Contains("station", StringComparison.Ordinal));
        Assert.Matches(new Regex(@"station\s{2,}n\s{2,}avg_torque\s{2,}note"), header);
        Assert.Matches(new Regex(@"S1\s{2,}42\s{2,}12\.5\s{2,}a, ""b"""), result.Output);
        Assert.Matches(new Regex(@"Séville\s{2,}7"), result.Output);
        Assert.Contains("2 rows in 3.1 ms", result.Output, StringComparison.Ordinal);
        var request = Assert.Single(server.Requests);
        using var sent = JsonDocument.Parse(request.Body);
        Assert.Equal(Query, sent.RootElement.GetProperty("sql").GetString());
        Assert.False(sent.RootElement.TryGetProperty("limit", out _), "without --limit the server's default applies, so no limit is sent");
    }

    [Fact]
    public async Task The_csv_format_follows_rfc_4180_and_sends_the_limit()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["sql", Query, "--format", "csv", "--limit", "5", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
            "station,n,avg_torque,note\r\n" +
            "S1,42,12.5,\"a, \"\"b\"\"\nc\"\r\n" +
            "Séville,7,,\r\n",
            result.Output);
        using var sent = JsonDocument.Parse(Assert.Single(server.Requests).Body);
        Assert.Equal(5, sent.RootElement.GetProperty("limit").GetInt32());
    }

    [Fact]
    public async Task The_json_format_prints_the_rows_as_an_array_of_objects()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["sql", Query, "--format", "json", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        using var rows = JsonDocument.Parse(result.Output);
        Assert.Equal(2, rows.RootElement.GetArrayLength());
        var first = rows.RootElement[0];
        Assert.Equal(["station", "n", "avg_torque", "note"], first.EnumerateObject().Select(p => p.Name));
        Assert.Equal("S1", first.GetProperty("station").GetString());
        Assert.Equal(42, first.GetProperty("n").GetInt64());
        Assert.Equal(12.5, first.GetProperty("avg_torque").GetDouble());
        Assert.Equal("a, \"b\"\nc", first.GetProperty("note").GetString());
        var second = rows.RootElement[1];
        Assert.Equal("Séville", second.GetProperty("station").GetString());
        Assert.Equal(JsonValueKind.Null, second.GetProperty("avg_torque").ValueKind);
        Assert.Contains("\"Séville\"", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_statement_the_server_refuses_exits_2_with_the_servers_error_line()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["sql", "DELETE FROM m_screwing", "--server", server.Url]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: only a single read-only query (SELECT, WITH, ...) is allowed", result);
        Assert.Equal("", result.Output);
    }

    [Fact]
    public async Task A_truncated_csv_result_warns_on_standard_error_and_keeps_standard_output_clean()
    {
        await using var server = await StartServerAsync("""{"columns":[{"name":"n","type":"INTEGER"}],"rows":[[1],[2]],"truncated":true,"elapsedMs":1}""");

        var result = await CliRunner.RunAsync(["sql", "SELECT n FROM t", "--format", "csv", "--limit", "2", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("n\r\n1\r\n2\r\n", result.Output);
        Assert.StartsWith("warning: the result was cut at 2 rows", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--format", "xml", "error: --format must be table, csv or json, not 'xml' (see usine sql --help)")]
    [InlineData("--limit", "0", "error: --limit must be between 1 and 100,000 (see usine sql --help)")]
    [InlineData("--limit", "many", "error: Failed to convert 'many' to a number (see usine sql --help)")]
    public async Task Bad_options_exit_2_with_one_line_before_anything_is_sent(string option, string value, string expected)
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["sql", Query, option, value, "--server", server.Url]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine(expected, result);
        Assert.Equal("", result.Output);
        Assert.Empty(server.Requests);
    }
}
