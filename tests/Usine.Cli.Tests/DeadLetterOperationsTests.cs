using System.Text;
using System.Text.Json;

namespace Usine.Cli.Tests;

public sealed class DeadLetterOperationsTests
{
    private static readonly Dictionary<string, string> Environment = new() { ["USINE_SERVER"] = "" };

    private static Task<FakeUsineServer> StartServerAsync() => FakeUsineServer.StartAsync(app =>
    {
        app.MapPost("/api/deadletters/replay", () => FakeUsineServer.Json("""
            {"selected":12,"replayed":10,"failedAgain":2,"skippedAtLimit":1,"skippedUnknownSource":0,"stored":9,"duplicates":1,
             "note":"1 dead letter is at the limit of 5 attempts and was skipped; replay with force to try again","job":"replay-3"}
            """));
        app.MapPost("/api/deadletters/{id}/replay", (string id) => id switch
        {
            "7" => FakeUsineServer.Json("""{"id":7,"outcome":"replayed","status":"replayed","stage":"validate","reason":"r","attempts":1,"stored":1,"duplicates":0}"""),
            "8" => FakeUsineServer.Json("""{"id":8,"outcome":"failed again","status":"open","stage":"validate","reason":"field 'torque' = 250 Nm is above the maximum 240","attempts":2,"stored":0,"duplicates":0}"""),
            _ => FakeUsineServer.Json("""{"error":"dead letter 9 has failed 5 times, the limit of 5 attempts, and is not replayed again unless forced: send {\"force\": true} (usine deadletters replay 9 --force)"}""", StatusCodes.Status409Conflict),
        });
        app.MapPost("/api/deadletters/{id}/edit", (string id) => FakeUsineServer.Json("""{"id":7,"outcome":"replayed","status":"replayed","attempts":1,"stored":1,"duplicates":0}"""));
        app.MapPost("/api/deadletters/{id}/discard", (string id) => FakeUsineServer.Json("""{"id":7,"status":"discarded","reason":"test"}"""));
        app.MapPost("/api/deadletters/discard", () => FakeUsineServer.Json("""{"discarded":4,"reason":"test"}"""));
        app.MapGet("/api/deadletters/groups", () => FakeUsineServer.Json("""
            [{"source":"flins-screwing","stage":"validate","rule":"field 'torque' is above the maximum 200","reason":"field 'torque' = 250 Nm is above the maximum 200",
              "examples":["250 Nm","999 Nm"],"count":1234,"open":1200,"replayed":30,"discarded":4,
              "maxAttempts":2,"firstReceivedAt":"2026-11-26T06:00:00Z","lastReceivedAt":"2026-11-26T09:59:00Z"}]
            """));
        app.MapPost("/api/replay", async (HttpContext http) =>
        {
            using var doc = await JsonDocument.ParseAsync(http.Request.Body);
            return doc.RootElement.GetProperty("from").GetString() switch
            {
                "2026-11-20T00:00:00Z" => FakeUsineServer.Json("""{"error":"no raw messages of source flins-screwing received between 2026-11-20T00:00:00Z and 2026-11-21T00:00:00Z"}""", StatusCodes.Status404NotFound),
                "2026-11-25T00:00:00Z" => FakeUsineServer.Json("""
                    {"source":"flins-screwing","from":"2026-11-25T00:00:00Z","to":"2026-11-26T00:00:00Z","origin":"raw","job":"replay-5","read":10,"stored":0,
                     "duplicates":10,"failed":0,"deadLettersNew":0,"deadLettersUnchanged":0,"deadLettersUpdated":0,"replayed":0,"streams":1,"elapsedMs":20,
                     "note":"the JetStream stream USINE_RAW holds the messages received from 2026-11-25T12:00:00Z on, after the start of the range: the store's raw zone was read instead"}
                    """),
                _ => FakeUsineServer.Json("""
                    {"source":"flins-screwing","from":"2026-11-26T06:00:00Z","to":"2026-11-26T14:00:00Z","origin":"raw","job":"replay-4","read":5000,"stored":12,
                     "duplicates":4980,"failed":8,"deadLettersNew":0,"deadLettersUnchanged":8,"deadLettersUpdated":0,"replayed":12,"streams":1,"elapsedMs":1530}
                    """),
            };
        });
        app.MapGet("/api/deadletters", () => FakeUsineServer.Json("[]"));
        app.MapGet("/api/deadletters/{id}", (string id) => FakeUsineServer.Json("""
            {"id":7,"source":"flins-screwing","stage":"validate","reason":"r","status":"replayed","attempts":2,
             "payload":"{\"VIN\":\"VF1RFB00X12345678\"}","payloadBytes":27,"originalPayload":"{\"VIN\":\"VF1-BAD\"}",
             "editedAt":"2026-11-26T10:05:00Z"}
            """));
        app.MapGet("/api/audit", () => FakeUsineServer.Json("""
            [{"id":3,"at":"2026-11-26T10:00:00Z","actor":"marie","action":"replay.range","target":"source:flins-screwing","detail":{"read":5000},"result":"ok"}]
            """));
    });

    private static string Body(RecordedRequest request) => Encoding.UTF8.GetString(request.Body);

    [Fact]
    public async Task Replaying_by_filter_sends_the_filter_and_the_user_and_prints_what_became_of_the_letters()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(
            ["deadletters", "replay", "--source", "flins-screwing", "--matching", "above the maximum", "--force", "--server", server.Url], Environment);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        var request = Assert.Single(server.Requests);
        using var body = JsonDocument.Parse(Body(request));
        Assert.Equal("flins-screwing", body.RootElement.GetProperty("filter").GetProperty("source").GetString());
        Assert.Equal("above the maximum", body.RootElement.GetProperty("filter").GetProperty("reason").GetString());
        Assert.False(body.RootElement.GetProperty("filter").TryGetProperty("stage", out _));
        Assert.True(body.RootElement.GetProperty("force").GetBoolean());
        Assert.Equal("tester", request.Headers["X-Usine-Actor"]);
        Assert.Contains("12 dead letters sent again: 10 replayed, 2 failed again; 9 records stored, 1 already stored", result.Output, StringComparison.Ordinal);
        Assert.Contains("at the limit of 5 attempts and was skipped; replay with force to try again (--force)", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replaying_one_letter_exits_0_when_it_is_stored_and_1_when_it_fails_again()
    {
        await using var server = await StartServerAsync();

        var ok = await CliRunner.RunAsync(["deadletters", "replay", "7", "--server", server.Url], Environment);
        Assert.Equal(0, ok.ExitCode);
        Assert.Contains("dead letter 7 replayed: its record is stored", ok.Output, StringComparison.Ordinal);

        var failed = await CliRunner.RunAsync(["deadletters", "replay", "8", "--server", server.Url], Environment);
        Assert.Equal(1, failed.ExitCode);
        CliAssert.OneErrorLine("error: dead letter 8 failed again (attempt 2) at validate: field 'torque' = 250 Nm is above the maximum 240", failed);
    }

    [Fact]
    public async Task A_letter_at_the_attempt_limit_exits_2_saying_how_to_force_it()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["deadletters", "replay", "9", "--server", server.Url], Environment);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: dead letter 9 has failed 5 times, the limit of 5 attempts, and is not replayed again unless forced: send {\"force\": true} (usine deadletters replay 9 --force)", result);
    }

    [Fact]
    public async Task Replay_and_discard_need_an_id_or_a_filter_and_discard_needs_a_reason()
    {
        var neither = await CliRunner.RunAsync(["deadletters", "replay"], Environment);
        Assert.Equal(2, neither.ExitCode);
        CliAssert.OneErrorLine("error: say which dead letters: an id, or filter options (--source, --stage, --matching, --rule, --from, --to) (see usine deadletters replay --help)", neither);

        var both = await CliRunner.RunAsync(["deadletters", "replay", "7", "--source", "s"], Environment);
        Assert.Equal(2, both.ExitCode);
        Assert.StartsWith("error: give either a dead letter id or filter options", both.Error, StringComparison.Ordinal);

        var reason = await CliRunner.RunAsync(["deadletters", "discard", "7"], Environment);
        Assert.Equal(2, reason.ExitCode);
        CliAssert.OneErrorLine("error: --reason is required: say why the dead letters are dropped (see usine deadletters discard --help)", reason);

        var id = await CliRunner.RunAsync(["deadletters", "replay", "seven"], Environment);
        Assert.Equal(2, id.ExitCode);
        Assert.StartsWith("error: 'seven' is not a dead letter id", id.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Discarding_sends_the_reason_for_one_letter_or_a_filter()
    {
        await using var server = await StartServerAsync();

        var one = await CliRunner.RunAsync(["deadletters", "discard", "7", "--reason", "test message", "--server", server.Url], Environment);
        var many = await CliRunner.RunAsync(["deadletters", "discard", "--stage", "decode", "--reason", "firmware bug", "--server", server.Url], Environment);

        Assert.Equal((0, 0), (one.ExitCode, many.ExitCode));
        Assert.Contains("dead letter 7 discarded", one.Output, StringComparison.Ordinal);
        Assert.Contains("4 dead letters discarded", many.Output, StringComparison.Ordinal);
        var requests = server.Requests.ToArray();
        Assert.Equal("/api/deadletters/7/discard", requests[0].Path);
        Assert.Equal("""{"reason":"test message"}""", Body(requests[0]));
        Assert.Equal("""{"filter":{"stage":"decode"},"reason":"firmware bug"}""", Body(requests[1]));
    }

    [Fact]
    public async Task Editing_from_a_file_sends_its_text_and_replays_on_request()
    {
        await using var server = await StartServerAsync();
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "{\"VIN\":\"VF1RFB00X12345678\"}");
        try
        {
            var result = await CliRunner.RunAsync(["deadletters", "edit", "7", "--file", file, "--replay", "--server", server.Url], Environment);

            Assert.Equal(0, result.ExitCode);
            Assert.Contains("dead letter 7 replayed", result.Output, StringComparison.Ordinal);
            using var body = JsonDocument.Parse(Body(Assert.Single(server.Requests)));
            Assert.Equal("{\"VIN\":\"VF1RFB00X12345678\"}", body.RootElement.GetProperty("payload").GetString());
            Assert.True(body.RootElement.GetProperty("replay").GetBoolean());
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Replaying_a_range_a_cluster_read_from_the_raw_zone_prints_the_note_saying_why()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(
            ["replay", "--source", "flins-screwing", "--from", "2026-11-25T00:00:00Z", "--to", "2026-11-26T00:00:00Z", "--server", server.Url], Environment);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("(raw)", result.Output, StringComparison.Ordinal);
        Assert.Contains("USINE_RAW holds the messages received from 2026-11-25T12:00:00Z on", result.Output.ReplaceLineEndings(" "), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replaying_a_range_prints_the_counts_and_an_empty_range_exits_2()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(
            ["replay", "--source", "flins-screwing", "--from", "2026-11-26T06:00:00Z", "--to", "2026-11-26T14:00:00Z", "--server", server.Url], Environment);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("0 new, 8 unchanged, 0 updated, 12 replayed", result.Output, StringComparison.Ordinal);
        Assert.Contains("replay-4", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("note", result.Output, StringComparison.Ordinal);
        using (var body = JsonDocument.Parse(Body(Assert.Single(server.Requests))))
        {
            Assert.False(body.RootElement.GetProperty("fromArchive").GetBoolean());
        }

        var empty = await CliRunner.RunAsync(
            ["replay", "--source", "flins-screwing", "--from", "2026-11-20T00:00:00Z", "--to", "2026-11-21T00:00:00Z", "--server", server.Url], Environment);
        Assert.Equal(2, empty.ExitCode);
        CliAssert.OneErrorLine("error: no raw messages of source flins-screwing received between 2026-11-20T00:00:00Z and 2026-11-21T00:00:00Z", empty);

        var missing = await CliRunner.RunAsync(["replay", "--source", "flins-screwing"], Environment);
        Assert.Equal(2, missing.ExitCode);
        Assert.StartsWith("error: --source, --from and --to are required", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Groups_and_the_audit_log_print_as_tables()
    {
        await using var server = await StartServerAsync();

        var groups = await CliRunner.RunAsync(["deadletters", "groups", "--status", "open", "--server", server.Url], Environment);
        var audit = await CliRunner.RunAsync(["audit", "list", "--action", "replay.range", "--since", "2026-11-26T00:00:00Z", "--server", server.Url], Environment);

        Assert.Equal((0, 0), (groups.ExitCode, audit.ExitCode));
        Assert.Matches(@"1,234\s{2,}1,200\s{2,}30\s{2,}4\s{2,}flins-screwing\s{2,}validate", groups.Output);
        Assert.Contains("field 'torque' is above the maximum 200", groups.Output, StringComparison.Ordinal);
        Assert.Contains("250 Nm · 999 Nm", groups.Output, StringComparison.Ordinal);
        Assert.Matches(@"marie\s{2,}replay\.range\s{2,}source:flins-screwing\s{2,}ok", audit.Output);
        var requests = server.Requests.ToArray();
        Assert.Equal("open", requests[0].Query["status"]);
        Assert.Equal("replay.range", requests[1].Query["action"]);
        Assert.Equal("2026-11-26T00:00:00Z", requests[1].Query["since"]);
    }

    [Fact]
    public async Task Listing_passes_the_reason_text_and_the_time_range_and_show_prints_the_payload_before_the_edit()
    {
        await using var server = await StartServerAsync();

        var list = await CliRunner.RunAsync(
            ["deadletters", "list", "--matching", "above the maximum", "--from", "2026-11-26T06:00:00Z", "--to", "2026-11-26T07:00:00Z", "--server", server.Url], Environment);
        var show = await CliRunner.RunAsync(["deadletters", "show", "7", "--server", server.Url], Environment);

        Assert.Equal((0, 0), (list.ExitCode, show.ExitCode));
        var request = server.Requests.First();
        Assert.Equal("above the maximum", request.Query["reason"]);
        Assert.Equal("2026-11-26T06:00:00Z", request.Query["from"]);
        Assert.Equal("2026-11-26T07:00:00Z", request.Query["to"]);
        Assert.Contains("2026-11-26 10:05:00Z", show.Output, StringComparison.Ordinal);
        Assert.Contains($"original payload, before the edit:{System.Environment.NewLine}{{\"VIN\":\"VF1-BAD\"}}", show.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_as_groups_prints_it_chooses_the_letters_to_list_and_to_replay()
    {
        await using var server = await StartServerAsync();
        const string rule = "field 'torque' is above the maximum 200";

        var list = await CliRunner.RunAsync(["deadletters", "list", "--rule", rule, "--server", server.Url], Environment);
        var replay = await CliRunner.RunAsync(["deadletters", "replay", "--rule", rule, "--force", "--server", server.Url], Environment);

        Assert.Equal(("", 0, "", 0), (list.Error, list.ExitCode, replay.Error, replay.ExitCode));
        var requests = server.Requests.ToArray();
        Assert.Equal(rule, requests[0].Query["rule"]);
        Assert.False(requests[0].Query.ContainsKey("reason"));
        using var body = JsonDocument.Parse(Body(requests[1]));
        Assert.Equal(rule, body.RootElement.GetProperty("filter").GetProperty("rule").GetString());
        Assert.False(body.RootElement.GetProperty("filter").TryGetProperty("reason", out _));
    }

    [Fact]
    public async Task The_attempt_limit_of_serve_must_be_at_least_one()
    {
        var result = await CliRunner.RunAsync(["serve", "--max-replay-attempts", "0"], Environment);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: --max-replay-attempts must be 1 or more (see usine serve --help)", result);
    }
}
