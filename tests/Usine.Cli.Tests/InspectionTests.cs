using System.Text.RegularExpressions;

namespace Usine.Cli.Tests;

public sealed class InspectionTests
{
    private const string JsonDeadLetter = """
        {"id":7,"source":"flins-screwing","stream":"mqtt:flins-screwing","position":1012,"stage":"validate",
         "reason":"torque: 250 is above the maximum 200","status":"open","attempts":1,"model":"screwing","modelVersion":1,
         "receivedAt":"2026-11-26T10:00:12Z","createdAt":"2026-11-26T10:00:12.5Z",
         "payload":"{\"VIN\":\"VF1RFB00X12345678\",\"result\":{\"torque\":250}}","payloadBytes":49,
         "errorType":"Usine.Core.ValidationException","topic":"flins/assembly/S3/screwing"}
        """;

    private static Task<FakeUsineServer> StartServerAsync() => FakeUsineServer.StartAsync(app =>
    {
        app.MapGet("/api/deadletters/{id}", (string id) => id switch
        {
            "7" => FakeUsineServer.Json(JsonDeadLetter),
            "8" => FakeUsineServer.Json("""
                {"id":"8","source":"douai-energy","stage":"decode","reason":"bad CSV line","status":"open","attempts":2,
                 "payload":"meter;kwh\n12;x,y","payloadBytes":16}
                """),
            "9" => FakeUsineServer.Json("""{"id":"9","source":"douai-energy","stage":"decode","status":"open","attempts":1,"payloadBase64":"/wA=","payloadBytes":2}"""),
            _ => FakeUsineServer.Json($$"""{"error":"no dead letter {{id}}"}""", StatusCodes.Status404NotFound),
        });
        app.MapGet("/api/deadletters", () => FakeUsineServer.Json($"[{JsonDeadLetter}]"));
        app.MapGet("/api/models/{name}", (string name) => FakeUsineServer.Json("""
            {"name":"screwing","version":1,"versions":[2,1],"description":"Screwing results","time":"ts","key":["vin","station","ts"],
             "avatar":{"type":"vehicle","id":"{vin}","attach":null},
             "fields":[{"name":"vin","type":"string","required":true,"pattern":"^[A-HJ-NPR-Z0-9]{17}$"},
                       {"name":"torque","type":"double","unit":"Nm","required":true,"min":0,"max":200},
                       {"name":"status","type":"string","required":false,"enum":["OK","NOK"]}],
             "rollups":[{"name":"torque_by_station","bucket":"1h","by":["station"],"measures":{"torque":["count","avg"]}}],
             "table":"m_screwing","origin":"models.yaml:3"}
            """));
        app.MapGet("/api/avatars/{id}", (string id, string? type) => type is null
            ? FakeUsineServer.Json("""{"error":"several avatars are named S3: station, machine; choose one with ?type="}""", StatusCodes.Status409Conflict)
            : FakeUsineServer.Json("""
                {"key":42,"type":"station","id":"S3","plant":"flins","firstSeen":"2026-11-26T09:00:00Z","attributes":{"supplier":"Atlas","bays":"2"},
                 "parent":{"type":"line","id":"L1"},
                 "ancestors":[{"type":"line","id":"L1"},{"type":"shop","id":"assembly"},{"type":"plant","id":"flins"}],
                 "children":[{"type":"machine","id":"nutrunner-3"}],
                 "links":[{"kind":"at","type":"vehicle","id":"VF1RFB00X12345678","from":"2026-11-26T10:00:00Z","until":null}],
                 "records":{"screwing":12},
                 "recent":[{"model":"screwing","time":"2026-11-26T10:00:12Z","values":{"torque":12.5,"status":"OK"}}]}
                """));
    });

    [Fact]
    public async Task Showing_a_dead_letter_prints_why_it_failed_and_its_json_payload_indented()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["deadletters", "show", "7", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("torque: 250 is above the maximum 200", result.Output, StringComparison.Ordinal);
        Assert.Contains("screwing v1", result.Output, StringComparison.Ordinal);
        Assert.Contains("flins/assembly/S3/screwing", result.Output, StringComparison.Ordinal);
        Assert.Contains(
            string.Join(Environment.NewLine, "payload (49 bytes, JSON shown indented):", "{", "  \"VIN\": \"VF1RFB00X12345678\",", "  \"result\": {", "    \"torque\": 250", "  }", "}"),
            result.Output,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_payload_that_is_not_json_is_printed_exactly_as_received()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["deadletters", "show", "8", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains($"payload (16 bytes):{Environment.NewLine}meter;kwh\n12;x,y{Environment.NewLine}", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_binary_payload_is_printed_in_base64()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["deadletters", "show", "9", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains($"payload (2 bytes, not UTF-8, base64):{Environment.NewLine}/wA={Environment.NewLine}", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_dead_letter_exits_2()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["deadletters", "show", "404", "--server", server.Url]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: no dead letter 404", result);
    }

    [Fact]
    public async Task Listing_dead_letters_passes_the_filters_to_the_server()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(
            ["deadletters", "list", "--source", "flins screwing", "--stage", "validate", "--status", "open", "--limit", "20", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        var request = Assert.Single(server.Requests);
        Assert.Equal("flins screwing", request.Query["source"]);
        Assert.Equal("validate", request.Query["stage"]);
        Assert.Equal("open", request.Query["status"]);
        Assert.Equal("20", request.Query["limit"]);
        Assert.Matches(new Regex(@"7\s{2,}2026-11-26 10:00:12Z\s{2,}flins-screwing\s{2,}validate\s{2,}open\s{2,}1\s{2,}screwing v1"), result.Output);
    }

    [Fact]
    public async Task Showing_a_model_lists_its_fields_with_ranges_enums_and_patterns()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["models", "show", "screwing", "--version", "1", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("1", Assert.Single(server.Requests).Query["version"]);
        Assert.Matches(new Regex(@"torque\s{2,}double\s{2,}Nm\s{2,}yes\s{2,}0 \.\. 200"), result.Output);
        Assert.Matches(new Regex(@"status\s{2,}string\s{2,}OK \| NOK"), result.Output);
        Assert.Contains("/^[A-HJ-NPR-Z0-9]{17}$/", result.Output, StringComparison.Ordinal);
        Assert.Contains("vin, station, ts", result.Output, StringComparison.Ordinal);
        Assert.Contains("vehicle {vin}", result.Output, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"torque_by_station\s{2,}1h\s{2,}station\s{2,}torque: count, avg"), result.Output);
    }

    [Fact]
    public async Task Showing_an_avatar_prints_its_path_from_the_plant_down_its_links_and_records()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["avatars", "show", "S3", "--type", "station", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("station", Assert.Single(server.Requests).Query["type"]);
        Assert.Contains("plant flins › shop assembly › line L1 › station S3", result.Output, StringComparison.Ordinal);
        Assert.Matches(new Regex(@"at\s{2,}vehicle VF1RFB00X12345678\s{2,}2026-11-26 10:00:00Z\s{2,}now"), result.Output);
        Assert.Contains("nutrunner-3", result.Output, StringComparison.Ordinal);
        Assert.Contains("torque=12.5, status=OK", result.Output, StringComparison.Ordinal);
        Assert.Contains("bays=2, supplier=Atlas", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ambiguous_avatar_id_exits_2_with_the_types_to_choose_from()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(["avatars", "show", "S3", "--server", server.Url]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: several avatars are named S3: station, machine; choose one with ?type=", result);
    }
}
