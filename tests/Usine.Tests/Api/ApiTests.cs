using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Usine.Tests.Api;

/// <summary>The HTTP API of a real platform, served by Kestrel on a loopback port.</summary>
public sealed class ApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-api-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness _server = null!;
    private HttpClient _http = null!;

    private const string ExtraSource = """
          - id: drop
            plant: flins
            kind: file
            format: csv
            path: incoming
            pattern: "*.csv"
            model: screwing
            context: { station: "{station}" }
        """;

    public async Task InitializeAsync()
    {
        _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml + "\n" + ExtraSource, _time, o => o with { StartConnectors = true, ArchiveTimeOfDay = TimeSpan.FromMinutes(30), DropPollInterval = TimeSpan.FromSeconds(1) }, actor: null,
            settings: [new(UsineHttpOptions.Section + ":MaxPushBytes", "4096")]);
        _http = _server.Http;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<JsonElement> Json(HttpResponseMessage r, HttpStatusCode expected)
    {
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"expected {expected}, got {(int)r.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private Task<HttpResponseMessage> Push(string source, string body) =>
        _http.PostAsync($"/api/sources/{source}/messages", new StringContent(body, Encoding.UTF8, "application/json"));

    [Fact]
    public async Task A_push_answers_once_durable_with_what_became_of_each_message()
    {
        var body = "[" + TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12) + ","
            + TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", "2026-11-26T08:16:00Z", 999) + "]";

        var r = await Json(await Push("line1", body), HttpStatusCode.OK);
        Assert.Equal(2, r.GetProperty("received").GetInt32());
        Assert.Equal(1, r.GetProperty("stored").GetInt32());
        Assert.Equal(1, r.GetProperty("deadLetters").GetInt32());

        // NDJSON too; the same record again is a duplicate.
        var again = await Json(await Push("line1", TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12) + "\n"), HttpStatusCode.OK);
        Assert.Equal(1, again.GetProperty("duplicates").GetInt32());

        var dead = await Json(await _http.GetAsync("/api/deadletters?source=line1"), HttpStatusCode.OK);
        var first = dead[0];
        Assert.Equal("validate", first.GetProperty("stage").GetString());
        Assert.Contains("above the maximum 200", first.GetProperty("reason").GetString(), StringComparison.Ordinal);
        var shown = await Json(await _http.GetAsync($"/api/deadletters/{first.GetProperty("id").GetInt64()}"), HttpStatusCode.OK);
        Assert.Contains("999", shown.GetProperty("payload").GetString(), StringComparison.Ordinal);
        Assert.Equal("http:line1", shown.GetProperty("stream").GetString());
    }

    [Fact]
    public async Task Bad_requests_answer_4xx_with_one_line_saying_what_to_fix()
    {
        var unknown = await Json(await Push("nope", "{}"), HttpStatusCode.NotFound);
        Assert.StartsWith("no source with id 'nope' (sources: csv-line1, drop, line1)", unknown.GetProperty("error").GetString(), StringComparison.Ordinal);

        var big = await Json(await Push("line1", new string(' ', 5000) + "{}"), HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("at most 4096", big.GetProperty("error").GetString(), StringComparison.Ordinal);

        var array = await Json(await Push("line1", "[{\"a\":"), HttpStatusCode.BadRequest);
        Assert.Contains("not a valid JSON array", array.GetProperty("error").GetString(), StringComparison.Ordinal);

        var write = await Json(await _http.PostAsJsonAsync("/api/sql", new { sql = "DELETE FROM m_screwing" }), HttpStatusCode.BadRequest);
        Assert.Contains("only read-only SELECT", write.GetProperty("error").GetString(), StringComparison.Ordinal);

        var empty = await Json(await _http.PostAsJsonAsync("/api/sql", new { limit = 5 }), HttpStatusCode.BadRequest);
        Assert.Contains("the query is missing", empty.GetProperty("error").GetString(), StringComparison.Ordinal);

        var stage = await Json(await _http.GetAsync("/api/deadletters?stage=nowhere"), HttpStatusCode.BadRequest);
        Assert.Contains("stage 'nowhere' is not one of decode, map, validate", stage.GetProperty("error").GetString(), StringComparison.Ordinal);

        var model = await Json(await _http.GetAsync("/api/models/nope"), HttpStatusCode.NotFound);
        Assert.Equal("no model named 'nope' (models: screwing)", model.GetProperty("error").GetString());

        var format = await Json(await _http.PostAsync("/api/sources/line1/import?format=csv", new StringContent("a,b\n")), HttpStatusCode.BadRequest);
        Assert.Equal("source 'line1' reads json, not csv: import the file into a csv source, or leave the format out", format.GetProperty("error").GetString());

        var route = await Json(await _http.GetAsync("/api/nothing"), HttpStatusCode.NotFound);
        Assert.Contains("no such endpoint", route.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_avatar_shows_its_place_in_the_hierarchy_its_links_and_its_records()
    {
        await Json(await Push("line1", TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12) + "\n"
            + TestDefinitions.Screwing(TestDefinitions.Vin1, "ST050", "2026-11-26T08:25:00Z", 14)), HttpStatusCode.OK);

        var vehicle = await Json(await _http.GetAsync($"/api/avatars/{TestDefinitions.Vin1}"), HttpStatusCode.OK);
        Assert.Equal("vehicle", vehicle.GetProperty("type").GetString());
        Assert.Equal(2, vehicle.GetProperty("records").GetProperty("screwing").GetInt32());
        Assert.Equal(["flins/assembly/L1/ST050", "flins/assembly/L1/ST040"], vehicle.GetProperty("links").EnumerateArray().Select(l => l.GetProperty("id").GetString()));
        Assert.Equal(14, vehicle.GetProperty("recent")[0].GetProperty("values").GetProperty("torque").GetDouble());

        var station = await Json(await _http.GetAsync("/api/avatars/flins/assembly/L1/ST040"), HttpStatusCode.OK);
        Assert.Equal(["flins", "flins/assembly", "flins/assembly/L1"], station.GetProperty("ancestors").EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        var escaped = await Json(await _http.GetAsync("/api/avatars/" + Uri.EscapeDataString("flins/assembly/L1/ST040")), HttpStatusCode.OK);
        Assert.Equal("station", escaped.GetProperty("type").GetString());

        var models = await Json(await _http.GetAsync("/api/models/screwing"), HttpStatusCode.OK);
        Assert.Equal(["vin", "station", "ts"], models.GetProperty("key").EnumerateArray().Select(k => k.GetString()));
        Assert.Equal("1h", models.GetProperty("rollups")[0].GetProperty("bucket").GetString());

        var status = await Json(await _http.GetAsync("/api/status"), HttpStatusCode.OK);
        Assert.Equal(["flins"], status.GetProperty("plants").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(2, status.GetProperty("records").GetProperty("screwing").GetInt64());
        var line1 = status.GetProperty("sources").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "line1");
        Assert.Equal(2, line1.GetProperty("stored").GetInt64());
        Assert.Equal("ready", line1.GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_file_dropped_in_a_watched_folder_is_imported_once_and_moved_to_done()
    {
        var folder = Path.Combine(_dir, "data", "incoming");
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, "shift1.csv"),
            $"vin,station,ts,torque,status\n{TestDefinitions.Vin1},ST010,2026-11-26T06:00:00Z,11,OK\n{TestDefinitions.Vin2},ST010,2026-11-26T06:01:00Z,oops,OK\n");

        // The watcher looks twice (the size must hold still between two looks) and then imports.
        var done = Path.Combine(folder, "done", "shift1.csv");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.Exists(done))
        {
            Assert.True(DateTime.UtcNow < deadline, "the dropped file was not imported within 30 s of simulated polling");
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(10);
        }

        var count = await Json(await _http.PostAsJsonAsync("/api/sql", new { sql = "SELECT count(*) FROM m_screwing WHERE source_id = 'drop'" }), HttpStatusCode.OK);
        Assert.Equal(1, count.GetProperty("rows")[0][0].GetInt64());
        var dead = await Json(await _http.GetAsync("/api/deadletters?source=drop"), HttpStatusCode.OK);
        Assert.Equal(3, dead[0].GetProperty("position").GetInt64());
        Assert.Contains("field 'torque' = \"oops\" is not a number", dead[0].GetProperty("reason").GetString(), StringComparison.Ordinal);
    }
}
