namespace Usine.Tests.Api;

/// <summary>Models and sources created and changed through the API, applied at once and kept across a restart.</summary>
public sealed class DefinitionApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-defs-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness _server = null!;

    private const string Energy = """
        name: energy
        version: 1
        time: ts
        key: [meter, ts]
        avatar: { type: meter, id: "{meter}" }
        fields:
          meter: { type: string, required: true }
          ts:    { type: timestamp, required: true }
          kwh:   { type: double, unit: kWh, min: 0, required: true }
        """;

    private const string EnergyV2 = """
        name: energy
        version: 2
        time: ts
        key: [meter, ts]
        avatar: { type: meter, id: "{meter}" }
        fields:
          meter: { type: string, required: true }
          ts:    { type: timestamp, required: true }
          kwh:   { type: double, unit: kWh, min: 0, required: true }
          phase: { type: string, enum: [L1, L2, L3] }
        """;

    private const string Meters = """
        {
          "id": "meters",
          "plant": "flins",
          "kind": "http",
          "model": "energy",
          "context": { "shop": "paint" },
          "map": { "meter": "$.m", "ts": "$.t", "kwh": "$.v" }
        }
        """;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml, _time);

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Send(HttpMethod method, string path, string body, string contentType = "application/yaml")
    {
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8, contentType) };
        var r = await _server.Http.SendAsync(request);
        return (r.StatusCode, JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task A_model_and_a_source_created_through_the_api_take_data_at_once_and_are_there_after_a_restart()
    {
        var (status, model) = await Send(HttpMethod.Post, "/api/models", Energy);
        Assert.True(status == HttpStatusCode.Created, model.ToString());
        Assert.Equal(("energy", 1, "api"), (model.GetProperty("name").GetString(), model.GetProperty("version").GetInt32(), model.GetProperty("definedBy").GetString()));

        (status, var source) = await Send(HttpMethod.Put, "/api/sources/meters", Meters, "application/json");
        Assert.True(status == HttpStatusCode.Created, source.ToString());
        Assert.Equal("api", source.GetProperty("definedBy").GetString());

        var pushed = await _server.Push("meters", """{"m":"M1","t":"2026-11-26T08:00:00Z","v":12.5}""" + "\n" + """{"m":"M1","t":"2026-11-26T08:15:00Z","v":-1}""");
        Assert.Equal((1, 1), (pushed.GetProperty("stored").GetInt32(), pushed.GetProperty("deadLetters").GetInt32()));
        Assert.Equal(12.5, (await _server.Scalar("SELECT sum(kwh) FROM m_energy")).GetDouble());

        // A second version adds a field; the source, replaced, maps it; older records keep it empty.
        (status, model) = await Send(HttpMethod.Post, "/api/models", EnergyV2);
        Assert.True(status == HttpStatusCode.Created, model.ToString());
        Assert.Equal([2, 1], model.GetProperty("versions").EnumerateArray().Select(v => v.GetInt32()));
        (status, source) = await Send(HttpMethod.Put, "/api/sources/meters", Meters.Replace("\"$.v\" }", "\"$.v\", \"phase\": \"$.p\" }", StringComparison.Ordinal), "application/json");
        Assert.True(status == HttpStatusCode.OK, source.ToString());
        await _server.Push("meters", """{"m":"M1","t":"2026-11-26T08:30:00Z","v":3,"p":"L2"}""");
        Assert.Equal("L2", (await _server.Scalar("SELECT string_agg(coalesce(phase, '-'), ',' ORDER BY ts) FROM m_energy")).GetString()![^2..]);
        Assert.Equal("-,L2", (await _server.Scalar("SELECT string_agg(coalesce(phase, '-'), ',' ORDER BY ts) FROM m_energy")).GetString());

        var audit = await _server.Get("/api/audit");
        Assert.Equal(["model.create", "source.create", "model.version", "source.update"],
            audit.EnumerateArray().Select(a => a.GetProperty("action").GetString()).Reverse());
        Assert.All(audit.EnumerateArray(), a => Assert.Equal("marie", a.GetProperty("actor").GetString()));

        // After a restart the definitions come back from the data directory, with the data.
        await _server.DisposeAsync();
        _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml, _time);
        var models = await _server.Get("/api/models/energy");
        Assert.Equal(2, models.GetProperty("version").GetInt32());
        var meters = await _server.Get("/api/sources/meters");
        Assert.Equal("energy", meters.GetProperty("model").GetString());
        await _server.Push("meters", """{"m":"M2","t":"2026-11-26T09:00:00Z","v":1,"p":"L1"}""");
        Assert.Equal(3L, (await _server.Scalar("SELECT count(*) FROM m_energy")).GetInt64());

        // Removed, the source takes nothing more; what it brought stays.
        (status, _) = await Send(HttpMethod.Delete, "/api/sources/meters", "");
        Assert.Equal(HttpStatusCode.OK, status);
        var refused = await _server.Http.PostAsync("/api/sources/meters/messages", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.Equal(3L, (await _server.Scalar("SELECT count(*) FROM m_energy")).GetInt64());
        Assert.False(File.Exists(Path.Combine(_dir, "data", "definitions", "sources", "meters.yaml")));
    }

    [Fact]
    public async Task A_source_read_alone_shows_its_mapping_and_its_settings_with_secrets_hidden()
    {
        Assert.Equal(HttpStatusCode.Created, (await Send(HttpMethod.Post, "/api/models", Energy)).Status);
        var withSettings = Meters.Replace("\"kind\": \"http\",", "\"kind\": \"mqtt\", \"topic\": \"meters/+\",", StringComparison.Ordinal).Replace(
            "\"map\":",
            "\"settings\": { \"broker\": \"mqtt://reader:pw@127.0.0.1:1\", \"username\": \"reader\", \"password\": \"abc\" },\n  \"map\":",
            StringComparison.Ordinal);
        var (status, created) = await Send(HttpMethod.Put, "/api/sources/meters", withSettings, "application/json");
        Assert.True(status == HttpStatusCode.Created, created.ToString());

        var source = await _server.Get("/api/sources/meters");

        Assert.Equal(
            """{"kwh":"$.v","meter":"$.m","ts":"$.t"}""",
            source.GetProperty("map").GetRawText());
        Assert.Equal(
            """{"broker":"mqtt://reader:***@127.0.0.1:1","password":"***","topic":"meters/+","username":"reader"}""",
            source.GetProperty("settings").GetRawText());
        Assert.Equal(("meters", "energy"), (source.GetProperty("id").GetString(), source.GetProperty("model").GetString()));
        Assert.DoesNotContain(":pw@", source.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_definition_is_refused_with_the_line_of_the_body_and_changes_nothing()
    {
        Assert.Equal(HttpStatusCode.Created, (await Send(HttpMethod.Post, "/api/models", Energy)).Status);

        var cases = new (HttpMethod Method, string Path, string Body, HttpStatusCode Status, string Message)[]
        {
            (HttpMethod.Post, "/api/models", Energy, HttpStatusCode.Conflict, "model energy version 1 exists"),
            (HttpMethod.Post, "/api/models", EnergyV2.Replace("kwh:   { type: double, unit: kWh, min: 0, required: true }", "kwh:   { type: string, required: true }", StringComparison.Ordinal), HttpStatusCode.BadRequest, "body line 9: model energy@2 changes the type of field 'kwh' from double (version 1) to string"),
            (HttpMethod.Post, "/api/models", EnergyV2.Replace("phase: { type: string", "phase: { type: text", StringComparison.Ordinal), HttpStatusCode.BadRequest, "body line 10: type 'text' is not one of"),
            (HttpMethod.Post, "/api/models", "", HttpStatusCode.BadRequest, "the body is empty"),
            (HttpMethod.Post, "/api/models", "{ \"name\": \"x\", ", HttpStatusCode.BadRequest, "invalid YAML"),
            (HttpMethod.Put, "/api/sources/meters", Meters.Replace("\"energy\"", "\"power\"", StringComparison.Ordinal), HttpStatusCode.BadRequest, "names model 'power', which is not defined"),
            (HttpMethod.Put, "/api/sources/other", Meters, HttpStatusCode.BadRequest, "its id must be the one in the address"),
            (HttpMethod.Put, "/api/sources/line1", Meters.Replace("\"meters\"", "\"line1\"", StringComparison.Ordinal), HttpStatusCode.Conflict, "usine.yaml:"),
            (HttpMethod.Put, "/api/sources/.hidden", Meters, HttpStatusCode.BadRequest, "must be letters"),
            (HttpMethod.Delete, "/api/sources/line1", "", HttpStatusCode.Conflict, "remove it there and restart"),
            (HttpMethod.Delete, "/api/sources/nope", "", HttpStatusCode.NotFound, "no source 'nope'"),
        };
        foreach (var (method, path, body, expected, message) in cases)
        {
            var (status, answer) = await Send(method, path, body);
            Assert.True(status == expected, $"{method} {path}: {(int)status} {answer}");
            Assert.Contains(message, answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        var models = await _server.Get("/api/models/energy");
        Assert.Equal([1], models.GetProperty("versions").EnumerateArray().Select(v => v.GetInt32()));
        Assert.Equal(["csv-line1", "line1"], (await _server.Get("/api/sources")).EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal(["energy.v1.yaml"], Directory.GetFiles(Path.Combine(_dir, "data", "definitions"), "*", SearchOption.AllDirectories).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_source_its_connector_refuses_is_refused_before_its_definition_is_written_and_the_next_start_runs()
    {
        var cells = """
            id: cells
            plant: flins
            kind: mqtt
            topic: "cell/#/x"
            model: screwing
            map: { vin: "$.VIN", ts: "$.time", torque: "$.t", station: "$.s" }
            """;
        var (status, answer) = await Send(HttpMethod.Put, "/api/sources/cells", cells);
        Assert.True(status == HttpStatusCode.BadRequest, answer.ToString());
        Assert.Contains("'#' must be a whole level and the last one", answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        (status, answer) = await Send(HttpMethod.Put, "/api/sources/cells", cells.Replace("topic: \"cell/#/x\"", "topic: cell/+/x\nsettings: { qos: 7 }", StringComparison.Ordinal));
        Assert.True(status == HttpStatusCode.BadRequest, answer.ToString());
        Assert.Contains("setting qos is '7'", answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "data", "definitions", "sources")) && Directory.EnumerateFiles(Path.Combine(_dir, "data", "definitions", "sources")).Any(),
            "a refused definition left a file under DATA/definitions/sources");
        Assert.Equal(HttpStatusCode.NotFound, (await _server.Http.GetAsync("/api/sources/cells")).StatusCode);

        // The next start, with its connectors, runs as before.
        await _server.DisposeAsync();
        _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml, _time, o => o with { StartConnectors = true },
            settings: [new(Usine.Server.UsineServer.MqttSection + ":DefaultBroker", "mqtt://127.0.0.1:1")]);
        Assert.Equal(["csv-line1", "line1"], (await _server.Get("/api/sources")).EnumerateArray().Select(s => s.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task A_stored_definition_that_can_no_longer_start_fails_its_source_at_boot_while_the_rest_runs_until_it_is_repaired()
    {
        // Two definitions stored by the API that no longer start: a topic the connector refuses (written by an older
        // version), and a source whose model is gone from the configuration.
        var sources = Path.Combine(_dir, "data", "definitions", "sources");
        Directory.CreateDirectory(sources);
        await File.WriteAllTextAsync(Path.Combine(sources, "cells.yaml"), """
            sources:
              - id: cells
                plant: flins
                kind: mqtt
                topic: "cell/#/x"
                model: screwing
                map: { vin: "$.VIN", ts: "$.time", torque: "$.t", station: "$.s" }
            """);
        await File.WriteAllTextAsync(Path.Combine(sources, "meters.yaml"), """
            sources:
              - id: meters
                plant: flins
                kind: http
                model: energy
                map: { meter: "$.m", ts: "$.t", kwh: "$.v" }
            """);
        await _server.DisposeAsync();
        _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml, _time, o => o with { StartConnectors = true },
            settings: [new(Usine.Server.UsineServer.MqttSection + ":DefaultBroker", "mqtt://127.0.0.1:1")]);

        var cells = await _server.Get("/api/sources/cells");
        Assert.Equal(("failed", "failed"), (cells.GetProperty("state").GetString(), cells.GetProperty("jobState").GetString()));
        Assert.Contains("'#' must be a whole level", cells.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        var meters = await _server.Get("/api/sources/meters");
        Assert.Equal(("failed", "failed"), (meters.GetProperty("state").GetString(), meters.GetProperty("jobState").GetString()));
        Assert.Contains("names model 'energy', which is not defined", meters.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Contains("PUT /api/sources/meters", meters.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Equal(["cells", "csv-line1", "line1", "meters"], (await _server.Get("/api/sources")).EnumerateArray().Select(s => s.GetProperty("id").GetString()));

        // The job-failed alert names both.
        await _server.Platform.Alerting.EvaluateAsync(CancellationToken.None);
        var firing = (await _server.Get("/api/alerts")).GetProperty("firing").EnumerateArray().Where(a => a.GetProperty("rule").GetString() == "job-failed").ToList();
        Assert.Equal(["cells", "meters"], firing.Select(a => a.GetProperty("source").GetString()).Order(StringComparer.Ordinal));

        // The rest of the platform runs.
        Assert.Equal(1, (await _server.Push("line1", TestDefinitions.Screwing(TestDefinitions.Vin1, "ST010", "2026-11-26T08:00:00Z", 12.5))).GetProperty("stored").GetInt32());

        // Repaired through the API: one defined again, the other removed; the next start has no failure.
        var (status, answer) = await Send(HttpMethod.Put, "/api/sources/cells", """
            id: cells
            plant: flins
            kind: mqtt
            topic: "cell/+/x"
            model: screwing
            map: { vin: "$.VIN", ts: "$.time", torque: "$.t", station: "$.s" }
            """);
        // Set aside at the start, it was no longer defined: defined again, it is created.
        Assert.True(status == HttpStatusCode.Created, answer.ToString());
        Assert.NotEqual("failed", answer.GetProperty("state").GetString());
        (status, answer) = await Send(HttpMethod.Delete, "/api/sources/meters", "");
        Assert.True(status == HttpStatusCode.OK, answer.ToString());
        Assert.False(File.Exists(Path.Combine(sources, "meters.yaml")));
        Assert.Equal(["cells", "csv-line1", "line1"], (await _server.Get("/api/sources")).EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        await _server.Platform.Alerting.EvaluateAsync(CancellationToken.None);
        Assert.DoesNotContain((await _server.Get("/api/alerts")).GetProperty("firing").EnumerateArray(), a => a.GetProperty("rule").GetString() == "job-failed");

        await _server.DisposeAsync();
        _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml, _time, o => o with { StartConnectors = true },
            settings: [new(Usine.Server.UsineServer.MqttSection + ":DefaultBroker", "mqtt://127.0.0.1:1")]);
        Assert.Empty(_server.Platform.FailedSources);
        Assert.NotEqual("failed", (await _server.Get("/api/sources/cells")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_mistake_in_the_configuration_file_still_stops_the_start_beside_stored_definitions_that_are_set_aside()
    {
        var sources = Path.Combine(_dir, "data", "definitions", "sources");
        Directory.CreateDirectory(sources);
        await File.WriteAllTextAsync(Path.Combine(sources, "meters.yaml"), "sources:\n  - id: meters\n    plant: flins\n    kind: http\n    model: energy\n    map: { meter: \"$.m\" }\n");
        await _server.DisposeAsync();
        var e = await Assert.ThrowsAsync<Usine.DefinitionException>(() => ServerHarness.StartAsync(_dir, TestDefinitions.Yaml.Replace("model: screwing\n    context: { shop", "model: screwin\n    context: { shop", StringComparison.Ordinal), _time));
        Assert.Contains("usine.yaml", e.Message, StringComparison.Ordinal);
        Assert.Contains("names model 'screwin'", e.Message, StringComparison.Ordinal);
        _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml, _time);
    }
}
