using static Usine.Tests.TestDefinitions;

namespace Usine.Tests.Api;

/// <summary>Dead letters through the API: group, replay after a fix, fail again, loop guard, edit, discard, audit.</summary>
public sealed class DeadLetterLifecycleTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-deadletters-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness? _server;

    /// <summary>The same definitions with the torque range widened: the fix an operator deploys.</summary>
    private static readonly string Widened = Yaml.Replace("min: 0, max: 200", "min: 0, max: 400", StringComparison.Ordinal);

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

    private async Task RestartWith(string yaml, int maxReplayAttempts = 5)
    {
        await _server!.DisposeAsync();
        _server = null;
        _server = await ServerHarness.StartAsync(_dir, yaml, _time, o => o with { MaxReplayAttempts = maxReplayAttempts });
    }

    private async Task<long> OnlyDeadLetterId(string source = "line1")
    {
        var list = await Server.Get($"/api/deadletters?source={source}");
        return Assert.Single(list.EnumerateArray()).GetProperty("id").GetInt64();
    }

    [Fact]
    public async Task Replaying_dead_letters_after_fixing_the_model_stores_each_record_once_and_marks_them_replayed()
    {
        await Server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 12) + "\n"
            + Screwing(Vin1, "ST050", "2026-11-26T08:20:00Z", 250) + "\n"
            + Screwing(Vin2, "ST040", "2026-11-26T08:21:00Z", 300));
        // The same fact pushed again: a second dead letter whose record is the same.
        await Server.Push("line1", Screwing(Vin2, "ST040", "2026-11-26T08:21:00Z", 300));

        var groups = await Server.Get("/api/deadletters/groups?source=line1");
        var group = Assert.Single(groups.EnumerateArray());
        Assert.Equal(("validate", 3L, 3L), (group.GetProperty("stage").GetString(), group.GetProperty("count").GetInt64(), group.GetProperty("open").GetInt64()));
        Assert.Equal("field 'torque' = 300 Nm is above the maximum 200", group.GetProperty("reason").GetString());

        await RestartWith(Widened);
        var result = await Server.Post("/api/deadletters/replay", new { filter = new { source = "line1", reason = "ABOVE THE MAXIMUM" } });

        Assert.Equal(3, result.GetProperty("selected").GetInt64());
        Assert.Equal(3, result.GetProperty("replayed").GetInt64());
        Assert.Equal(0, result.GetProperty("failedAgain").GetInt64());
        Assert.Equal(2, result.GetProperty("stored").GetInt64());
        Assert.Equal(1, result.GetProperty("duplicates").GetInt64());
        Assert.Equal(3, (await Server.Scalar("SELECT count(*) FROM m_screwing")).GetInt64());
        Assert.Equal(1, (await Server.Scalar("SELECT count(*) FROM m_screwing WHERE torque = 300")).GetInt64());
        Assert.Equal(3, (await Server.Scalar("SELECT count(*) FROM dead_letters WHERE status = 'replayed'")).GetInt64());
        Assert.Equal(2, (await Server.Scalar("SELECT sum(n) FROM r_screwing_1h WHERE station = 'ST040'")).GetInt64());

        var reconcile = await Server.Get("/api/reconcile?source=line1&from=2026-11-26T09:00:00Z&to=2026-11-26T11:00:00Z");
        Assert.True(reconcile.GetProperty("consistent").GetBoolean(), reconcile.GetRawText());

        // Nothing is open any more, so a second replay sends nothing.
        var again = await Server.Post("/api/deadletters/replay", new { filter = new { source = "line1" } });
        Assert.Equal(0, again.GetProperty("selected").GetInt64());
        Assert.Equal(3, (await Server.Scalar("SELECT count(*) FROM m_screwing")).GetInt64());

        var audit = await Server.Get("/api/audit?action=deadletters.replay");
        Assert.Equal(2, audit.GetArrayLength());
        var entry = audit[1];
        Assert.Equal("marie", entry.GetProperty("actor").GetString());
        Assert.Equal("ok", entry.GetProperty("result").GetString());
        Assert.Equal(3, entry.GetProperty("detail").GetProperty("outcome").GetProperty("replayed").GetInt64());
        Assert.Equal("line1", entry.GetProperty("detail").GetProperty("filter").GetProperty("source").GetString());
    }

    [Fact]
    public async Task Dead_letters_group_by_the_rule_they_broke_with_example_values_and_each_keeps_its_full_reason()
    {
        await Server.Push("line1", string.Join("\n",
            Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 228.5),
            Screwing(Vin2, "ST040", "2026-11-26T08:16:00Z", 999),
            Screwing(Vin1, "ST050", "2026-11-26T08:17:00Z", 999),
            Screwing("VF1-BAD-1", "ST040", "2026-11-26T08:18:00Z", 12),
            Screwing("VF1-BAD-22", "ST040", "2026-11-26T08:19:00Z", 12),
            Screwing(Vin1, "ST040", "2026-11-26T08:20:00Z", -5, "MAYBE")));
        await Server.Http.PostAsync("/api/sources/line1/messages", new StringContent("{\"VIN\": oops", Encoding.UTF8, "application/json"));
        await Server.Http.PostAsync("/api/sources/line1/messages", new StringContent("{\"VIN\": \"x\", \"time\": oops}", Encoding.UTF8, "application/json"));

        var groups = (await Server.Get("/api/deadletters/groups?source=line1")).EnumerateArray()
            .ToDictionary(g => g.GetProperty("rule").GetString()!, g => g);
        Assert.Equal(
            [
                "field 'torque' is above the maximum 200",
                "field 'vin' does not match ^[A-HJ-NPR-Z0-9]{17}$",
                "field 'torque' is below the minimum 0; field 'status' is not one of OK, NOK",
            ],
            groups.Keys.Where(k => k.StartsWith("field", StringComparison.Ordinal)));
        var above = groups["field 'torque' is above the maximum 200"];
        Assert.Equal((3L, "validate"), (above.GetProperty("count").GetInt64(), above.GetProperty("stage").GetString()));
        Assert.Equal(["999 Nm", "228.5 Nm"], above.GetProperty("examples").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["\"VF1-BAD-22\"", "\"VF1-BAD-1\""], groups["field 'vin' does not match ^[A-HJ-NPR-Z0-9]{17}$"].GetProperty("examples").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["torque = -5 Nm; status = \"MAYBE\""],
            groups["field 'torque' is below the minimum 0; field 'status' is not one of OK, NOK"].GetProperty("examples").EnumerateArray().Select(e => e.GetString()));

        // Two malformed payloads that fail at different places are one decode group.
        var decode = Assert.Single(groups.Values, g => g.GetProperty("stage").GetString() == "decode");
        Assert.Equal(2, decode.GetProperty("count").GetInt64());
        Assert.Equal("invalid JSON: 'o' is an invalid start of a value. LineNumber: N | BytePositionInLine: N.", decode.GetProperty("rule").GetString());

        // A group's letters, by its rule: each keeps its own full reason.
        var rule = Uri.EscapeDataString("field 'torque' is above the maximum 200");
        var letters = await Server.Get($"/api/deadletters?source=line1&rule={rule}");
        Assert.Equal(
            ["field 'torque' = 999 Nm is above the maximum 200", "field 'torque' = 999 Nm is above the maximum 200", "field 'torque' = 228.5 Nm is above the maximum 200"],
            letters.EnumerateArray().Select(l => l.GetProperty("reason").GetString()));

        // And the group is replayed by its rule after the fix.
        await RestartWith(Yaml.Replace("min: 0, max: 200", "min: 0, max: 1000", StringComparison.Ordinal));
        var replayed = await Server.Post("/api/deadletters/replay", new { filter = new { source = "line1", rule = "field 'torque' is above the maximum 200" } });
        Assert.Equal((3L, 3L), (replayed.GetProperty("selected").GetInt64(), replayed.GetProperty("replayed").GetInt64()));
    }

    [Fact]
    public async Task A_dead_letter_that_fails_again_stays_open_with_one_more_attempt_and_its_new_reason()
    {
        await Server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 250));
        var id = await OnlyDeadLetterId();

        // A fix that does not go far enough.
        await RestartWith(Yaml.Replace("min: 0, max: 200", "min: 0, max: 240", StringComparison.Ordinal));
        var r = await Server.Post($"/api/deadletters/{id}/replay", new { });

        Assert.Equal("failed again", r.GetProperty("outcome").GetString());
        Assert.Equal("open", r.GetProperty("status").GetString());
        Assert.Equal(2, r.GetProperty("attempts").GetInt32());
        Assert.Equal("field 'torque' = 250 Nm is above the maximum 240", r.GetProperty("reason").GetString());
        var shown = await Server.Get($"/api/deadletters/{id}");
        Assert.Equal("field 'torque' = 250 Nm is above the maximum 240", shown.GetProperty("reason").GetString());
        Assert.Equal(0, (await Server.Scalar("SELECT count(*) FROM m_screwing")).GetInt64());
        Assert.Equal(1, (await Server.Scalar("SELECT count(*) FROM dead_letters")).GetInt64());

        var audit = Assert.Single((await Server.Get("/api/audit?action=deadletter.replay")).EnumerateArray());
        Assert.Equal($"deadletter:{id}", audit.GetProperty("target").GetString());
        Assert.Equal("failed again at validate: field 'torque' = 250 Nm is above the maximum 240", audit.GetProperty("result").GetString());

        // A group replay where letters fail again says how many.
        await Server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T08:16:00Z", 260));
        await Server.Post("/api/deadletters/replay", new { filter = new { source = "line1" } });
        var group = Assert.Single((await Server.Get("/api/audit?action=deadletters.replay")).EnumerateArray());
        Assert.Equal("failed again: 2 of 2 (0 replayed)", group.GetProperty("result").GetString());
    }

    [Fact]
    public async Task A_dead_letter_at_its_attempt_limit_is_not_replayed_again_unless_forced()
    {
        await RestartWith(Yaml, maxReplayAttempts: 3);
        await Server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 250));
        var id = await OnlyDeadLetterId();
        Assert.Equal(2, (await Server.Post($"/api/deadletters/{id}/replay", new { })).GetProperty("attempts").GetInt32());
        Assert.Equal(3, (await Server.Post($"/api/deadletters/{id}/replay", new { })).GetProperty("attempts").GetInt32());

        var refused = await Server.Post($"/api/deadletters/{id}/replay", new { }, HttpStatusCode.Conflict);
        Assert.Equal(
            $"dead letter {id} has failed 3 times, the limit of 3 attempts, and is not replayed again unless forced: send {{\"force\": true}} (usine deadletters replay {id} --force)",
            refused.GetProperty("error").GetString());

        var group = await Server.Post("/api/deadletters/replay", new { filter = new { source = "line1" } });
        Assert.Equal(0, group.GetProperty("selected").GetInt64());
        Assert.Equal(1, group.GetProperty("skippedAtLimit").GetInt64());
        Assert.Contains("at the limit of 3 attempts", group.GetProperty("note").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, (await Server.Get($"/api/deadletters/{id}")).GetProperty("attempts").GetInt32());

        var forced = await Server.Post($"/api/deadletters/{id}/replay", new { force = true });
        Assert.Equal(4, forced.GetProperty("attempts").GetInt32());
        var forcedGroup = await Server.Post("/api/deadletters/replay", new { filter = new { source = "line1" }, force = true });
        Assert.Equal(1, forcedGroup.GetProperty("selected").GetInt64());
        Assert.Equal(0, forcedGroup.GetProperty("skippedAtLimit").GetInt64());
        Assert.Equal(5, (await Server.Get($"/api/deadletters/{id}")).GetProperty("attempts").GetInt32());
    }

    [Fact]
    public async Task Editing_a_dead_letter_keeps_the_original_and_replaying_it_stores_the_corrected_record()
    {
        var bad = Screwing("VF1-NOT-A-VIN", "ST040", "2026-11-26T08:15:00Z", 12);
        await Server.Push("line1", bad);
        var id = await OnlyDeadLetterId();
        var good = Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 12);

        var edited = await Server.Post($"/api/deadletters/{id}/edit", new { payload = good });
        Assert.Equal("open", edited.GetProperty("status").GetString());
        var shown = await Server.Get($"/api/deadletters/{id}");
        Assert.Equal(good, shown.GetProperty("payload").GetString());
        Assert.Equal(bad, shown.GetProperty("originalPayload").GetString());

        // A second edit keeps the payload as first received, not the first correction.
        var replayed = await Server.Post($"/api/deadletters/{id}/edit", new { payload = good + " ", replay = true });
        Assert.Equal("replayed", replayed.GetProperty("outcome").GetString());
        Assert.Equal(1, replayed.GetProperty("stored").GetInt64());
        Assert.Equal(bad, (await Server.Get($"/api/deadletters/{id}")).GetProperty("originalPayload").GetString());
        Assert.Equal(Vin1, (await Server.Scalar("SELECT vin FROM m_screwing")).GetString());

        var audit = await Server.Get("/api/audit");
        Assert.Equal(["deadletter.replay", "deadletter.edit", "deadletter.edit"], audit.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        Assert.All(audit.EnumerateArray(), e => Assert.Equal($"deadletter:{id}", e.GetProperty("target").GetString()));

        var again = await Server.Post($"/api/deadletters/{id}/edit", new { payload = good }, HttpStatusCode.Conflict);
        Assert.Equal($"dead letter {id} is replayed; only open dead letters can be replayed, edited or discarded", again.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_binary_payload_is_shown_in_base64_and_a_text_one_as_text()
    {
        var bytes = new byte[] { 0xff, 0x00, 0x7b };
        var push = await Server.Http.PostAsync("/api/sources/line1/messages", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.OK, push.StatusCode);
        await Server.Push("line1", "{\"VIN\": 1}");

        var list = await Server.Get("/api/deadletters?source=line1&stage=decode");
        var binary = await Server.Get($"/api/deadletters/{Assert.Single(list.EnumerateArray()).GetProperty("id").GetInt64()}");
        Assert.Equal(Convert.ToBase64String(bytes), binary.GetProperty("payloadBase64").GetString());
        Assert.False(binary.TryGetProperty("payload", out _));

        var text = await Server.Get($"/api/deadletters/{(await Server.Get("/api/deadletters?source=line1&stage=validate"))[0].GetProperty("id").GetInt64()}");
        Assert.Equal("{\"VIN\": 1}", text.GetProperty("payload").GetString());
        Assert.False(text.TryGetProperty("payloadBase64", out _));
    }

    [Fact]
    public async Task Discarding_needs_a_reason_and_a_discarded_letter_is_not_replayed()
    {
        await Server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 250) + "\n" + Screwing(Vin2, "ST040", "2026-11-26T08:16:00Z", 260));
        var ids = (await Server.Get("/api/deadletters?source=line1")).EnumerateArray().Select(d => d.GetProperty("id").GetInt64()).Order().ToArray();

        var missing = await Server.Post($"/api/deadletters/{ids[0]}/discard", new { }, HttpStatusCode.BadRequest);
        Assert.Equal("a reason is required to discard a dead letter: {\"reason\": \"why it is dropped\"}", missing.GetProperty("error").GetString());
        var missingMany = await Server.Post("/api/deadletters/discard", new { filter = new { source = "line1" } }, HttpStatusCode.BadRequest);
        Assert.StartsWith("a reason is required to discard dead letters", missingMany.GetProperty("error").GetString(), StringComparison.Ordinal);

        var discarded = await Server.Post($"/api/deadletters/{ids[0]}/discard", new { reason = "test message from commissioning" });
        Assert.Equal("discarded", discarded.GetProperty("status").GetString());
        var shown = await Server.Get($"/api/deadletters/{ids[0]}");
        Assert.Equal("discarded", shown.GetProperty("status").GetString());
        Assert.Equal("test message from commissioning", shown.GetProperty("discardReason").GetString());

        var replay = await Server.Post($"/api/deadletters/{ids[0]}/replay", new { }, HttpStatusCode.Conflict);
        Assert.Equal($"dead letter {ids[0]} is discarded; only open dead letters can be replayed, edited or discarded", replay.GetProperty("error").GetString());

        var many = await Server.Post("/api/deadletters/discard", new { filter = new { source = "line1", reason = "maximum 200" }, reason = "bench test" });
        Assert.Equal(1, many.GetProperty("discarded").GetInt64());
        Assert.Equal(2, (await Server.Scalar("SELECT count(*) FROM dead_letters WHERE status = 'discarded'")).GetInt64());

        var audit = await Server.Get("/api/audit");
        Assert.Equal(["deadletters.discard", "deadletter.discard"], audit.EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        Assert.Equal("bench test", audit[0].GetProperty("detail").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Bad_dead_letter_requests_answer_4xx_with_one_line_saying_what_to_fix()
    {
        var unknown = await Server.Post("/api/deadletters/999/replay", new { }, HttpStatusCode.NotFound);
        Assert.Equal("no dead letter with id 999", unknown.GetProperty("error").GetString());

        var time = await Server.Get("/api/deadletters?from=yesterday", HttpStatusCode.BadRequest);
        Assert.Equal("from 'yesterday' is not a time: use ISO 8601, for example 2026-11-26T08:00:00Z", time.GetProperty("error").GetString());

        var order = await Server.Get("/api/deadletters/groups?from=2026-11-26T10:00:00Z&to=2026-11-26T09:00:00Z", HttpStatusCode.BadRequest);
        Assert.Equal("from (2026-11-26T10:00:00Z) must be before to (2026-11-26T09:00:00Z)", order.GetProperty("error").GetString());

        var empty = await Server.Post("/api/deadletters/replay", new { filter = new { } }, HttpStatusCode.BadRequest);
        Assert.StartsWith("say which dead letters to replay", empty.GetProperty("error").GetString(), StringComparison.Ordinal);

        var status = await Server.Post("/api/deadletters/replay", new { filter = new { source = "line1", status = "replayed" } }, HttpStatusCode.BadRequest);
        Assert.StartsWith("only open dead letters are replayed", status.GetProperty("error").GetString(), StringComparison.Ordinal);

        var stage = await Server.Post("/api/deadletters/replay", new { filter = new { stage = "nowhere" } }, HttpStatusCode.BadRequest);
        Assert.StartsWith("stage 'nowhere' is not one of decode, map, validate", stage.GetProperty("error").GetString(), StringComparison.Ordinal);

        var source = await Server.Get("/api/deadletters/groups?source=nope", HttpStatusCode.NotFound);
        Assert.StartsWith("no source with id 'nope'", source.GetProperty("error").GetString(), StringComparison.Ordinal);

        var json = await ServerHarness.Json(await Server.Http.PostAsync("/api/deadletters/replay", new StringContent("{\"filter\":", Encoding.UTF8, "application/json")), HttpStatusCode.BadRequest);
        Assert.StartsWith("the body is not valid JSON", json.GetProperty("error").GetString(), StringComparison.Ordinal);

        var edit = await Server.Post("/api/deadletters/1/edit", new { }, HttpStatusCode.BadRequest);
        Assert.StartsWith("give the new payload as \"payload\"", edit.GetProperty("error").GetString(), StringComparison.Ordinal);

        var audit = await Server.Get("/api/audit?since=soon", HttpStatusCode.BadRequest);
        Assert.Equal("since 'soon' is not a time: use ISO 8601, for example 2026-11-26T08:00:00Z", audit.GetProperty("error").GetString());
        Assert.Equal(0, (await Server.Get("/api/audit")).GetArrayLength());
    }

    [Fact]
    public async Task The_list_filters_by_reason_text_and_receive_time()
    {
        await Server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 250));
        _time.Advance(TimeSpan.FromHours(1));
        await Server.Push("line1", Screwing(Vin2, "ST040", "2026-11-26T09:15:00Z", 12, status: "MAYBE"));

        var late = await Server.Get("/api/deadletters?from=2026-11-26T10:30:00Z");
        Assert.Contains("is not one of OK, NOK", Assert.Single(late.EnumerateArray()).GetProperty("reason").GetString(), StringComparison.Ordinal);
        var early = await Server.Get("/api/deadletters?to=2026-11-26T10:30:00Z&reason=Maximum");
        Assert.Contains("above the maximum", Assert.Single(early.EnumerateArray()).GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, (await Server.Get("/api/deadletters?reason=nothing+like+this")).GetArrayLength());
    }
}
