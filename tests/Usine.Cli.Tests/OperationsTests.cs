namespace Usine.Cli.Tests;

public sealed class OperationsTests
{
    private const string Mismatch = """
        {"source":"douai-energy","from":"2026-11-26T00:00:00Z","to":"2026-11-27T00:00:00Z","consistent":false,
         "mismatches":["file meters.csv: declares 5 lines but has 4","12 messages missing from sequence 'seq' in 1 gap(s)"],
         "totals":{"landed":4,"stored":3,"duplicates":0,"rejected":1,"pending":0},
         "hours":[{"hour":"2026-11-26T08:00:00Z","landed":4,"stored":3,"replayed":0,"duplicates":0,"rejected":1,"recordsFound":3,"deadLettersFound":1,"problems":[]}],
         "files":[{"stream":"file:douai-energy:ab","name":"meters.csv","declared":5,"lines":4,"landed":4,"finishedAt":"2026-11-26T08:00:01Z","problems":["declares 5 lines but has 4"]}],
         "gaps":[{"scope":"douai/M1","after":3,"before":16,"missing":12,"afterTime":"2026-11-26T08:03:00Z","beforeTime":"2026-11-26T08:16:00Z"}]}
        """;

    private static Task<FakeUsineServer> StartServerAsync() => FakeUsineServer.StartAsync(app =>
    {
        app.MapGet("/api/reconcile", (string source, string? from, string? to) => source switch
        {
            "douai-energy" => FakeUsineServer.Json(Mismatch),
            "flins-screwing" => FakeUsineServer.Json($$"""
                {"source":"flins-screwing","from":"2026-11-26T00:00:00Z","to":"2026-11-27T00:00:00Z","consistent":true,"mismatches":[],
                 "totals":{"landed":10,"stored":10,"duplicates":0,"rejected":0,"pending":2},"hours":[],"files":[],"gaps":[]}
                """),
            _ => FakeUsineServer.Json($$"""{"error":"unknown source '{{source}}' (sources: douai-energy, flins-screwing)"}""", StatusCodes.Status404NotFound),
        });
        app.MapPost("/api/rollups/rebuild", () => FakeUsineServer.Json("""
            {"model":"screwing","rollups":[{"rollup":"1h","table":"r_screwing_1h","from":"2026-11-26T07:00:00Z","to":"2026-11-26T09:00:00Z","rowsBefore":6,"rowsAfter":4}]}
            """));
        app.MapGet("/api/alerts", () => FakeUsineServer.Json("""
            {"firing":[{"rule":"screwing-silent","severity":"critical","source":"flins-screwing","summary":"source flins-screwing has sent nothing for 2m05s (expected every 30s)","since":"2026-11-26T10:00:00Z"}],
             "rules":[{"name":"screwing-silent","signal":"silence","severity":"critical","sources":["flins-screwing"],"forSeconds":0,"origin":"usine.yaml:40"}],
             "notifiers":[{"name":"night","kind":"webhook","delivered":3,"failed":1,"retries":4,"dropped":0,"queued":0}]}
            """));
        app.MapGet("/api/alerts/history", (int? limit) => FakeUsineServer.Json($$"""
            [{"id":2,"status":"resolved","rule":"screwing-silent","signal":"silence","severity":"critical","source":"flins-screwing","summary":"limit {{limit}}","since":"2026-11-26T10:00:00Z","at":"2026-11-26T10:05:00Z"}]
            """));
    });

    [Fact]
    public async Task Reconcile_prints_every_mismatch_and_exits_with_1()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["reconcile", "--source", "douai-energy", "--server", server.Url]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("mismatch: file meters.csv: declares 5 lines but has 4", result.Output, StringComparison.Ordinal);
        Assert.Contains("mismatch: 12 messages missing from sequence 'seq' in 1 gap(s)", result.Output, StringComparison.Ordinal);
        Assert.Contains("douai/M1", result.Output, StringComparison.Ordinal);
        Assert.Contains("2 mismatch(es)", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_consistent_source_exits_with_0_and_the_range_is_passed_as_given()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["reconcile", "--source", "flins-screwing", "--from", "6h", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("consistent", result.Output, StringComparison.Ordinal);
        Assert.Contains("Nothing landed for this source in the range.", result.Output, StringComparison.Ordinal);
        Assert.Contains(server.Requests, r => r.Query.TryGetValue("from", out var f) && f == "6h");
    }

    [Fact]
    public async Task Reconcile_without_a_source_or_with_an_unknown_one_is_bad_usage()
    {
        await using var server = await StartServerAsync();

        var missing = await CliRunner.RunAsync(["reconcile", "--server", server.Url]);
        var unknown = await CliRunner.RunAsync(["reconcile", "--source", "nope", "--server", server.Url]);

        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--source is required", missing.Error, StringComparison.Ordinal);
        Assert.Equal(2, unknown.ExitCode);
        CliAssert.OneErrorLine("error: unknown source 'nope' (sources: douai-energy, flins-screwing)", unknown);
    }

    [Fact]
    public async Task Alerts_list_shows_what_fires_and_with_rules_the_delivery_counters()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["alerts", "list", "--rules", "--server", server.Url]);
        var history = await CliRunner.RunAsync(["alerts", "history", "--limit", "5", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("has sent nothing for 2m05s", result.Output, StringComparison.Ordinal);
        Assert.Contains("usine.yaml:40", result.Output, StringComparison.Ordinal);
        Assert.Contains("night", result.Output, StringComparison.Ordinal);
        Assert.Equal(0, history.ExitCode);
        Assert.Contains("limit 5", history.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rollups_rebuild_sends_the_model_and_range_and_prints_the_rows_before_and_after()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["rollups", "rebuild", "--model", "screwing", "--from", "2026-11-26T07:30:00Z", "--to", "2026-11-26T08:30:00Z", "--server", server.Url]);
        var missing = await CliRunner.RunAsync(["rollups", "rebuild", "--model", "screwing", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("r_screwing_1h", result.Output, StringComparison.Ordinal);
        Assert.Contains("2026-11-26 07:00:00Z", result.Output, StringComparison.Ordinal);
        var request = Assert.Single(server.Requests, r => r.Path == "/api/rollups/rebuild");
        Assert.Contains("\"model\":\"screwing\"", System.Text.Encoding.UTF8.GetString(request.Body), StringComparison.Ordinal);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("--from and --to are both required", missing.Error, StringComparison.Ordinal);
    }
}
