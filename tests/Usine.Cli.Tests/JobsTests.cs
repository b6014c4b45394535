using System.Text.RegularExpressions;

namespace Usine.Cli.Tests;

public sealed class JobsTests
{
    private const string StreamJob = """
        {"id":"stream:flins-screwing","kind":"stream","source":"flins-screwing","description":null,"state":"degraded",
         "stateSince":"2026-11-26T10:00:05Z","startedAt":"2026-11-26T08:00:00Z","endedAt":null,"total":null,
         "received":1012,"stored":1000,"duplicates":0,"rejected":12,"lastActivityAt":"2026-11-26T10:00:01Z",
         "lastError":"connection to mqtt://broker:1883 lost","lastErrorAt":"2026-11-26T10:00:05Z"}
        """;

    private const string ImportJob = """
        {"id":"import-3","kind":"import","source":"douai-energy","description":"energy.csv","state":"running",
         "stateSince":"2026-11-26T10:00:00Z","startedAt":"2026-11-26T10:00:00Z","endedAt":null,"total":1000,
         "received":250,"stored":249,"duplicates":0,"rejected":1,"lastActivityAt":"2026-11-26T10:00:14Z","lastError":null,"lastErrorAt":null}
        """;

    private const string SparkplugJob = """
        {"id":"stream:body-welds","kind":"stream","source":"body-welds","description":null,"state":"running",
         "stateSince":"2026-11-26T08:00:00Z","startedAt":"2026-11-26T08:00:00Z","endedAt":null,"total":null,
         "received":5000,"stored":5000,"duplicates":0,"rejected":0,"lastActivityAt":"2026-11-26T10:00:14Z","lastError":null,"lastErrorAt":null,
         "detail":"1 of 3 edge nodes offline: BodyShop/E1 since 09:58:02Z (NDEATH (bdSeq 3))","sequenceGaps":2}
        """;

    private const string Status = """
        {"startedAt":"2026-11-26T10:00:00Z","uptimeSeconds":15,"dataDirectory":"/var/lib/usine","plants":["flins"],"avatars":3,
         "records":{"screwing":1000},"deadLetters":{"open":12,"total":15},
         "sources":[{"id":"flins-screwing","kind":"mqtt","plant":"flins","model":"screwing","state":"reconnecting","received":1012,"stored":1000,
                     "duplicates":0,"deadLetters":12,"bytes":250000,"lastSeen":"2026-11-26T10:00:12Z",
                     "job":"stream:flins-screwing","jobState":"degraded","jobReason":"connection lost","ratePerSecond":16.87,"deadLettersLastHour":7,"lagSeconds":2.5}],
         "jobs":{"running":0,"idle":0,"degraded":1,"failed":0,"stopped":2},
         "alertsAvailable":true,
         "alerts":[{"rule":"source-silent","severity":"critical","source":"flins-screwing","summary":"no message for 5 min","since":"2026-11-26T09:55:00Z"}]}
        """;

    private static Task<FakeUsineServer> StartServerAsync() => FakeUsineServer.StartAsync(app =>
    {
        app.MapGet("/api/jobs", () => FakeUsineServer.Json($"[{ImportJob},{StreamJob}]"));
        app.MapGet("/api/jobs/{id}", (string id) => id switch
        {
            "stream:flins-screwing" => FakeUsineServer.Json($$"""
                {"job":{{StreamJob}},"history":[
                  {"at":"2026-11-26T08:00:01Z","from":"idle","to":"running","reason":"connected to mqtt://broker:1883"},
                  {"at":"2026-11-26T10:00:05Z","from":"running","to":"degraded","reason":"connection to mqtt://broker:1883 lost"}]}
                """),
            "stream:body-welds" => FakeUsineServer.Json($$"""{"job":{{SparkplugJob}},"history":[]}"""),
            _ => FakeUsineServer.Json($$"""{"error":"no job with id '{{id}}'"}""", StatusCodes.Status404NotFound),
        });
        app.MapGet("/api/status", () => FakeUsineServer.Json(Status));
    });

    [Fact]
    public async Task Listing_jobs_prints_a_row_per_job_with_its_progress_and_passes_the_filters()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["jobs", "list", "--kind", "import", "--state", "running", "--source", "douai-energy", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        var request = Assert.Single(server.Requests);
        Assert.Equal("/api/jobs", request.Path);
        Assert.Equal("import", request.Query["kind"]);
        Assert.Equal("running", request.Query["state"]);
        Assert.Equal("douai-energy", request.Query["source"]);
        Assert.Matches(new Regex(@"import-3\s{2,}import\s{2,}douai-energy\s{2,}running\s{2,}15s ago\s{2,}250 / 1,000 \(25%\)\s{2,}250\s{2,}249\s{2,}1"), result.Output);
        Assert.Matches(new Regex(@"stream:flins-screwing\s{2,}stream\s{2,}flins-screwing\s{2,}degraded\s{2,}10s ago\s{2,}-\s{2,}1,012\s{2,}1,000\s{2,}12\s{2,}connection to mqtt://broker:1883 lost"), result.Output);
    }

    [Fact]
    public async Task Showing_a_job_prints_its_counters_last_error_and_the_history_of_its_states()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["jobs", "show", "stream:flins-screwing", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/api/jobs/stream:flins-screwing", Uri.UnescapeDataString(Assert.Single(server.Requests).Path));
        Assert.Contains("degraded for 10s (since 2026-11-26 10:00:05Z)", result.Output, StringComparison.Ordinal);
        Assert.Contains("connection to mqtt://broker:1883 lost (2026-11-26 10:00:05Z)", result.Output, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"2026-11-26 08:00:01Z\s{2,}idle\s{2,}running\s{2,}connected to mqtt://broker:1883"), result.Output);
        Assert.Matches(new Regex(@"2026-11-26 10:00:05Z\s{2,}running\s{2,}degraded\s{2,}connection to mqtt://broker:1883 lost"), result.Output);
    }

    [Fact]
    public async Task Showing_a_sparkplug_stream_job_prints_the_edge_nodes_offline_and_its_seq_gaps()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["jobs", "show", "stream:body-welds", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(new Regex(@"detail\s+1 of 3 edge nodes offline: BodyShop/E1 since 09:58:02Z \(NDEATH \(bdSeq 3\)\)"), result.Output);
        Assert.Matches(new Regex(@"seq gaps\s+2\b"), result.Output);
    }

    [Fact]
    public async Task Showing_an_unknown_job_exits_2_with_the_server_s_error()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["jobs", "show", "import-9", "--server", server.Url]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: no job with id 'import-9'", result);
    }

    [Fact]
    public async Task Status_shows_the_alerts_firing_the_jobs_and_each_source_s_rate_lag_and_recent_errors()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["status", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Matches(new Regex(@"jobs\s+1 degraded, 2 stopped"), result.Output);
        Assert.Contains("Alerts firing: 1", result.Output, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"2026-11-26 09:55:00Z\s{2,}critical\s{2,}source-silent\s{2,}flins-screwing\s{2,}no message for 5 min"), result.Output);
        Assert.Matches(new Regex(@"flins-screwing\s{2,}mqtt\s{2,}screwing\s{2,}reconnecting\s{2,}1,012\s{2,}1,000\s{2,}12\s{2,}3s ago\s{2,}degraded\s{2,}16.87\s{2,}2.5 s\s{2,}7"), result.Output);
    }

    [Fact]
    public async Task Status_of_a_server_without_alerting_or_jobs_says_so_instead_of_failing()
    {
        await using var server = await FakeUsineServer.StartAsync(app => app.MapGet("/api/status", () => FakeUsineServer.Json("""
            {"startedAt":"2026-11-26T10:00:00Z","uptimeSeconds":15,"plants":[],"avatars":0,"records":{},"deadLetters":{"open":0,"total":0},
             "sources":[{"id":"douai-energy","kind":"file","model":"energy","state":"idle","received":0,"stored":0,"duplicates":0,"deadLetters":0,"bytes":0,"lastSeen":null}]}
            """)));

        var result = await CliRunner.RunAsync(["status", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Alerts firing: none (this server evaluates no alert rules).", result.Output, StringComparison.Ordinal);
        Assert.DoesNotMatch(new Regex(@"^jobs\s", RegexOptions.Multiline), result.Output);
        Assert.Matches(new Regex(@"douai-energy.*\s{2,}never\s{2,}-\s{2,}0\s{2,}0\s{2,}0"), result.Output);
    }
}
