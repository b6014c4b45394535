using System.Globalization;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Usine.Tests.Api;

/// <summary>
/// Jobs, metrics and the status of a real platform served by Kestrel. The sources have ids of their own:
/// every platform of the test process shares the meter name, and these must not be confused with others.
/// </summary>
public sealed class OperationsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-ops-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private PlatformServices _platform = null!;
    private ServerHarness _server = null!;
    private HttpClient _http = null!;

    private static readonly string Yaml = TestDefinitions.Yaml
        .Replace("- id: line1", "- id: ops-push", StringComparison.Ordinal)
        .Replace("- id: csv-line1", "- id: ops-csv", StringComparison.Ordinal)
        + """

          - id: ops-cadence
            plant: douai
            kind: http
            model: screwing
            expect: { every: 30s }
            context: { shop: assembly, line: L1, station: "{station}" }
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
        """;

    public async Task InitializeAsync()
    {
        // The status's alert section is checked with an alert view of the test's own.
        _server = await ServerHarness.StartAsync(_dir, Yaml, _time, o => o with { IdleAfter = TimeSpan.FromMinutes(2), ArchiveTimeOfDay = TimeSpan.FromMinutes(30), EvaluateAlerts = false }, actor: null);
        (_http, _platform) = (_server.Http, _server.Platform);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }


    private async Task<JsonElement> Push(string source, params string[] messages) =>
        await ServerHarness.Json(await _http.PostAsync($"/api/sources/{source}/messages", new StringContent(string.Join("\n", messages), Encoding.UTF8, "application/json")), HttpStatusCode.OK);

    private static string Good(int minute) => TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", $"2026-11-26T08:{minute:00}:00Z", 12);

    private static string OutOfRange(int minute) => TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", $"2026-11-26T08:{minute:00}:00Z", 999);

    private async Task<string> Metrics()
    {
        var r = await _http.GetAsync("/metrics");
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, $"GET /metrics answered {(int)r.StatusCode}: {body}");
        return body;
    }

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels include every one of <paramref name="labels"/>.</summary>
    private static double Sample(string metrics, string name, params (string Name, string Value)[] labels)
    {
        var matches = metrics.Split('\n')
            .Where(line => line.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(l => line.Contains($"{l.Name}=\"{l.Value}\"", StringComparison.Ordinal)))
            .ToList();
        Assert.True(matches.Count == 1, $"expected one sample of {name} with {string.Join(", ", labels)}, found {matches.Count} in:\n{metrics}");
        var value = Regex.Match(matches[0], @"\}\s+(\S+)").Groups[1].Value;
        return double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Metrics_count_what_each_source_received_stored_and_rejected_and_sample_the_latency()
    {
        await Push("ops-push", Good(1), OutOfRange(2), Good(3));
        await Push("ops-push", Good(1));

        var metrics = await Metrics();
        (string, string)[] push = [("source", "ops-push"), ("plant", "flins")];
        Assert.Equal(4, Sample(metrics, "usine_source_received_total", push));
        Assert.Equal(2, Sample(metrics, "usine_source_stored_total", push));
        Assert.Equal(1, Sample(metrics, "usine_source_duplicates_total", push));
        Assert.Equal(1, Sample(metrics, "usine_source_rejected_total", push));
        Assert.True(Sample(metrics, "usine_source_received_size_bytes_total", push) > 300, "the payload bytes are counted");
        Assert.Equal(0, Sample(metrics, "usine_source_lag_seconds", push));
        Assert.Equal(2, Sample(metrics, "usine_ingest_latency_seconds_count", push));

        // A source that received nothing is there with zeros, so a rate or an absence can be computed.
        Assert.Equal(0, Sample(metrics, "usine_source_received_total", ("source", "ops-cadence"), ("plant", "douai")));
        Assert.Equal(1, Sample(metrics, "usine_job_state", ("job", "stream:ops-push"), ("state", "running")));
        Assert.Equal(0, Sample(metrics, "usine_job_state", ("job", "stream:ops-push"), ("state", "idle")));
    }

    [Fact]
    public async Task The_latency_histogram_puts_a_batch_in_the_bucket_of_its_oldest_message_age()
    {
        // Received 3 s before the commit: the push path stamps messages with the platform's clock, so the
        // engine is driven directly with an older receive time.
        var received = _time.GetUtcNow().UtcDateTime;
        _time.Advance(TimeSpan.FromSeconds(3));
        await _platform.Engine.IngestAsync(new Usine.Ingestion.IngestBatch
        {
            SourceId = "ops-push",
            StreamId = "test:ops-push",
            Messages = [new Usine.Pipeline.RawMessage(1, received, Encoding.UTF8.GetBytes(Good(5)))],
        }, CancellationToken.None);

        var metrics = await Metrics();
        (string, string)[] push = [("source", "ops-push")];
        Assert.Equal(0, Sample(metrics, "usine_ingest_latency_seconds_bucket", [.. push, ("le", "2.5")]));
        Assert.Equal(1, Sample(metrics, "usine_ingest_latency_seconds_bucket", [.. push, ("le", "5")]));
        Assert.Equal(3, Sample(metrics, "usine_ingest_latency_seconds_sum", push));
    }

    private const string Csv = "vin,station,ts,torque_lbft,status\n"
        + TestDefinitions.Vin1 + ",ST010,2026-11-26T06:00:00Z,11,OK\n"
        + TestDefinitions.Vin2 + ",ST010,2026-11-26T06:01:00Z,oops,OK\n"
        + TestDefinitions.Vin2 + ",ST020,2026-11-26T06:02:00Z,12,OK\n";

    [Fact]
    public async Task An_import_is_a_job_that_ends_stopped_with_the_counts_of_its_batches()
    {
        var imported = await ServerHarness.Json(await _http.PostAsync("/api/sources/ops-csv/import?name=shift1.csv", new StringContent(Csv)), HttpStatusCode.OK);
        var id = imported.GetProperty("job").GetString();
        Assert.NotNull(id);

        var list = await ServerHarness.Json(await _http.GetAsync("/api/jobs?kind=import&source=ops-csv"), HttpStatusCode.OK);
        var job = Assert.Single(list.EnumerateArray());
        Assert.Equal(id, job.GetProperty("id").GetString());
        Assert.Equal("stopped", job.GetProperty("state").GetString());
        Assert.Equal("shift1.csv", job.GetProperty("description").GetString());
        Assert.Equal(3, job.GetProperty("total").GetInt64()); // the lines of the file after its header
        Assert.Equal(3, job.GetProperty("received").GetInt64());
        Assert.Equal(2, job.GetProperty("stored").GetInt64());
        Assert.Equal(1, job.GetProperty("rejected").GetInt64());
        Assert.Equal(JsonValueKind.String, job.GetProperty("endedAt").ValueKind);

        var detail = await ServerHarness.Json(await _http.GetAsync($"/api/jobs/{id}"), HttpStatusCode.OK);
        var change = Assert.Single(detail.GetProperty("history").EnumerateArray());
        Assert.Equal("running", change.GetProperty("from").GetString());
        Assert.Equal("stopped", change.GetProperty("to").GetString());
        Assert.Equal("3 messages: 2 stored, 0 duplicates, 1 dead letters", change.GetProperty("reason").GetString());

        Assert.Empty((await ServerHarness.Json(await _http.GetAsync("/api/jobs?kind=import&state=failed"), HttpStatusCode.OK)).EnumerateArray());
    }

    [Fact]
    public async Task A_streamed_import_counts_up_to_the_number_of_records_its_producer_declares()
    {
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(Csv)));
        var imported = await ServerHarness.Json(await _http.PostAsync($"/api/sources/ops-csv/import?name=shift2.csv&sha256={sha}&expectedCount=3", new StringContent(Csv)), HttpStatusCode.OK);

        var job = (await ServerHarness.Json(await _http.GetAsync($"/api/jobs/{imported.GetProperty("job").GetString()}"), HttpStatusCode.OK)).GetProperty("job");
        Assert.Equal("stopped", job.GetProperty("state").GetString());
        Assert.Equal(3, job.GetProperty("total").GetInt64());
        Assert.Equal(3, job.GetProperty("received").GetInt64());
    }

    [Fact]
    public async Task An_import_that_fails_ends_failed_with_the_error()
    {
        var wrong = new string('0', 64);
        var answer = await ServerHarness.Json(await _http.PostAsync($"/api/sources/ops-csv/import?name=bad.csv&sha256={wrong}", new StringContent(Csv)), HttpStatusCode.UnprocessableEntity);
        var error = answer.GetProperty("error").GetString();

        var failed = Assert.Single((await ServerHarness.Json(await _http.GetAsync("/api/jobs?state=failed"), HttpStatusCode.OK)).EnumerateArray());
        Assert.Equal("import", failed.GetProperty("kind").GetString());
        Assert.Equal("bad.csv", failed.GetProperty("description").GetString());
        Assert.Equal(error, failed.GetProperty("lastError").GetString());
        Assert.Contains("not 0000", error, StringComparison.Ordinal);
        Assert.Equal(1, Sample(await Metrics(), "usine_job_state", ("job", failed.GetProperty("id").GetString()!), ("state", "failed")));
    }

    [Fact]
    public async Task Jobs_answer_unknown_ids_and_filters_with_what_to_fix()
    {
        var unknown = await ServerHarness.Json(await _http.GetAsync("/api/jobs/import-999"), HttpStatusCode.NotFound);
        Assert.StartsWith("no job with id 'import-999'", unknown.GetProperty("error").GetString(), StringComparison.Ordinal);
        var state = await ServerHarness.Json(await _http.GetAsync("/api/jobs?state=sleeping"), HttpStatusCode.BadRequest);
        Assert.Equal("state 'sleeping' is not one of running, idle, degraded, failed, stopped", state.GetProperty("error").GetString());
        var kind = await ServerHarness.Json(await _http.GetAsync("/api/jobs?kind=1"), HttpStatusCode.BadRequest);
        Assert.Equal("kind '1' is not one of stream, import, replay, backfill, archive, retention", kind.GetProperty("error").GetString());

        var streams = await ServerHarness.Json(await _http.GetAsync("/api/jobs?kind=stream"), HttpStatusCode.OK);
        Assert.Equal(["stream:ops-cadence", "stream:ops-push"], streams.EnumerateArray().Select(j => j.GetProperty("id").GetString()!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_push_stream_runs_while_pushes_arrive_and_is_idle_once_its_cadence_is_missed()
    {
        var job = _platform.Jobs.Get("stream:ops-cadence")!;
        Assert.Equal(JobState.Idle, job.State);

        await Push("ops-cadence", Good(1));
        Assert.Equal(JobState.Running, job.State);

        // expect.every 30s: idle after twice that, one expected message missed.
        _time.Advance(TimeSpan.FromSeconds(59));
        _platform.CheckStreams();
        Assert.Equal(JobState.Running, job.State);
        _time.Advance(TimeSpan.FromSeconds(1));
        _platform.CheckStreams();
        Assert.Equal(JobState.Idle, job.State);

        await Push("ops-cadence", Good(2));
        var detail = await ServerHarness.Json(await _http.GetAsync("/api/jobs/stream:ops-cadence"), HttpStatusCode.OK);
        Assert.Equal(["running", "idle", "running"], detail.GetProperty("history").EnumerateArray().Select(t => t.GetProperty("to").GetString()));
        Assert.Equal("no data for 60 s (idle after 60 s)", detail.GetProperty("history")[1].GetProperty("reason").GetString());
        Assert.Equal(2, detail.GetProperty("job").GetProperty("received").GetInt64());
    }

    [Fact]
    public async Task Status_shows_the_rate_of_the_last_minute_the_errors_of_the_last_hour_and_the_lag()
    {
        await Push("ops-push", Good(1), OutOfRange(2), Good(3));

        var status = await ServerHarness.Json(await _http.GetAsync("/api/status"), HttpStatusCode.OK);
        var push = Source(status, "ops-push");
        Assert.Equal(0.05, push.GetProperty("ratePerSecond").GetDouble()); // 3 messages over 60 s
        Assert.Equal(1, push.GetProperty("deadLettersLastHour").GetInt64());
        Assert.Equal(1, push.GetProperty("deadLetters").GetInt64());
        Assert.Equal(0, push.GetProperty("lagSeconds").GetDouble());
        Assert.Equal("running", push.GetProperty("jobState").GetString());
        Assert.Equal(1, status.GetProperty("jobs").GetProperty("running").GetInt64());
        Assert.Equal(0, Source(status, "ops-cadence").GetProperty("ratePerSecond").GetDouble());

        _time.Advance(TimeSpan.FromSeconds(61));
        push = Source(await ServerHarness.Json(await _http.GetAsync("/api/status"), HttpStatusCode.OK), "ops-push");
        Assert.Equal(0, push.GetProperty("ratePerSecond").GetDouble());
        Assert.Equal(1, push.GetProperty("deadLettersLastHour").GetInt64());

        _time.Advance(TimeSpan.FromHours(1));
        push = Source(await ServerHarness.Json(await _http.GetAsync("/api/status"), HttpStatusCode.OK), "ops-push");
        Assert.Equal(0, push.GetProperty("deadLettersLastHour").GetInt64());
        Assert.Equal(1, push.GetProperty("deadLetters").GetInt64());
    }

    [Fact]
    public async Task Status_lists_the_alerts_firing_when_an_alert_view_is_attached()
    {
        var before = await ServerHarness.Json(await _http.GetAsync("/api/status"), HttpStatusCode.OK);
        Assert.False(before.GetProperty("alertsAvailable").GetBoolean());
        Assert.Empty(before.GetProperty("alerts").EnumerateArray());

        var since = new DateTime(2026, 11, 26, 9, 55, 0, DateTimeKind.Utc);
        _platform.Alerts = new Alerts([new FiringAlert("source-silent", "critical", "ops-cadence", "no message for 5 min (expected every 30 s)", since)]);
        var status = await ServerHarness.Json(await _http.GetAsync("/api/status"), HttpStatusCode.OK);
        Assert.True(status.GetProperty("alertsAvailable").GetBoolean());
        var alert = Assert.Single(status.GetProperty("alerts").EnumerateArray());
        Assert.Equal("source-silent", alert.GetProperty("rule").GetString());
        Assert.Equal("critical", alert.GetProperty("severity").GetString());
        Assert.Equal("ops-cadence", alert.GetProperty("source").GetString());
        Assert.Equal(since, alert.GetProperty("since").GetDateTime());
    }

    private static JsonElement Source(JsonElement status, string id) =>
        status.GetProperty("sources").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);

    private sealed class Alerts(IReadOnlyList<FiringAlert> firing) : IAlertView
    {
        public IReadOnlyList<FiringAlert> Firing { get; } = firing;
    }
}
