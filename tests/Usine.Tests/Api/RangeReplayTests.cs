using static Usine.Tests.TestDefinitions;

namespace Usine.Tests.Api;

/// <summary>Replay of a range of the raw zone through the API: idempotent, job and audit, clear answers.</summary>
public sealed class RangeReplayTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-replay-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness? _server;

    private static readonly string Widened = Yaml.Replace("min: 0, max: 200", "min: 0, max: 400", StringComparison.Ordinal);

    private static readonly object Range = new { source = "line1", from = "2026-11-26T09:00:00Z", to = "2026-11-26T11:00:00Z" };

    private ServerHarness Server => _server!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync(_dir, Yaml, _time);

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private async Task RestartWith(string yaml)
    {
        await _server!.DisposeAsync();
        _server = null;
        _server = await ServerHarness.StartAsync(_dir, yaml, _time);
    }

    /// <summary>Row count and the sum of row hashes of every table a replay may write, and the raw zone and checkpoints it must not.</summary>
    private async Task<string> Checksums()
    {
        var tables = new[] { "m_screwing", "r_screwing_1h", "avatars", "avatar_link_events", "dead_letters", "raw_messages", "checkpoints" };
        var sums = new List<string>();
        foreach (var t in tables)
        {
            var r = await Server.Post("/api/sql", new { sql = $"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {t} t" });
            sums.Add($"{t}={r.GetProperty("rows")[0][0].GetRawText()}/{r.GetProperty("rows")[0][1].GetRawText()}");
        }

        return string.Join(" ", sums);
    }

    private async Task PushDay()
    {
        // A vehicle that moves between stations and comes back, one that stays (its second link event is
        // redundant and was never stored), a record out of range and a message that is not JSON.
        await Server.Push("line1", string.Join("\n",
            Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 12),
            Screwing(Vin2, "ST040", "2026-11-26T08:16:00Z", 13),
            Screwing(Vin2, "ST040", "2026-11-26T08:17:00Z", 14),
            Screwing(Vin1, "ST050", "2026-11-26T08:25:00Z", 15),
            Screwing(Vin1, "ST050", "2026-11-26T08:26:00Z", 250)));
        await Server.Http.PostAsync("/api/sources/line1/messages", new StringContent("{\"VIN\": oops", Encoding.UTF8, "application/json"));
        await Server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T08:35:00Z", 16));
    }

    [Fact]
    public async Task Replaying_a_raw_range_twice_changes_nothing()
    {
        await PushDay();
        var csv = $"vin,station,ts,torque_lbft,status\n{Vin1},ST010,2026-11-26T06:00:00Z,11,OK\n{Vin2},ST010,2026-11-26T06:01:00Z,oops,OK\n";
        await ServerHarness.Json(await Server.Http.PostAsync("/api/sources/csv-line1/import?name=shift1.csv", new StringContent(csv)), HttpStatusCode.OK);
        var before = await Checksums();

        var first = await Server.Post("/api/replay", Range);
        Assert.Equal(7, first.GetProperty("read").GetInt64());
        Assert.Equal(0, first.GetProperty("stored").GetInt64());
        Assert.Equal(5, first.GetProperty("duplicates").GetInt64());
        Assert.Equal(2, first.GetProperty("deadLettersUnchanged").GetInt64());
        Assert.Equal(0, first.GetProperty("deadLettersNew").GetInt64());
        Assert.Equal(0, first.GetProperty("replayed").GetInt64());
        Assert.Equal(before, await Checksums());

        // CSV lines need the header their import recorded.
        var csvReplay = await Server.Post("/api/replay", new { source = "csv-line1", from = "2026-11-26T09:00:00Z", to = "2026-11-26T11:00:00Z" });
        Assert.Equal(2, csvReplay.GetProperty("read").GetInt64());
        Assert.Equal(1, csvReplay.GetProperty("duplicates").GetInt64());
        Assert.Equal(1, csvReplay.GetProperty("deadLettersUnchanged").GetInt64());

        var second = await Server.Post("/api/replay", Range);
        Assert.Equal(0, second.GetProperty("stored").GetInt64());
        Assert.Equal(before, await Checksums());

        var jobs = Server.Platform.Jobs.List().Where(j => j.Kind == JobKind.Replay).ToList();
        Assert.Equal(3, jobs.Count);
        Assert.All(jobs, j => Assert.Equal(JobState.Stopped, j.State));
        var job = Server.Platform.Jobs.Get(second.GetProperty("job").GetString()!)!;
        Assert.Equal((7, 5, 2), (job.Received, job.Duplicates, job.Rejected));
        Assert.Equal(7, job.Total);

        var audit = await Server.Get("/api/audit?action=replay.range");
        Assert.Equal(3, audit.GetArrayLength());
        Assert.Equal("source:line1", audit[0].GetProperty("target").GetString());
        Assert.Equal("marie", audit[0].GetProperty("actor").GetString());
        Assert.Equal(7, audit[0].GetProperty("detail").GetProperty("outcome").GetProperty("read").GetInt64());

        // Retrying a CSV line's dead letter needs the header too; the line is still wrong, so it counts an attempt.
        var csvLetter = await Server.Post("/api/deadletters/replay", new { filter = new { source = "csv-line1" } });
        Assert.Equal(1, csvLetter.GetProperty("failedAgain").GetInt64());
        Assert.Equal(2, (await Server.Scalar("SELECT attempts FROM dead_letters WHERE source_id = 'csv-line1'")).GetInt32());
    }

    [Fact]
    public async Task Replaying_a_raw_range_after_a_fix_stores_what_failed_and_marks_its_dead_letters_replayed()
    {
        await PushDay();
        var checkpoints = (await Server.Scalar("SELECT max(position) FROM checkpoints")).GetInt64();
        await RestartWith(Widened);

        var fixedRun = await Server.Post("/api/replay", Range);
        Assert.Equal(1, fixedRun.GetProperty("stored").GetInt64());
        Assert.Equal(1, fixedRun.GetProperty("replayed").GetInt64());
        Assert.Equal(1, fixedRun.GetProperty("deadLettersUnchanged").GetInt64());
        Assert.Equal(6, (await Server.Scalar("SELECT count(*) FROM m_screwing")).GetInt64());
        Assert.Equal("replayed", (await Server.Scalar("SELECT status FROM dead_letters WHERE stage = 'validate'")).GetString());
        Assert.Equal("open", (await Server.Scalar("SELECT status FROM dead_letters WHERE stage = 'decode'")).GetString());
        Assert.Equal(250, (await Server.Scalar("SELECT torque_max FROM r_screwing_1h WHERE station = 'ST050'")).GetDouble());
        Assert.Equal(2, (await Server.Scalar("SELECT n FROM r_screwing_1h WHERE station = 'ST050'")).GetInt64());
        Assert.Equal(checkpoints, (await Server.Scalar("SELECT max(position) FROM checkpoints")).GetInt64());
        Assert.Equal(7, (await Server.Scalar("SELECT count(*) FROM raw_messages")).GetInt64());
        var after = await Checksums();

        var again = await Server.Post("/api/replay", Range);
        Assert.Equal(0, again.GetProperty("stored").GetInt64());
        Assert.Equal(0, again.GetProperty("replayed").GetInt64());
        Assert.Equal(after, await Checksums());

        // The hour still adds up: what the replay stored landed no new message.
        var reconcile = await Server.Get("/api/reconcile?source=line1&from=2026-11-26T09:00:00Z&to=2026-11-26T11:00:00Z");
        Assert.True(reconcile.GetProperty("consistent").GetBoolean(), reconcile.GetRawText());
        Assert.Equal(1, reconcile.GetProperty("hours")[0].GetProperty("replayed").GetInt64());
    }

    [Fact]
    public async Task A_range_replay_is_audited_with_its_real_duration_and_says_when_messages_failed()
    {
        await PushDay();

        // On the real clock, so that the replay takes time to measure.
        await _server!.DisposeAsync();
        _server = null;
        _server = await ServerHarness.StartAsync(_dir, Yaml, time: null);
        var answer = await Server.Post("/api/replay", Range);

        var audit = Assert.Single((await Server.Get("/api/audit?action=replay.range")).EnumerateArray());
        var elapsed = audit.GetProperty("detail").GetProperty("outcome").GetProperty("elapsedMs").GetDouble();
        Assert.True(elapsed > 0, $"expected the audited elapsedMs to be the replay's duration, got {elapsed}");
        Assert.Equal(answer.GetProperty("elapsedMs").GetDouble(), elapsed);
        Assert.Equal("partly failed: 2 of 7 messages are dead letters (0 new, 2 already open)", audit.GetProperty("result").GetString());
    }

    [Fact]
    public async Task A_range_without_raw_messages_answers_404_saying_so()
    {
        await Server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 12));

        var none = await Server.Post("/api/replay", new { source = "line1", from = "2026-11-25T00:00:00Z", to = "2026-11-26T00:00:00Z" }, HttpStatusCode.NotFound);
        Assert.Equal("no raw messages of source line1 received between 2026-11-25T00:00:00Z and 2026-11-26T00:00:00Z", none.GetProperty("error").GetString());

        var archive = await Server.Post("/api/replay", new { source = "line1", from = "2026-11-25T00:00:00Z", to = "2026-11-26T00:00:00Z", fromArchive = true }, HttpStatusCode.NotFound);
        Assert.Equal("no archived messages of source line1 received between 2026-11-25T00:00:00Z and 2026-11-26T00:00:00Z", archive.GetProperty("error").GetString());

        var time = await Server.Post("/api/replay", new { source = "line1", from = "monday", to = "2026-11-26T00:00:00Z" }, HttpStatusCode.BadRequest);
        Assert.Equal("from 'monday' is not a time: use ISO 8601, for example 2026-11-26T08:00:00Z", time.GetProperty("error").GetString());

        var order = await Server.Post("/api/replay", new { source = "line1", from = "2026-11-26T00:00:00Z", to = "2026-11-26T00:00:00Z" }, HttpStatusCode.BadRequest);
        Assert.Equal("from (2026-11-26T00:00:00Z) must be before to (2026-11-26T00:00:00Z)", order.GetProperty("error").GetString());

        var source = await Server.Post("/api/replay", new { source = "nope", from = "2026-11-25T00:00:00Z", to = "2026-11-26T00:00:00Z" }, HttpStatusCode.NotFound);
        Assert.StartsWith("no source with id 'nope'", source.GetProperty("error").GetString(), StringComparison.Ordinal);

        Assert.Equal(0, (await Server.Get("/api/audit")).GetArrayLength());
        Assert.DoesNotContain(Server.Platform.Jobs.List(), j => j.Kind == JobKind.Replay && j.State != JobState.Stopped);
    }

    [Fact]
    public async Task CSV_pushed_over_HTTP_with_different_header_lines_replays_and_retries()
    {
        // Two pushes whose header lines order the columns differently: each header gets its own stream, which keeps it.
        var first = await ServerHarness.Json(await Server.Http.PostAsync("/api/sources/csv-line1/messages",
            new StringContent($"vin,station,ts,torque_lbft,status\n{Vin1},ST010,2026-11-26T06:00:00Z,11,OK\n{Vin2},ST010,2026-11-26T06:01:00Z,oops,OK\n")), HttpStatusCode.OK);
        var second = await ServerHarness.Json(await Server.Http.PostAsync("/api/sources/csv-line1/messages",
            new StringContent($"status,ts,station,vin,torque_lbft\nOK,2026-11-26T06:02:00Z,ST020,{Vin1},12\n")), HttpStatusCode.OK);
        Assert.Equal((1, 1), (first.GetProperty("stored").GetInt32(), second.GetProperty("stored").GetInt32()));
        var streams = await Server.Post("/api/sql", new { sql = "SELECT stream_id, kind, csv_header FROM streams WHERE source_id = 'csv-line1' ORDER BY csv_header" });
        Assert.Equal(2, streams.GetProperty("rows").GetArrayLength());
        Assert.All(streams.GetProperty("rows").EnumerateArray(), r =>
        {
            Assert.StartsWith("http:csv-line1:csv-", r[0].GetString(), StringComparison.Ordinal);
            Assert.Equal("http", r[1].GetString());
        });

        // Read again, every line finds its header: the same two records (duplicates) and the same dead letter.
        var replay = await Server.Post("/api/replay", new { source = "csv-line1", from = "2026-11-26T09:00:00Z", to = "2026-11-26T11:00:00Z" });
        Assert.Equal((3L, 0L, 2L, 1L), (replay.GetProperty("read").GetInt64(), replay.GetProperty("stored").GetInt64(),
            replay.GetProperty("duplicates").GetInt64(), replay.GetProperty("deadLettersUnchanged").GetInt64()));
        var retry = await Server.Post("/api/deadletters/replay", new { filter = new { source = "csv-line1" } });
        Assert.Equal(1, retry.GetProperty("failedAgain").GetInt64());
        Assert.Equal(2, (await Server.Scalar("SELECT attempts FROM dead_letters WHERE source_id = 'csv-line1'")).GetInt32());
        Assert.Contains("torque", (await Server.Scalar("SELECT reason FROM dead_letters WHERE source_id = 'csv-line1'")).GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replay_that_cannot_read_its_messages_fails_its_job_and_says_why()
    {
        // CSV lines in a stream that recorded no header line (as pushes did before they kept one) cannot be read again.
        var header = new[] { "vin", "station", "ts", "torque_lbft", "status" };
        var line = Encoding.UTF8.GetBytes($"{Vin1},ST010,2026-11-26T06:00:00Z,11,OK");
        var pushed = await Server.Platform.Engine.IngestAsync(new Usine.Ingestion.IngestBatch
        {
            SourceId = "csv-line1",
            StreamId = "http:csv-line1",
            Messages = [new Usine.Pipeline.RawMessage(1, _time.GetUtcNow().UtcDateTime, line)],
            CsvHeader = header,
        }, CancellationToken.None);
        Assert.Equal(1, pushed.Stored);

        var failed = await Server.Post("/api/replay", new { source = "csv-line1", from = "2026-11-26T09:00:00Z", to = "2026-11-26T11:00:00Z" }, HttpStatusCode.Conflict);

        Assert.Equal("stream http:csv-line1 of CSV source 'csv-line1' has no recorded header line, so its messages cannot be processed again", failed.GetProperty("error").GetString());
        var job = Assert.Single(Server.Platform.Jobs.List(), j => j.Kind == JobKind.Replay);
        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(failed.GetProperty("error").GetString(), job.LastError);
        var audit = Assert.Single((await Server.Get("/api/audit?action=replay.range")).EnumerateArray());
        Assert.StartsWith("failed: stream http:csv-line1", audit.GetProperty("result").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replaying_from_the_archive_after_a_fix_stores_what_failed_and_twice_changes_nothing()
    {
        await PushDay();
        _time.SetUtcNow(new DateTimeOffset(2026, 11, 27, 0, 10, 0, TimeSpan.Zero));
        var run = await Server.Post("/api/archive/run", new { });
        Assert.Equal(7, run.GetProperty("rows").GetInt64());
        await RestartWith(Widened);

        var fromArchive = new { source = "line1", from = "2026-11-26T09:00:00Z", to = "2026-11-26T11:00:00Z", fromArchive = true };
        var first = await Server.Post("/api/replay", fromArchive);
        Assert.Equal("archive", first.GetProperty("origin").GetString());
        Assert.Equal((7L, 1L, 1L, 1L), (first.GetProperty("read").GetInt64(), first.GetProperty("stored").GetInt64(),
            first.GetProperty("replayed").GetInt64(), first.GetProperty("deadLettersUnchanged").GetInt64()));
        var after = await Checksums();

        var second = await Server.Post("/api/replay", fromArchive);
        Assert.Equal(0, second.GetProperty("stored").GetInt64());
        Assert.Equal(after, await Checksums());

        // The raw zone still holds the same messages: replaying them from there finds nothing left to do either.
        var raw = await Server.Post("/api/replay", Range);
        Assert.Equal((7L, 0L, 0L), (raw.GetProperty("read").GetInt64(), raw.GetProperty("stored").GetInt64(), raw.GetProperty("replayed").GetInt64()));
        Assert.Equal(after, await Checksums());
    }
}
