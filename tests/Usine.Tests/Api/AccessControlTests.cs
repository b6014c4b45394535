using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Usine.Security;

namespace Usine.Tests.Api;

/// <summary>
/// Access control over real HTTP: every endpoint against missing, expired, mis-addressed and under-privileged
/// credentials, and a plant-scoped key that must never see one byte of the other plant.
/// </summary>
public sealed class AccessControlTests : IAsyncLifetime
{
    private const string Secret = "a-signing-secret-of-at-least-32-bytes-for-hs256";
    private const string Issuer = "https://idp.plant.test/";
    private const string Audience = "usine";
    private const string DouaiVin = "VF1DDDDD000000001";
    private const string FlinsVin = "VF1FFFFF000000001";

    private static readonly Dictionary<string, string> Keys = new()
    {
        ["admin"] = ApiKeys.New(),
        ["ops"] = ApiKeys.New(),
        ["viewer"] = ApiKeys.New(),
        ["flins-viewer"] = ApiKeys.New(),
        ["flins-ops"] = ApiKeys.New(),
        ["old"] = ApiKeys.New(),
    };

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-auth-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness _server = null!;
    private PlatformServices _platform = null!;
    private HttpClient _http = null!;
    private long _flinsLetter, _douaiLetter;

    private static string Yaml => TestDefinitions.Yaml + $$"""

          - id: line2
            plant: douai
            kind: http
            model: screwing
            context: { shop: assembly, line: L1, station: "{station}" }
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
          - id: any-plant
            plant: "{$.plant}"
            kind: http
            model: screwing
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status", station: "$.station" }
        alerts:
          rules:
            - { name: quiet, signal: silence, sources: [line1, line2], after: 1h }
        auth:
          keys:
            - { name: admin, hash: "{{ApiKeys.HashText(Keys["admin"])}}", role: admin }
            - { name: ops, hash: "{{ApiKeys.HashText(Keys["ops"])}}", role: operator }
            - { name: viewer, hash: "{{ApiKeys.HashText(Keys["viewer"])}}", role: viewer }
            - { name: flins-viewer, hash: "{{ApiKeys.HashText(Keys["flins-viewer"])}}", role: viewer, plants: [flins] }
            - { name: flins-ops, hash: "{{ApiKeys.HashText(Keys["flins-ops"])}}", role: operator, plants: [flins] }
            - { name: old, hash: "{{ApiKeys.HashText(Keys["old"])}}", role: admin, expires: 2026-01-01 }
          jwt:
            issuer: {{Issuer}}
            audience: {{Audience}}
            keys:
              - secret: {{Secret}}
            plantsClaim: plants
        """;

    public async Task InitializeAsync()
    {
        _server = await ServerHarness.StartAsync(_dir, Yaml, _time, actor: null);
        (_http, _platform) = (_server.Http, _server.Platform);

        // Both plants get records, avatars and one dead letter each (a torque over the model's maximum).
        await Push("line1", TestDefinitions.Screwing(FlinsVin, "ST010", "2026-11-26T08:00:00Z", 12.5), TestDefinitions.Screwing(FlinsVin, "ST020", "2026-11-26T08:05:00Z", 999));
        await Push("line2", TestDefinitions.Screwing(DouaiVin, "ST010", "2026-11-26T08:00:00Z", 22.5), TestDefinitions.Screwing(DouaiVin, "ST020", "2026-11-26T08:05:00Z", 999));
        var letters = await Send(Keys["admin"], HttpMethod.Get, "/api/deadletters");
        using var doc = JsonDocument.Parse(letters.Body);
        _flinsLetter = doc.RootElement.EnumerateArray().Single(d => d.GetProperty("source").GetString() == "line1").GetProperty("id").GetInt64();
        _douaiLetter = doc.RootElement.EnumerateArray().Single(d => d.GetProperty("source").GetString() == "line2").GetProperty("id").GetInt64();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task Push(string source, params string[] messages)
    {
        var r = await Send(Keys["ops"], HttpMethod.Post, $"/api/sources/{source}/messages", string.Join("\n", messages));
        Assert.True(r.Status == HttpStatusCode.OK, r.Body);
    }

    private sealed record Answer(HttpStatusCode Status, string Body, HttpResponseMessage Response);

    private async Task<Answer> Send(string? credential, HttpMethod method, string path, string? body = null, Action<HttpRequestMessage>? alter = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (credential is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        alter?.Invoke(request);
        var response = await _http.SendAsync(request);
        return new Answer(response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    private static string Token(string role, string? audience = null, DateTime? expires = null, string[]? plants = null, string secret = Secret, string issuer = Issuer)
    {
        var claims = new Dictionary<string, object> { ["sub"] = "alice", ["role"] = role };
        if (plants is not null)
        {
            claims["plants"] = plants;
        }

        var exp = expires ?? DateTime.UtcNow.AddMinutes(10);
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience ?? Audience,
            Claims = claims,
            IssuedAt = exp.AddMinutes(-20),
            NotBefore = exp.AddMinutes(-20),
            Expires = exp,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(secret)), SecurityAlgorithms.HmacSha256),
        });
    }

    /// <summary>Every endpoint that reads, with a request that would succeed for a viewer.</summary>
    private List<(HttpMethod Method, string Path, string? Body)> ViewerEndpoints() =>
    [
        (HttpMethod.Get, "/api/status", null),
        (HttpMethod.Get, "/api/models", null),
        (HttpMethod.Get, "/api/models/screwing", null),
        (HttpMethod.Get, "/api/sources", null),
        (HttpMethod.Get, "/api/sources/line1", null),
        (HttpMethod.Get, "/api/avatars?q=VF1", null),
        (HttpMethod.Get, $"/api/avatars/{FlinsVin}", null),
        (HttpMethod.Get, $"/api/avatars/{FlinsVin}/history", null),
        (HttpMethod.Get, $"/api/avatars/{FlinsVin}/links", null),
        (HttpMethod.Get, "/api/avatars/flins/children", null),
        (HttpMethod.Get, "/api/models/screwing/records", null),
        (HttpMethod.Get, "/api/models/screwing/aggregate?bucket=1h&measures=count,torque:avg", null),
        (HttpMethod.Get, "/api/models/screwing/export?format=csv", null),
        (HttpMethod.Post, "/api/sql", """{"sql":"SELECT count(*) FROM m_screwing"}"""),
        (HttpMethod.Get, "/api/deadletters", null),
        (HttpMethod.Get, "/api/deadletters/groups", null),
        (HttpMethod.Get, $"/api/deadletters/{_flinsLetter}", null),
        (HttpMethod.Get, "/api/jobs", null),
        (HttpMethod.Get, "/api/alerts", null),
        (HttpMethod.Get, "/api/alerts/history", null),
        (HttpMethod.Get, "/api/reconcile?source=line1&from=2026-11-26T00:00:00Z&to=2026-11-27T00:00:00Z", null),
        (HttpMethod.Get, "/api/archive", null),
        (HttpMethod.Get, "/api/archive/verify", null),
        (HttpMethod.Get, "/metrics", null),
    ];

    /// <summary>Every endpoint that changes something, with a request an operator could send.</summary>
    private List<(HttpMethod Method, string Path, string? Body)> OperatorEndpoints() =>
    [
        (HttpMethod.Post, "/api/sources/line1/messages", TestDefinitions.Screwing(FlinsVin, "ST030", "2026-11-26T08:10:00Z", 11)),
        (HttpMethod.Post, "/api/sources/line1/import?name=more.ndjson", TestDefinitions.Screwing(FlinsVin, "ST040", "2026-11-26T08:15:00Z", 11)),
        (HttpMethod.Post, $"/api/deadletters/{_flinsLetter}/edit", """{"payload":"{}","replay":false}"""),
        (HttpMethod.Post, $"/api/deadletters/{_flinsLetter}/replay", "{}"),
        (HttpMethod.Post, $"/api/deadletters/{_flinsLetter}/discard", """{"reason":"test"}"""),
        (HttpMethod.Post, "/api/deadletters/replay", """{"filter":{"source":"line1"}}"""),
        (HttpMethod.Post, "/api/deadletters/discard", """{"filter":{"source":"line1"},"reason":"test"}"""),
        (HttpMethod.Post, "/api/replay", """{"source":"line1","from":"2026-11-26T00:00:00Z","to":"2026-11-27T00:00:00Z"}"""),
        (HttpMethod.Post, "/api/archive/run", null),
        (HttpMethod.Post, "/api/rollups/rebuild", """{"model":"screwing"}"""),
        (HttpMethod.Post, "/api/alerts/evaluate", null),
        (HttpMethod.Get, "/api/audit", null),
    ];

    /// <summary>Every endpoint that changes the platform's definitions.</summary>
    private static List<(HttpMethod Method, string Path, string? Body)> AdminEndpoints() =>
    [
        (HttpMethod.Post, "/api/models", "name: gauge\ntime: ts\nfields:\n  ts: { type: timestamp, required: true }\n  v: { type: double }\n"),
        (HttpMethod.Put, "/api/sources/gauges", "id: gauges\nplant: flins\nkind: http\nmodel: screwing\nmap: { vin: $.VIN, ts: $.time, torque: $.t, station: $.s }\n"),
        (HttpMethod.Delete, "/api/sources/gauges", null),
    ];

    [Fact]
    public async Task Every_endpoint_refuses_a_request_without_valid_credentials_and_says_why()
    {
        var bad = new (string? Credential, string Why)[]
        {
            (null, "authentication required"),
            ("usine_not-a-key-of-this-platform", "not known"),
            (Keys["old"], "expired at 2026-01-01"),
            (Token("admin", expires: DateTime.UtcNow.AddMinutes(-2)), "expired"),
            (Token("admin", audience: "another-app"), "not for audience 'usine'"),
            (Token("admin", issuer: "https://elsewhere.test/"), "not from issuer 'https://idp.plant.test/'"),
            (Token("admin", secret: "another-secret-of-at-least-32-bytes-long!!"), "signature"),
            (Token("manager"), "no 'role' claim with viewer, operator or admin"),
            ("not-a-jwt-nor-a-key", "neither an API key"),
        };
        foreach (var (method, path, body) in ViewerEndpoints().Concat(OperatorEndpoints()).Concat(AdminEndpoints()))
        {
            foreach (var (credential, why) in bad)
            {
                var r = await Send(credential, method, path, body);
                Assert.True(r.Status == HttpStatusCode.Unauthorized, $"{method} {path} with {why}: {(int)r.Status} {r.Body}");
                Assert.True(r.Body.Contains(why, StringComparison.Ordinal), $"{method} {path} with {why}: {r.Body}");
                Assert.DoesNotContain(FlinsVin, r.Body, StringComparison.Ordinal);
            }
        }

        // A person browsing the UI is sent to the sign-in page; liveness and the API's description stay open.
        var page = await Send(null, HttpMethod.Get, "/deadletters", alter: r => r.Headers.Accept.ParseAdd("text/html"));
        Assert.Equal("/login?returnUrl=%2Fdeadletters", page.Response.RequestMessage!.RequestUri!.PathAndQuery);
        Assert.Contains("API key or token", page.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await Send(null, HttpMethod.Get, "/health")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Send(null, HttpMethod.Get, "/openapi/v1.json")).Status);
        Assert.Equal(HttpStatusCode.OK, (await Send(null, HttpMethod.Get, "/login")).Status);
    }

    [Fact]
    public async Task A_token_expired_less_than_the_clock_skew_ago_is_still_accepted_and_not_more()
    {
        Assert.Equal(HttpStatusCode.OK, (await Send(Token("viewer", expires: DateTime.UtcNow.AddSeconds(-10)), HttpMethod.Get, "/api/status")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(Token("viewer", expires: DateTime.UtcNow.AddSeconds(-45)), HttpMethod.Get, "/api/status")).Status);
    }

    [Fact]
    public async Task Roles_viewer_operator_admin_each_reach_what_they_may_and_no_more()
    {
        foreach (var (method, path, body) in ViewerEndpoints())
        {
            foreach (var credential in new[] { Keys["viewer"], Keys["ops"], Keys["admin"], Token("viewer") })
            {
                var r = await Send(credential, method, path, body);
                Assert.True(r.Status == HttpStatusCode.OK, $"{method} {path}: {(int)r.Status} {r.Body}");
            }
        }

        foreach (var (method, path, body) in OperatorEndpoints())
        {
            foreach (var credential in new[] { Keys["viewer"], Token("viewer"), Keys["flins-viewer"] })
            {
                var r = await Send(credential, method, path, body);
                Assert.True(r.Status == HttpStatusCode.Forbidden, $"viewer {method} {path}: {(int)r.Status} {r.Body}");
                Assert.Contains("needs the operator role", r.Body, StringComparison.Ordinal);
            }
        }

        // Nothing a viewer tried changed anything: the dead letter is still open and the audit log is empty.
        var letter = await Send(Keys["viewer"], HttpMethod.Get, $"/api/deadletters/{_flinsLetter}");
        Assert.Contains("\"status\":\"open\"", letter.Body, StringComparison.Ordinal);
        var audit = await Send(Keys["ops"], HttpMethod.Get, "/api/audit");
        Assert.Equal("[]", audit.Body);

        foreach (var (method, path, body) in OperatorEndpoints())
        {
            foreach (var credential in new[] { Keys["ops"], Token("operator"), Keys["admin"] })
            {
                var r = await Send(credential, method, path, body);
                Assert.True(r.Status is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden), $"{method} {path}: {(int)r.Status} {r.Body}");
            }
        }

        foreach (var (method, path, body) in AdminEndpoints())
        {
            foreach (var credential in new[] { Keys["viewer"], Keys["ops"], Token("operator"), Keys["flins-ops"] })
            {
                var r = await Send(credential, method, path, body);
                Assert.True(r.Status == HttpStatusCode.Forbidden, $"{method} {path}: {(int)r.Status} {r.Body}");
                Assert.Contains("needs the admin role", r.Body, StringComparison.Ordinal);
            }

            var ok = await Send(Keys["admin"], method, path, body);
            Assert.True(ok.Status is HttpStatusCode.OK or HttpStatusCode.Created, $"admin {method} {path}: {(int)ok.Status} {ok.Body}");
        }
    }

    [Fact]
    public async Task Writes_are_audited_under_the_caller_that_made_them()
    {
        var r = await Send(Keys["ops"], HttpMethod.Post, $"/api/deadletters/{_flinsLetter}/discard", """{"reason":"sensor fault"}""",
            alter: m => m.Headers.Add("X-Usine-Actor", "marie"));
        Assert.Equal(HttpStatusCode.OK, r.Status);
        r = await Send(Token("operator"), HttpMethod.Post, $"/api/deadletters/{_douaiLetter}/discard", """{"reason":"sensor fault"}""");
        Assert.Equal(HttpStatusCode.OK, r.Status);

        var audit = await Send(Keys["admin"], HttpMethod.Get, "/api/audit");
        using var doc = JsonDocument.Parse(audit.Body);
        var actors = doc.RootElement.EnumerateArray().Select(e => e.GetProperty("actor").GetString()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["jwt:alice", "key:ops (marie)"], actors);
    }

    [Fact]
    public async Task A_plant_scoped_key_never_returns_a_byte_of_another_plant()
    {
        foreach (var credential in new[] { Keys["flins-viewer"], Token("viewer", plants: ["flins"]) })
        {
            // Lists, searches, aggregates and exports hold flins and nothing of douai.
            foreach (var (method, path, body) in ViewerEndpoints().Where(e => e.Path.StartsWith("/api/avatars", StringComparison.Ordinal)
                || e.Path.StartsWith("/api/models/screwing/", StringComparison.Ordinal) || e.Path.StartsWith("/api/deadletters", StringComparison.Ordinal)))
            {
                var r = await Send(credential, method, path, body);
                Assert.True(r.Status == HttpStatusCode.OK, $"{method} {path}: {(int)r.Status} {r.Body}");
                AssertNothingOfDouai(r.Body, $"{method} {path}");
            }

            var records = await Send(credential, HttpMethod.Get, "/api/models/screwing/records");
            using (var doc = JsonDocument.Parse(records.Body))
            {
                var rows = doc.RootElement.GetProperty("records").EnumerateArray().ToList();
                Assert.Single(rows);
                Assert.Equal("flins", rows[0].GetProperty("plant").GetString());
            }

            foreach (var ndjson in new[] { "ndjson", "csv", "parquet" })
            {
                var export = await Send(credential, HttpMethod.Get, $"/api/models/screwing/export?format={ndjson}");
                Assert.Equal(HttpStatusCode.OK, export.Status);
                AssertNothingOfDouai(export.Body, "export " + ndjson);
            }

            // Asking for douai by id, by filter, by export or through SQL is refused.
            foreach (var path in new[]
            {
                $"/api/avatars/{DouaiVin}", $"/api/avatars/{DouaiVin}/history", $"/api/avatars/{DouaiVin}/links", "/api/avatars/douai/children",
                "/api/avatars?plant=douai", "/api/models/screwing/records?plant=douai", "/api/models/screwing/aggregate?plant=douai",
                "/api/models/screwing/export?format=ndjson&plant=douai", $"/api/deadletters/{_douaiLetter}", "/api/deadletters?source=line2",
                "/api/deadletters/groups?source=line2",
            })
            {
                var r = await Send(credential, HttpMethod.Get, path);
                Assert.True(r.Status == HttpStatusCode.Forbidden, $"GET {path}: {(int)r.Status} {r.Body}");
                AssertOnlyAnError(r.Body, path);
            }
        }

        // A source of several plants: its dead letters are each of the plant read from the message.
        await Push("any-plant",
            """{"plant":"flins","VIN":"VF1FFFFF000000002","station":"ST010","time":"2026-11-26T09:00:00Z","result":{"torque":999}}""",
            """{"plant":"douai","VIN":"VF1DDDDD000000002","station":"ST010","time":"2026-11-26T09:00:00Z","result":{"torque":999}}""");
        foreach (var credential in new[] { Keys["flins-viewer"], Token("viewer", plants: ["flins"]) })
        {
            var letters = await Send(credential, HttpMethod.Get, "/api/deadletters?source=any-plant");
            using var doc = JsonDocument.Parse(letters.Body);
            var one = Assert.Single(doc.RootElement.EnumerateArray());
            var id = one.GetProperty("id").GetInt64();
            Assert.Contains("VF1FFFFF000000002", (await Send(credential, HttpMethod.Get, $"/api/deadletters/{id}")).Body, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.Forbidden, (await Send(credential, HttpMethod.Get, $"/api/deadletters/{id + 1}")).Status);
        }

        // SQL reads the same scope: the model's table, its rollup and the avatars hold flins only, and the tables
        // that cannot be scoped by plant are refused.
        foreach (var credential in new[] { Keys["flins-viewer"], Token("viewer", plants: ["flins"]) })
        {
            foreach (var sql in new[] { "SELECT * FROM m_screwing", "SELECT * FROM v_screwing_1h", "SELECT * FROM avatars", "SELECT * FROM M_SCREWING UNION ALL SELECT * FROM m_screwing" })
            {
                var r = await Send(credential, HttpMethod.Post, "/api/sql", JsonSerializer.Serialize(new { sql }));
                Assert.True(r.Status == HttpStatusCode.OK, $"{sql}: {(int)r.Status} {r.Body}");
                Assert.Contains("flins", r.Body, StringComparison.Ordinal);
                AssertNothingOfDouai(r.Body, sql);
            }

            foreach (var sql in new[] { "SELECT * FROM raw_messages", "SELECT * FROM dead_letters", "SELECT * FROM usine.main.m_screwing", "SELECT * FROM duckdb_tables()" })
            {
                var r = await Send(credential, HttpMethod.Post, "/api/sql", JsonSerializer.Serialize(new { sql }));
                Assert.True(r.Status == HttpStatusCode.Forbidden, $"{sql}: {(int)r.Status} {r.Body}");
                AssertOnlyAnError(r.Body, sql);
            }
        }

        var unscoped = await Send(Keys["viewer"], HttpMethod.Post, "/api/sql", JsonSerializer.Serialize(new { sql = "SELECT count(DISTINCT plant) FROM m_screwing" }));
        Assert.Contains("[[2]]", unscoped.Body, StringComparison.Ordinal);

        // An operator of flins cannot push into, replay or repair douai's sources either.
        foreach (var (method, path, body) in new (HttpMethod, string, string?)[]
        {
            (HttpMethod.Post, "/api/sources/line2/messages", TestDefinitions.Screwing(DouaiVin, "ST030", "2026-11-26T08:10:00Z", 11)),
            (HttpMethod.Post, "/api/sources/any-plant/messages", "{}"),
            (HttpMethod.Post, $"/api/deadletters/{_douaiLetter}/replay", "{}"),
            (HttpMethod.Post, $"/api/deadletters/{_douaiLetter}/discard", """{"reason":"not mine"}"""),
            (HttpMethod.Post, "/api/deadletters/discard", """{"filter":{"source":"line2"},"reason":"not mine"}"""),
            (HttpMethod.Post, "/api/replay", """{"source":"line2","from":"2026-11-26T00:00:00Z","to":"2026-11-27T00:00:00Z"}"""),
        })
        {
            var r = await Send(Keys["flins-ops"], method, path, body);
            Assert.True(r.Status == HttpStatusCode.Forbidden, $"{method} {path}: {(int)r.Status} {r.Body}");
        }

        // A discard over every source touches only flins' dead letters.
        var all = await Send(Keys["flins-ops"], HttpMethod.Post, "/api/deadletters/discard", """{"filter":{"status":"open"},"reason":"flins only"}""");
        Assert.Equal(HttpStatusCode.OK, all.Status);
        var douai = await Send(Keys["admin"], HttpMethod.Get, $"/api/deadletters/{_douaiLetter}");
        Assert.Contains("\"status\":\"open\"", douai.Body, StringComparison.Ordinal);
        var flins = await Send(Keys["admin"], HttpMethod.Get, $"/api/deadletters/{_flinsLetter}");
        Assert.Contains("\"status\":\"discarded\"", flins.Body, StringComparison.Ordinal);
    }

    /// <summary>A refusal holds one message, which may repeat what was asked, and no data.</summary>
    private static void AssertOnlyAnError(string body, string what)
    {
        using var doc = JsonDocument.Parse(body);
        Assert.True(doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.EnumerateObject().Select(p => p.Name).SequenceEqual(["error"]), $"{what}: {body}");
        Assert.False(body.Contains("22.5", StringComparison.Ordinal), $"{what} holds a douai torque: {body}");
    }

    private static void AssertNothingOfDouai(string body, string what)
    {
        Assert.False(body.Contains("douai", StringComparison.OrdinalIgnoreCase), $"{what} holds douai: {body}");
        Assert.False(body.Contains(DouaiVin, StringComparison.Ordinal), $"{what} holds a douai vehicle: {body}");
        Assert.False(body.Contains("22.5", StringComparison.Ordinal), $"{what} holds a douai torque: {body}");
    }

    [Fact]
    public async Task A_plant_scoped_key_lists_and_reads_only_the_sources_of_its_plants()
    {
        static List<string?> Ids(string body)
        {
            using var doc = JsonDocument.Parse(body);
            return [.. doc.RootElement.EnumerateArray().Select(s => s.GetProperty("id").GetString())];
        }

        Assert.Equal(["any-plant", "csv-line1", "line1", "line2"], Ids((await Send(Keys["viewer"], HttpMethod.Get, "/api/sources")).Body));
        foreach (var credential in new[] { Keys["flins-viewer"], Token("viewer", plants: ["flins"]) })
        {
            var list = await Send(credential, HttpMethod.Get, "/api/sources");
            Assert.Equal(HttpStatusCode.OK, list.Status);
            Assert.Equal(["csv-line1", "line1"], Ids(list.Body));
            AssertNothingOfDouai(list.Body, "/api/sources");
            Assert.Contains("\"line1\"", (await Send(credential, HttpMethod.Get, "/api/sources/line1")).Body, StringComparison.Ordinal);

            // Another plant's source, or one whose plant comes from each message, is refused without a word of it.
            foreach (var id in new[] { "line2", "any-plant" })
            {
                var r = await Send(credential, HttpMethod.Get, "/api/sources/" + id);
                Assert.True(r.Status == HttpStatusCode.Forbidden, $"GET /api/sources/{id}: {(int)r.Status} {r.Body}");
                AssertOnlyAnError(r.Body, id);
                Assert.DoesNotContain("douai", r.Body, StringComparison.Ordinal);
            }

            // An unknown id is answered with the sources the caller may see, not the others.
            var missing = await Send(credential, HttpMethod.Get, "/api/sources/nope");
            Assert.Equal(HttpStatusCode.NotFound, missing.Status);
            Assert.Contains("line1", missing.Body, StringComparison.Ordinal);
            Assert.False(missing.Body.Contains("line2", StringComparison.Ordinal) || missing.Body.Contains("any-plant", StringComparison.Ordinal), missing.Body);

            // Nor does the status page tell where the data lives.
            using var status = JsonDocument.Parse((await Send(credential, HttpMethod.Get, "/api/status")).Body);
            Assert.Equal(JsonValueKind.Null, status.RootElement.GetProperty("dataDirectory").ValueKind);
        }
    }

    [Fact]
    public async Task A_plant_scoped_key_cannot_ask_the_sql_console_about_the_server()
    {
        foreach (var credential in new[] { Keys["flins-viewer"], Token("viewer", plants: ["flins"]) })
        {
            foreach (var sql in new[] { "SELECT current_setting('temp_directory')", "SELECT plant, current_setting('temp_directory') FROM m_screwing", "SELECT version()", "SELECT * FROM duckdb_settings()" })
            {
                var r = await Send(credential, HttpMethod.Post, "/api/sql", JsonSerializer.Serialize(new { sql }));
                Assert.True(r.Status == HttpStatusCode.Forbidden, $"{sql}: {(int)r.Status} {r.Body}");
                AssertOnlyAnError(r.Body, sql);
                Assert.DoesNotContain(_dir, r.Body, StringComparison.Ordinal);
            }
        }

        var unscoped = await Send(Keys["viewer"], HttpMethod.Post, "/api/sql", JsonSerializer.Serialize(new { sql = "SELECT current_setting('temp_directory')" }));
        Assert.Equal(HttpStatusCode.OK, unscoped.Status);
        Assert.Contains(_dir, unscoped.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_jobs_alerts_and_reconciliation_keep_to_the_callers_plants()
    {
        // A stream job and a silent-source alert for each plant's source.
        _time.Advance(TimeSpan.FromHours(2));
        await _platform.Alerting.EvaluateAsync(CancellationToken.None);
        var all = await Send(Keys["admin"], HttpMethod.Get, "/api/status");
        Assert.Contains("douai", all.Body, StringComparison.Ordinal);
        Assert.Contains("\"line2\"", (await Send(Keys["admin"], HttpMethod.Get, "/api/jobs")).Body, StringComparison.Ordinal);
        Assert.Contains("\"line2\"", (await Send(Keys["admin"], HttpMethod.Get, "/api/alerts")).Body, StringComparison.Ordinal);
        var douaiJob = _platform.Jobs.List().Single(j => j.SourceId == "line2").Id;

        foreach (var credential in new[] { Keys["flins-viewer"], Token("viewer", plants: ["flins"]) })
        {
            foreach (var path in new[] { "/api/status", "/api/jobs", "/api/alerts", "/api/alerts/history", "/api/jobs?source=line1", "/api/reconcile?source=line1" })
            {
                var r = await Send(credential, HttpMethod.Get, path);
                Assert.True(r.Status == HttpStatusCode.OK, $"GET {path}: {(int)r.Status} {r.Body}");
                AssertNothingOfDouai(r.Body, path);
                Assert.False(r.Body.Contains("\"line2\"", StringComparison.Ordinal) || r.Body.Contains("any-plant", StringComparison.Ordinal), $"{path} names a source of another plant: {r.Body}");
            }

            // Counts are flins's own: one record and one open dead letter of the two plants' two and two.
            using (var status = JsonDocument.Parse((await Send(credential, HttpMethod.Get, "/api/status")).Body))
            {
                Assert.Equal(1, status.RootElement.GetProperty("records").GetProperty("screwing").GetInt64());
                Assert.Equal(1, status.RootElement.GetProperty("deadLetters").GetProperty("open").GetInt64());
                Assert.Equal(["flins"], status.RootElement.GetProperty("plants").EnumerateArray().Select(p => p.GetString()));
                Assert.Contains(status.RootElement.GetProperty("alerts").EnumerateArray(), a => a.GetProperty("source").GetString() == "line1");
            }

            foreach (var path in new[] { "/api/jobs?source=line2", $"/api/jobs/{douaiJob}", "/api/alerts/history?source=line2", "/api/reconcile?source=line2", "/api/reconcile?source=any-plant" })
            {
                var r = await Send(credential, HttpMethod.Get, path);
                Assert.True(r.Status == HttpStatusCode.Forbidden, $"GET {path}: {(int)r.Status} {r.Body}");
                AssertOnlyAnError(r.Body, path);
            }
        }

        using var unscoped = JsonDocument.Parse((await Send(Keys["viewer"], HttpMethod.Get, "/api/status")).Body);
        Assert.Equal(2, unscoped.RootElement.GetProperty("records").GetProperty("screwing").GetInt64());
        Assert.Equal(2, unscoped.RootElement.GetProperty("deadLetters").GetProperty("open").GetInt64());
    }

    [Fact]
    public async Task Serving_beyond_loopback_without_authentication_is_refused_with_the_way_to_configure_it()
    {
        var config = Path.Combine(_dir, "open.yaml");
        await File.WriteAllTextAsync(config, TestDefinitions.Yaml);
        var open = new UsineOptions
        {
            ConfigPath = config,
            DataDirectory = Path.Combine(_dir, "open"),
            StartConnectors = false,
            ArchiveTimeOfDay = null,
        };
        WebApplication Build(UsineOptions options, string urls) => ServerHarness.Build(options, _time, [new(UsineHttpOptions.Section + ":Urls", urls)]);
        foreach (var urls in new[] { "http://0.0.0.0:5080", "http://*:5080", "http://+:5080", "http://127.0.0.1:5080;http://10.1.2.3:5080", "http://[::]:5080", "http://plant-server:5080" })
        {
            var e = Assert.Throws<UsineException>(() => Build(open, urls));
            Assert.Contains("without authentication", e.Message, StringComparison.Ordinal);
            Assert.Contains("auth", e.Message, StringComparison.Ordinal);
        }

        foreach (var urls in new[] { "http://127.0.0.1:0", "http://localhost:5080", "http://[::1]:5080" })
        {
            await using var app = Build(open, urls);
        }

        // With authentication configured, every address is allowed.
        await using var secured = Build(_platform.Options, "http://0.0.0.0:0");
    }
}
