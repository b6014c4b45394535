namespace Usine.Cli.Tests;

public sealed class AggregateTests
{
    private const string Answer = """
        { "source": "rollup:lines_1d",
          "buckets": [
            { "bucket": "2026-11-26T00:00:00Z", "@line": "flins/assembly/A1", "count": 5120, "torque_p90": 14.5 },
            { "bucket": "2026-11-26T00:00:00Z", "@line": "flins/body/B2", "count": 870, "torque_p90": null } ] }
        """;

    private static Task<FakeUsineServer> StartServerAsync() => FakeUsineServer.StartAsync(app =>
        app.MapGet("/api/models/{name}/aggregate", (string name) =>
            name == "screwing"
                ? FakeUsineServer.Json(Answer)
                : FakeUsineServer.Json("""{"error":"by: '@bay' is not one of @shop, @line, @station (levels of the plant hierarchy) or @shift"}""", StatusCodes.Status400BadRequest)));

    [Fact]
    public async Task Aggregates_print_one_row_per_bucket_and_group_with_every_parameter_passed()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["aggregate", "screwing", "--bucket", "1d", "--by", "@line", "--measures", "count,torque:p90", "--plant", "flins",
            "--where", "@shift:eq:night", "--where", "status:eq:NOK", "--from", "2026-11-26T00:00:00Z", "--source", "rollup", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        var request = Assert.Single(server.Requests, r => r.Path == "/api/models/screwing/aggregate");
        Assert.Equal(("1d", "@line", "count,torque:p90", "flins", "rollup", "2026-11-26T00:00:00Z"),
            (request.Query["bucket"], request.Query["by"], request.Query["measures"], request.Query["plant"], request.Query["source"], request.Query["from"]));
        Assert.Contains("@shift:eq:night", request.Query["where"], StringComparison.Ordinal);
        Assert.Contains("status:eq:NOK", request.Query["where"], StringComparison.Ordinal);
        Assert.Contains("flins/assembly/A1", result.Output, StringComparison.Ordinal);
        Assert.Contains("torque_p90", result.Output, StringComparison.Ordinal);
        Assert.Contains("2 buckets, from rollup:lines_1d", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Aggregates_as_csv_are_the_rows_alone_and_a_refused_request_says_why()
    {
        await using var server = await StartServerAsync();

        var csv = await CliRunner.RunAsync(["aggregate", "screwing", "--by", "@line", "--format", "csv", "--server", server.Url]);
        Assert.Equal(0, csv.ExitCode);
        Assert.Equal(
            "bucket,@line,count,torque_p90\n2026-11-26T00:00:00Z,flins/assembly/A1,5120,14.5\n2026-11-26T00:00:00Z,flins/body/B2,870,\n",
            csv.Output.Replace("\r\n", "\n", StringComparison.Ordinal));

        var refused = await CliRunner.RunAsync(["aggregate", "energy", "--by", "@bay", "--server", server.Url]);
        Assert.Equal(2, refused.ExitCode);
        CliAssert.OneErrorLine("error: by: '@bay' is not one of @shop, @line, @station (levels of the plant hierarchy) or @shift", refused);

        var format = await CliRunner.RunAsync(["aggregate", "screwing", "--format", "xml", "--server", server.Url]);
        Assert.Equal(2, format.ExitCode);
    }
}
