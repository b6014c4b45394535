using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Server.Operations;

namespace Usine.Tests.Api;

/// <summary>The archive through the HTTP API of a real platform on Kestrel, and its daily run on a fake clock.</summary>
public sealed class ArchiveApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-archive-api-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness _server = null!;
    private HttpClient _http = null!;
    private PlatformServices _platform = null!;

    public async Task InitializeAsync()
    {
        _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml, _time, o => o with { ArchiveTimeOfDay = TimeSpan.FromMinutes(30) }, actor: null,
            settings: [new(UsineStoreComposition.Section + ":ArchiveDirectory", Path.Combine(_dir, "cold"))]);
        (_http, _platform) = (_server.Http, _server.Platform);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }


    private async Task PushThree()
    {
        var body = string.Join("\n",
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", "2026-11-26T08:16:00Z", 13),
            "{not json");
        await ServerHarness.Json(await _http.PostAsync("/api/sources/line1/messages", new StringContent(body, Encoding.UTF8, "application/x-ndjson")), HttpStatusCode.OK);
    }

    [Fact]
    public async Task Running_listing_and_verifying_the_archive_through_the_api()
    {
        await PushThree();

        // Today's messages are not due yet.
        var early = await ServerHarness.Json(await _http.PostAsync("/api/archive/run", null), HttpStatusCode.OK);
        Assert.Equal(0, early.GetProperty("files").GetInt32());

        _time.SetUtcNow(new DateTimeOffset(2026, 11, 27, 0, 10, 0, TimeSpan.Zero));
        var run = await ServerHarness.Json(await _http.PostAsync("/api/archive/run", null), HttpStatusCode.OK);
        Assert.Equal(1, run.GetProperty("files").GetInt32());
        Assert.Equal(3, run.GetProperty("rows").GetInt64());
        Assert.Equal(0, run.GetProperty("rawRowsDeleted").GetInt64());
        Assert.Equal(0, run.GetProperty("partitionsDeleted").GetInt32());
        Assert.Equal(new DateTime(2026, 11, 27, 0, 0, 0, DateTimeKind.Utc), run.GetProperty("cutoff").GetDateTime().ToUniversalTime());

        var archiveJob = _platform.Jobs.Get(run.GetProperty("archiveJob").GetString()!)!;
        Assert.Equal((JobKind.Archive, JobState.Stopped, 3L), (archiveJob.Kind, archiveJob.State, archiveJob.Stored));
        var retentionJob = _platform.Jobs.Get(run.GetProperty("retentionJob").GetString()!)!;
        Assert.Equal((JobKind.Retention, JobState.Stopped), (retentionJob.Kind, retentionJob.State));

        var list = await ServerHarness.Json(await _http.GetAsync("/api/archive"), HttpStatusCode.OK);
        Assert.Equal(Path.Combine(_dir, "cold"), list.GetProperty("root").GetString());
        var day = Assert.Single(list.GetProperty("days").EnumerateArray());
        Assert.Equal(("flins", "line1", "2026-11-26", 1, 3L),
            (day.GetProperty("plant").GetString(), day.GetProperty("source").GetString(), day.GetProperty("day").GetString(),
             day.GetProperty("files").GetInt32(), day.GetProperty("rows").GetInt64()));
        Assert.Equal(0, (await ServerHarness.Json(await _http.GetAsync("/api/archive?source=csv-line1"), HttpStatusCode.OK)).GetProperty("files").GetInt32());

        var verified = await ServerHarness.Json(await _http.GetAsync("/api/archive/verify"), HttpStatusCode.OK);
        Assert.True(verified.GetProperty("ok").GetBoolean());
        Assert.Equal(1, verified.GetProperty("checked").GetInt32());

        var file = Path.Combine(_dir, "cold", "plant=flins", "source=line1", "day=2026-11-26", "part-00001.parquet");
        await File.AppendAllTextAsync(file, "!");
        var broken = await ServerHarness.Json(await _http.GetAsync("/api/archive/verify"), HttpStatusCode.OK);
        Assert.False(broken.GetProperty("ok").GetBoolean());
        var problem = Assert.Single(broken.GetProperty("problems").EnumerateArray());
        Assert.Equal(("plant=flins/source=line1/day=2026-11-26/part-00001.parquet", "altered"),
            (problem.GetProperty("path").GetString(), problem.GetProperty("problem").GetString()));
    }

    [Fact]
    public async Task A_run_that_includes_today_archives_the_day_not_yet_ended_and_a_later_run_what_arrived_since()
    {
        await PushThree();
        _time.Advance(TimeSpan.FromSeconds(1));

        var run = await ServerHarness.Json(await _http.PostAsync("/api/archive/run?includeToday=true", null), HttpStatusCode.OK);

        Assert.Equal((1, 3L), (run.GetProperty("files").GetInt32(), run.GetProperty("rows").GetInt64()));
        Assert.Equal(_time.GetUtcNow().UtcDateTime, run.GetProperty("cutoff").GetDateTime().ToUniversalTime());
        await PushThree();
        _time.Advance(TimeSpan.FromMinutes(5));
        var again = await ServerHarness.Json(await _http.PostAsync("/api/archive/run?includeToday=true", null), HttpStatusCode.OK);
        Assert.Equal(3, again.GetProperty("rows").GetInt64());
        var day = Assert.Single((await ServerHarness.Json(await _http.GetAsync("/api/archive"), HttpStatusCode.OK)).GetProperty("days").EnumerateArray());
        Assert.Equal(("2026-11-26", 6L), (day.GetProperty("day").GetString(), day.GetProperty("rows").GetInt64()));
    }

    [Fact]
    public async Task The_daily_run_archives_at_half_past_midnight_by_the_platform_clock()
    {
        await PushThree();
        var done = new TaskCompletionSource<ArchiveRunReport>(TaskCreationOptions.RunContinuationsAsynchronously);
        _platform.Archive.Completed += r => done.TrySetResult(r);

        _time.SetUtcNow(new DateTimeOffset(2026, 11, 27, 0, 29, 0, TimeSpan.Zero));
        Assert.False(done.Task.IsCompleted, "the daily run must wait for 00:30");
        _time.Advance(TimeSpan.FromMinutes(1));
        var report = await done.Task.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal((1, 3L), (report.Files, report.Rows));
        Assert.Equal(new DateTime(2026, 11, 27, 0, 0, 0, DateTimeKind.Utc), report.Cutoff);
        Assert.True(File.Exists(Path.Combine(_dir, "cold", "manifest.json")));
        Assert.Equal(1, _platform.Jobs.List().Count(j => j.Kind == JobKind.Archive && j.State == JobState.Stopped));
        Assert.Equal(1, _platform.Jobs.List().Count(j => j.Kind == JobKind.Retention && j.State == JobState.Stopped));
    }

    [Fact]
    public void The_next_daily_run_is_the_next_time_of_day_strictly_after_now()
    {
        var at = TimeSpan.FromMinutes(30);
        Assert.Equal(new DateTime(2026, 11, 26, 0, 30, 0), ArchiveService.NextRun(new DateTime(2026, 11, 26, 0, 0, 0), at));
        Assert.Equal(new DateTime(2026, 11, 27, 0, 30, 0), ArchiveService.NextRun(new DateTime(2026, 11, 26, 0, 30, 0), at));
        Assert.Equal(new DateTime(2026, 11, 27, 0, 30, 0), ArchiveService.NextRun(new DateTime(2026, 11, 26, 23, 59, 0), at));
    }

    [Theory]
    [InlineData(-1, 0, "raw retention must be 0 (keep) or a number of days, not -1")]
    [InlineData(30, 7, "archive retention (7 days) is shorter than raw retention (30 days)")]
    [InlineData(30, -2, "archive retention must be 0 (keep) or a number of days, not -2")]
    public async Task Retention_settings_that_would_lose_data_are_refused_at_start_with_what_to_fix(int raw, int archive, string message)
    {
        var config = Path.Combine(_dir, "usine.yaml");
        var e = Assert.Throws<ArgumentException>(() => ServerHarness.Build(new UsineOptions
        {
            ConfigPath = config,
            DataDirectory = Path.Combine(_dir, "other"),
            RawRetentionDays = raw,
            ArchiveRetentionDays = archive,
        }, _time));
        Assert.StartsWith(message, e.Message, StringComparison.Ordinal);
    }
}
