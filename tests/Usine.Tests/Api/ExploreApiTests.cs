using System.Globalization;
using DuckDB.NET.Data;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Usine.Tests.Api;

/// <summary>The exploration API (records, aggregates, avatars, exports) on data pushed through a real platform.</summary>
public sealed class ExploreApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-explore-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness _server = null!;
    private PlatformServices _platform = null!;
    private HttpClient _http = null!;

    private const string SecondPlant = """
          - id: line2
            plant: douai
            kind: http
            model: screwing
            context: { shop: assembly, line: L1, station: "{station}" }
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
        """;

    public async Task InitializeAsync()
    {
        _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml + "\n" + SecondPlant, _time, o => o with { StartConnectors = true, ArchiveTimeOfDay = TimeSpan.FromMinutes(30) }, actor: null);
        (_http, _platform) = (_server.Http, _server.Platform);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }


    private Task<JsonElement> Get(string path, HttpStatusCode expected = HttpStatusCode.OK) => GetJson(path, expected);

    private async Task<JsonElement> GetJson(string path, HttpStatusCode expected) => await ServerHarness.Json(await _http.GetAsync(path), expected);

    private static string Vin(int i) => "VF1AAAAA" + i.ToString("D9", CultureInfo.InvariantCulture);

    private static readonly DateTime Start = new(2026, 11, 26, 6, 0, 0, DateTimeKind.Utc);

    /// <summary>A screwing result: vehicle i at one of three stations, minutes after 06:00, a torque in quarters of a newton-metre.</summary>
    private static string Screw(int i, int minute, double torque) =>
        TestDefinitions.Screwing(Vin(i), "ST0" + (1 + (i % 3)) + "0", Start.AddMinutes(minute).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), torque, i % 7 == 0 ? "NOK" : "OK");

    private async Task Push(string source, IEnumerable<string> messages)
    {
        var r = await ServerHarness.Json(await _http.PostAsync($"/api/sources/{source}/messages", new StringContent(string.Join("\n", messages), Encoding.UTF8, "application/json")), HttpStatusCode.OK);
        Assert.Equal(0, r.GetProperty("deadLetters").GetInt32());
    }

    /// <summary>60 records in flins over three hours and 30 in douai, torques exact in binary so that sums compare exactly.</summary>
    private async Task PushDay()
    {
        await Push("line1", Enumerable.Range(0, 60).Select(i => Screw(i, i * 3, 10 + (i % 13) * 0.25)));
        await Push("line2", Enumerable.Range(100, 30).Select(i => Screw(i, (i - 100) * 5, 20 + (i % 5) * 0.5)));
    }

    [Fact]
    public async Task The_OpenAPI_document_lists_every_resource_and_the_reference_page_is_served()
    {
        var doc = await Get("/openapi/v1.json");
        var paths = doc.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();
        foreach (var expected in new[]
        {
            "/api/status", "/api/sql", "/api/models", "/api/models/{name}", "/api/models/{name}/records", "/api/models/{name}/aggregate",
            "/api/models/{name}/export", "/api/avatars", "/api/avatars/{id}/children", "/api/avatars/{id}/ancestors", "/api/avatars/{id}/history",
            "/api/avatars/{id}/links", "/api/sources", "/api/sources/{id}/messages", "/api/deadletters", "/api/jobs",
        })
        {
            Assert.True(paths.Contains(expected), $"the OpenAPI document lacks {expected}; it has {string.Join(", ", paths.Order())}");
        }

        var records = doc.GetProperty("paths").GetProperty("/api/models/{name}/records").GetProperty("get");
        Assert.Equal("Records", records.GetProperty("tags")[0].GetString());
        Assert.Contains("cursor", records.GetProperty("summary").GetString(), StringComparison.Ordinal);
        var sources = doc.GetProperty("paths").GetProperty("/api/sources").GetProperty("get");
        Assert.Equal("Sources", sources.GetProperty("tags")[0].GetString());

        var page = await _http.GetAsync("/scalar");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("text/html", page.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        Assert.Contains("openapi/v1.json", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Records_are_paged_with_a_cursor_that_holds_while_new_records_are_stored()
    {
        await Push("line1", Enumerable.Range(0, 25).Select(i => Screw(i, i, 10 + i)));

        var seen = new List<string>();
        var first = await Get("/api/models/screwing/records?sort=torque&limit=10&where=status:eq:OK");
        seen.AddRange(first.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("vin").GetString()!));
        Assert.Equal(10, seen.Count);
        var next = first.GetProperty("next").GetString()!;

        // Stored between two pages: one sorts before the cursor (never shown), one after (shown once).
        await Push("line1", [Screw(500, 100, 1), Screw(501, 101, 150)]);
        while (next is not null)
        {
            var page = await Get("/api/models/screwing/records?sort=torque&limit=10&where=status:eq:OK&cursor=" + next);
            seen.AddRange(page.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("vin").GetString()!));
            next = page.GetProperty("next").ValueKind == JsonValueKind.Null ? null! : page.GetProperty("next").GetString()!;
        }

        var expected = Enumerable.Range(0, 25).Where(i => i % 7 != 0).Select(Vin).Append(Vin(501)).ToList();
        Assert.Equal(expected, seen);

        var firstRecord = first.GetProperty("records")[0];
        foreach (var column in new[] { "record_id", "plant", "avatar_key", "avatar_id", "event_time", "model_version", "source_id", "stream_id", "raw_position", "raw_index", "stored_at", "station", "ts", "torque", "status" })
        {
            Assert.True(firstRecord.TryGetProperty(column, out _), $"a record lacks {column}: {firstRecord}");
        }

        Assert.Equal("flins", firstRecord.GetProperty("plant").GetString());

        // Newest first by default; ties on the sort value are ordered by record id, so pages never overlap.
        var newest = await Get("/api/models/screwing/records?limit=1");
        Assert.Equal(Vin(501), newest.GetProperty("records")[0].GetProperty("vin").GetString());
        var times = new List<DateTime>();
        string? cursor = null;
        do
        {
            var page = await Get("/api/models/screwing/records?limit=4" + (cursor is null ? "" : "&cursor=" + cursor));
            times.AddRange(page.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("event_time").GetDateTime().ToUniversalTime()));
            cursor = page.GetProperty("next").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next").GetString();
        }
        while (cursor is not null);
        Assert.Equal(27, times.Count);
        Assert.Equal(times.OrderDescending(), times);
        Assert.Equal(27, times.Distinct().Count());

        var sameTorque = await Get($"/api/models/screwing/records?where=torque:in:11|12|13&where=station:like:ST0%25&avatar={Vin(2)}&sort=-torque");
        Assert.Equal([12.0], sameTorque.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("torque").GetDouble()));

        var otherFilter = await Get("/api/models/screwing/records?sort=torque&limit=10&where=status:eq:NOK&cursor=" + first.GetProperty("next").GetString(), HttpStatusCode.BadRequest);
        Assert.StartsWith("cursor: it belongs to a query with other filters", otherFilter.GetProperty("error").GetString(), StringComparison.Ordinal);
        var otherSort = await Get("/api/models/screwing/records?sort=-torque&limit=10&where=status:eq:OK&cursor=" + first.GetProperty("next").GetString(), HttpStatusCode.BadRequest);
        Assert.StartsWith("cursor:", otherSort.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Filter_values_are_parameters_and_never_change_the_query()
    {
        await Push("line1", [Screw(1, 0, 10), Screw(2, 1, 11)]);
        foreach (var value in new[] { "ST020' OR '1'='1", "x'; DROP TABLE m_screwing; --", "%' OR 1=1 --" })
        {
            var page = await Get("/api/models/screwing/records?where=station:eq:" + Uri.EscapeDataString(value));
            Assert.Equal(0, page.GetProperty("records").GetArrayLength());
            var like = await Get("/api/models/screwing/aggregate?measures=count&source=records&where=station:like:" + Uri.EscapeDataString(value));
            Assert.Equal(0, like.GetProperty("buckets").GetArrayLength());
        }

        var column = await Get("/api/models/screwing/records?sort=" + Uri.EscapeDataString("torque\" OR 1=1 --"), HttpStatusCode.BadRequest);
        Assert.StartsWith("sort: model 'screwing' has no field 'torque\" OR 1=1 --'", column.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, (await Get("/api/models/screwing/records")).GetProperty("records").GetArrayLength());
        var quoted = await Get("/api/models/screwing/records?where=station:in:" + Uri.EscapeDataString("ST020|ST030|'"));
        Assert.Equal([Vin(1), Vin(2)], quoted.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("vin").GetString()!).Order());
    }

    [Theory]
    [InlineData("/api/models/nope/records", HttpStatusCode.NotFound, "no model named 'nope' (models: screwing)")]
    [InlineData("/api/models/screwing/records?where=colour:eq:red", HttpStatusCode.BadRequest, "where: model 'screwing' has no field 'colour'")]
    [InlineData("/api/models/screwing/records?where=torque:between:1", HttpStatusCode.BadRequest, "where: operator 'between' in 'torque:between:1' is not one of eq, ne, lt, le, gt, ge, in, like")]
    [InlineData("/api/models/screwing/records?where=torque:gt:ten", HttpStatusCode.BadRequest, "where: 'ten' is not a valid double for 'torque'")]
    [InlineData("/api/models/screwing/records?where=torque", HttpStatusCode.BadRequest, "where: 'torque' is not FIELD:OP:VALUE")]
    [InlineData("/api/models/screwing/records?where=torque:like:1%25", HttpStatusCode.BadRequest, "where: like applies to text fields")]
    [InlineData("/api/models/screwing/records?where=ts:ge:yesterday", HttpStatusCode.BadRequest, "where: 'yesterday' is not a valid timestamp for 'ts'")]
    [InlineData("/api/models/screwing/records?sort=-colour", HttpStatusCode.BadRequest, "sort: model 'screwing' has no field 'colour'")]
    [InlineData("/api/models/screwing/records?from=2026-11-27T00:00:00Z&to=2026-11-26T00:00:00Z", HttpStatusCode.BadRequest, "from: 2026-11-27T00:00:00Z is not before to")]
    [InlineData("/api/models/screwing/records?from=monday", HttpStatusCode.BadRequest, "from: 'monday' is not an ISO 8601 time")]
    [InlineData("/api/models/screwing/records?limit=0", HttpStatusCode.BadRequest, "limit: 0 is not between 1 and 10000")]
    [InlineData("/api/models/screwing/records?limit=10001", HttpStatusCode.BadRequest, "limit: 10001 is not between 1 and 10000")]
    [InlineData("/api/models/screwing/records?cursor=xyz", HttpStatusCode.BadRequest, "cursor: not a cursor of this API")]
    [InlineData("/api/models/screwing/records?cursor=eyJzIjoidG9ycXVlIn0", HttpStatusCode.BadRequest, "cursor: not a cursor of this API")]
    [InlineData("/api/models/screwing/aggregate?bucket=2h", HttpStatusCode.BadRequest, "bucket: '2h' is not one of 1m, 5m, 15m, 1h, 1d, 1w, 1mo")]
    [InlineData("/api/models/screwing/aggregate?measures=torque:median", HttpStatusCode.BadRequest, "measures: 'torque:median' is not count or FIELD:FUNCTION")]
    [InlineData("/api/models/screwing/aggregate?measures=status:avg", HttpStatusCode.BadRequest, "measures: 'status' is string; avg needs a number field")]
    [InlineData("/api/models/screwing/aggregate?by=colour", HttpStatusCode.BadRequest, "by: model 'screwing' has no field 'colour'")]
    [InlineData("/api/models/screwing/aggregate?bucket=shift", HttpStatusCode.BadRequest, "bucket: no shifts are configured. Add a 'shifts' section to the configuration")]
    [InlineData("/api/models/screwing/aggregate?by=@shift", HttpStatusCode.BadRequest, "by: no shifts are configured.")]
    [InlineData("/api/avatars?attr.colour=red", HttpStatusCode.BadRequest, "attr.colour: no model gives avatars an attribute 'colour' (attributes: none;")]
    [InlineData("/api/models/screwing/aggregate?measures=torque:p90&source=rollup", HttpStatusCode.BadRequest, "source: no rollup of model 'screwing' covers this request")]
    [InlineData("/api/models/screwing/export?format=xlsx", HttpStatusCode.BadRequest, "format: 'xlsx' is not one of csv, ndjson, parquet")]
    [InlineData("/api/models/nope/export", HttpStatusCode.NotFound, "no model named 'nope'")]
    [InlineData("/api/avatars?limit=0", HttpStatusCode.BadRequest, "limit: 0 is not between 1 and 10000")]
    [InlineData("/api/avatars/flins/history?from=later", HttpStatusCode.BadRequest, "from: 'later' is not an ISO 8601 time")]
    [InlineData("/api/avatars/nobody/history", HttpStatusCode.NotFound, "no avatar with id 'nobody'")]
    public async Task Bad_exploration_parameters_answer_an_error_naming_the_parameter(string path, HttpStatusCode status, string message)
    {
        await Push("line1", [Screw(1, 0, 10)]);
        var error = await Get(path, status);
        Assert.StartsWith(message, error.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_aggregate_served_from_the_rollup_equals_the_same_aggregate_computed_from_records()
    {
        await PushDay();
        const string measures = "count,torque:count,torque:sum,torque:avg,torque:min,torque:max";
        foreach (var query in new[]
        {
            $"bucket=1h&measures={measures}&by=station",
            $"bucket=1d&measures={measures}&by=plant,station&from=2026-11-26T00:00:00Z&to=2026-11-27T00:00:00Z",
            $"bucket=1h&measures={measures}&by=plant&plant=flins&from=2026-11-26T07:00:00Z",
            $"bucket=1w&measures={measures}",
            $"bucket=1mo&measures={measures}&by=station&where=station:in:ST010|ST030",
        })
        {
            var rollup = await Get("/api/models/screwing/aggregate?" + query);
            var records = await Get("/api/models/screwing/aggregate?source=records&" + query);
            Assert.True(rollup.GetProperty("source").GetString() == "rollup:1h", $"{query} was served from {rollup.GetProperty("source")}");
            Assert.Equal("records", records.GetProperty("source").GetString());
            var a = rollup.GetProperty("buckets").EnumerateArray().ToList();
            var b = records.GetProperty("buckets").EnumerateArray().ToList();
            Assert.True(a.Count > 0, $"no bucket for {query}");
            Assert.Equal(a.Count, b.Count);
            for (var i = 0; i < a.Count; i++)
            {
                foreach (var p in a[i].EnumerateObject())
                {
                    var other = b[i].GetProperty(p.Name);
                    if (p.Name == "torque_avg")
                    {
                        Assert.Equal(other.GetDouble(), p.Value.GetDouble(), 1e-9);
                    }
                    else
                    {
                        Assert.True(p.Value.GetRawText() == other.GetRawText(), $"{query}: bucket {i} {p.Name} is {p.Value} from the rollup, {other} from records");
                    }
                }
            }
        }

        // Figures checked against the data: flins has 20 records per hour at ST010/ST020/ST030 (i % 3).
        var hourly = await Get("/api/models/screwing/aggregate?bucket=1h&measures=count,torque:max,torque:p50&by=plant&plant=flins");
        Assert.Equal("records", hourly.GetProperty("source").GetString());
        var first = hourly.GetProperty("buckets")[0];
        Assert.Equal("2026-11-26T06:00:00Z", first.GetProperty("bucket").GetDateTime().ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
        Assert.Equal(20, first.GetProperty("count").GetInt64());
        Assert.Equal(13.0, first.GetProperty("torque_max").GetDouble());
        Assert.Equal(3, hourly.GetProperty("buckets").GetArrayLength());

        // A filter on a field the rollup does not keep, a range off its bucket edges: records serve it.
        var filtered = await Get("/api/models/screwing/aggregate?bucket=1h&measures=count&where=status:eq:NOK");
        Assert.Equal("records", filtered.GetProperty("source").GetString());
        Assert.Equal(Enumerable.Range(0, 60).Count(i => i % 7 == 0) + Enumerable.Range(100, 30).Count(i => i % 7 == 0),
            filtered.GetProperty("buckets").EnumerateArray().Sum(x => x.GetProperty("count").GetInt64()));
        var finer = await Get("/api/models/screwing/aggregate?bucket=15m&measures=count");
        Assert.Equal("records", finer.GetProperty("source").GetString());
        Assert.Equal(90, finer.GetProperty("buckets").EnumerateArray().Sum(x => x.GetProperty("count").GetInt64()));
        var offEdge = await Get("/api/models/screwing/aggregate?bucket=1h&measures=count&from=2026-11-26T06:30:00Z");
        Assert.Equal("records", offEdge.GetProperty("source").GetString());
        Assert.Equal(74, offEdge.GetProperty("buckets").EnumerateArray().Sum(x => x.GetProperty("count").GetInt64()));
    }

    [Fact]
    public async Task Avatars_are_found_by_prefix_and_show_their_hierarchy_history_and_links_at_a_time()
    {
        await Push("line1",
        [
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12),
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST050", "2026-11-26T08:25:00Z", 14),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", "2026-11-26T08:35:00Z", 16),
        ]);

        var found = await Get("/api/avatars?q=vf1a");
        Assert.Equal([TestDefinitions.Vin1], found.EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        var stations = await Get("/api/avatars?q=FLINS/ASSEMBLY/L1/&type=station");
        Assert.Equal(["flins/assembly/L1/ST040", "flins/assembly/L1/ST050"], stations.EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        Assert.Equal(0, (await Get("/api/avatars?q=vf1&plant=douai")).GetArrayLength());

        // The prefix is text, not a pattern: % and _ match themselves.
        Assert.Equal(0, (await Get("/api/avatars?q=vf1_")).GetArrayLength());
        Assert.Equal(0, (await Get("/api/avatars?q=%25")).GetArrayLength());
        Assert.Equal(0, (await Get("/api/avatars?q=flins%5C")).GetArrayLength());

        var children = await Get("/api/avatars/flins/assembly/L1/children");
        Assert.Equal(["flins/assembly/L1/ST040", "flins/assembly/L1/ST050"], children.EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        var escaped = await Get("/api/avatars/" + Uri.EscapeDataString("flins/assembly/L1") + "/children");
        Assert.Equal(2, escaped.GetArrayLength());
        var ancestors = await Get("/api/avatars/flins/assembly/L1/ST040/ancestors");
        Assert.Equal(["flins", "flins/assembly", "flins/assembly/L1"], ancestors.EnumerateArray().Select(a => a.GetProperty("id").GetString()));

        var history = await Get($"/api/avatars/{TestDefinitions.Vin1}/history");
        Assert.Equal([14.0, 12.0], history.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("values").GetProperty("torque").GetDouble()));
        Assert.Equal("screwing", history.GetProperty("records")[0].GetProperty("model").GetString());
        var ranged = await Get($"/api/avatars/{TestDefinitions.Vin1}/history?from=2026-11-26T08:00:00Z&to=2026-11-26T08:20:00Z");
        Assert.Equal([12.0], ranged.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("values").GetProperty("torque").GetDouble()));
        Assert.Equal(1, (await Get($"/api/avatars/{TestDefinitions.Vin1}/history?limit=1")).GetProperty("records").GetArrayLength());

        List<string> At(JsonElement links) => [.. links.GetProperty("links").EnumerateArray().Select(l => l.GetProperty("id").GetString()!)];
        Assert.Empty(At(await Get($"/api/avatars/{TestDefinitions.Vin1}/links?at=2026-11-26T08:00:00Z")));
        Assert.Equal(["flins/assembly/L1/ST040"], At(await Get($"/api/avatars/{TestDefinitions.Vin1}/links?at=2026-11-26T08:20:00Z")));
        Assert.Equal(["flins/assembly/L1/ST050"], At(await Get($"/api/avatars/{TestDefinitions.Vin1}/links?at=2026-11-26T08:25:00Z")));
        Assert.Equal(["flins/assembly/L1/ST050"], At(await Get($"/api/avatars/{TestDefinitions.Vin1}/links")));

        // The detail of an avatar still answers on its own path, ids with slashes included.
        var station = await Get("/api/avatars/flins/assembly/L1/ST040");
        Assert.Equal("station", station.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Exports_stream_csv_ndjson_and_parquet_that_read_back_to_the_same_records()
    {
        await PushDay();
        const string query = "from=2026-11-26T06:00:00Z&to=2026-11-26T07:00:00Z&plant=flins&where=station:eq:ST010";
        var expected = Enumerable.Range(0, 20).Where(i => i % 3 == 0).Select(Vin).ToList();

        var csv = await _http.GetAsync("/api/models/screwing/export?format=csv&" + query);
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal("attachment; filename=\"screwing.csv\"", csv.Content.Headers.ContentDisposition?.ToString());
        var lines = (await csv.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var header = lines[0].Split(',');
        Assert.Equal("record_id", header[0]);
        var vin = Array.IndexOf(header, "vin");
        Assert.Equal(expected, lines.Skip(1).Select(l => l.Split(',')[vin]));
        Assert.Equal("2026-11-26T06:00:00Z", lines[1].Split(',')[Array.IndexOf(header, "event_time")]);

        var ndjson = await _http.GetAsync("/api/models/screwing/export?format=ndjson&" + query);
        Assert.Equal("application/x-ndjson", ndjson.Content.Headers.ContentType?.MediaType);
        var rows = (await ndjson.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(expected, rows.Select(r => r.GetProperty("vin").GetString()));
        Assert.Equal(10.0, rows[0].GetProperty("torque").GetDouble());

        var parquet = await _http.GetAsync("/api/models/screwing/export?format=parquet&" + query);
        Assert.Equal("attachment; filename=\"screwing.parquet\"", parquet.Content.Headers.ContentDisposition?.ToString());
        var file = Path.Combine(_dir, "back.parquet");
        await File.WriteAllBytesAsync(file, await parquet.Content.ReadAsByteArrayAsync());
        using (var conn = new DuckDBConnection("Data Source=:memory:"))
        {
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = $"SELECT vin, torque FROM read_parquet('{file}') ORDER BY event_time";
            using var r = cmd.ExecuteReader();
            var back = new List<string>();
            while (r.Read())
            {
                back.Add(r.GetString(0));
            }

            Assert.Equal(expected, back);
        }

        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "data", "tmp")));
    }

    [Fact]
    public async Task Every_exploration_read_of_the_store_keeps_to_its_plant_scope()
    {
        await PushDay();
        var store = _platform.Store;
        var flins = new HashSet<string>(["flins"]);
        var none = new HashSet<string>();

        var page = await store.Records.QueryRecordsAsync(new RecordQuery { Model = "screwing", Limit = 1000 }, flins, default);
        Assert.Equal(60, page.Records.Count);
        Assert.All(page.Records, r => Assert.Equal("flins", r["plant"]));
        Assert.Empty((await store.Records.QueryRecordsAsync(new RecordQuery { Model = "screwing", Filter = new RecordFilter { Plant = "douai" } }, flins, default)).Records);
        Assert.Empty((await store.Records.QueryRecordsAsync(new RecordQuery { Model = "screwing" }, none, default)).Records);
        Assert.Equal(90, (await store.Records.QueryRecordsAsync(new RecordQuery { Model = "screwing", Limit = 1000 }, null, default)).Records.Count);

        foreach (var source in new[] { AggregateSource.Rollup, AggregateSource.Records })
        {
            var agg = await store.Records.AggregateAsync(new AggregateQuery
            {
                Model = "screwing",
                Bucket = AggregateBucket.All.Single(b => b.Name == "1d"),
                Measures = [new AggregateMeasure(null, AggregateFunction.Count)],
                By = ["plant"],
                Source = source,
            }, flins, default);
            Assert.Equal([("flins", 60L)], agg.Buckets.Select(b => ((string)b["plant"]!, (long)b["count"]!)));
        }

        Assert.All(store.Avatars.SearchAvatars("", null, null, 1000, flins), a => Assert.Equal("flins", a.Plant));
        Assert.Contains(store.Avatars.SearchAvatars("", null, null, 1000, null), a => a.Plant == "douai");
        Assert.Empty(store.Avatars.FindAvatars(Vin(100), null, flins));
        var douaiLine = store.Avatars.FindAvatars("douai/assembly/L1", null, null).Single();
        Assert.Empty(store.Avatars.Children(douaiLine.Key, 100, flins));
        Assert.Equal(3, store.Avatars.Children(douaiLine.Key, 100, null).Count);
        Assert.Empty(store.Avatars.Ancestors(douaiLine, flins));
        var vehicle = store.Avatars.FindAvatars(Vin(100), null, null).Single();
        Assert.Empty(await store.Avatars.AvatarHistoryAsync(vehicle.Key, null, null, 100, flins, default));
        Assert.Single(await store.Avatars.AvatarHistoryAsync(vehicle.Key, null, null, 100, null, default));
        var at = new DateTime(2026, 11, 27, 0, 0, 0, DateTimeKind.Utc);
        Assert.Empty(store.Avatars.LinksAt(vehicle.Key, at, flins));
        Assert.Single(store.Avatars.LinksAt(vehicle.Key, at, null));
        Assert.Empty(store.Avatars.Links(vehicle.Key, flins));
        Assert.Single(store.Avatars.Links(vehicle.Key, null));
        Assert.Empty(store.Avatars.AvatarRecords(vehicle.Key, 10, flins).Counts);
        Assert.Equal(1, store.Avatars.AvatarRecords(vehicle.Key, 10, null).Counts["screwing"]);

        using var export = new MemoryStream();
        await store.Records.ExportAsync("screwing", new RecordFilter(), ExportFormat.Ndjson, flins, export, default);
        var exported = Encoding.UTF8.GetString(export.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(60, exported.Length);
        Assert.DoesNotContain(exported, l => l.Contains("douai", StringComparison.Ordinal));
    }
}
