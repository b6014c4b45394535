using System.Globalization;
using DuckDB.NET.Data;

namespace Usine.Tests.Api;

/// <summary>Aggregates per shift and per level of the plant hierarchy, through the API of a real platform.</summary>
public sealed class ShiftAndHierarchyAggregateTests : IAsyncLifetime
{
    private const string Map = """map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }""";

    /// <summary>
    /// Flins works three shifts on the hour, douai two on the half hour (Paris time both). Besides line1 (flins
    /// assembly L1), line2 is douai's assembly L1, body is flins' body shop line L2, and loose gives no context.
    /// </summary>
    private static readonly string Yaml = TestDefinitions.Yaml.Replace(
        "      - { bucket: 1h, by: [station], measures: { torque: [count, avg, min, max] } }\n",
        "      - { bucket: 1h, by: [station], measures: { torque: [count, avg, min, max] } }\n      - { name: lines_1d, bucket: 1d, by: [\"@line\", \"@shop\"], measures: { torque: [count, sum] } }\n",
        StringComparison.Ordinal) + $$"""

          - id: line2
            plant: douai
            kind: http
            model: screwing
            context: { shop: assembly, line: L1, station: "{station}" }
            {{Map}}
          - id: body
            plant: flins
            kind: http
            model: screwing
            context: { shop: body, line: L2, station: "{station}" }
            {{Map}}
          - id: loose
            plant: flins
            kind: http
            model: screwing
            {{Map}}
        shifts:
          - plants: [flins]
            timezone: Europe/Paris
            shifts:
              - { name: morning, start: "06:00" }
              - { name: afternoon, start: "14:00" }
              - { name: night, start: "22:00" }
          - plants: [douai]
            timezone: Europe/Paris
            shifts:
              - { name: early, start: "05:30" }
              - { name: late, start: "13:30" }
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-shifts-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 27, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness? _server;

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

    private static string Vin(int i) => "VF1AAAAA" + i.ToString("D9", CultureInfo.InvariantCulture);

    private static string Screw(int i, string station, DateTime time, double torque) =>
        TestDefinitions.Screwing(Vin(i), station, time.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), torque, i % 5 == 0 ? "NOK" : "OK");

    private async Task Push(string source, IEnumerable<string> messages)
    {
        var r = await Server.Push(source, string.Join("\n", messages));
        Assert.Equal(0, r.GetProperty("deadLetters").GetInt32());
    }

    private static DateTime At(string text) => DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);

    private static string Time(JsonElement e) => e.GetDateTime().ToUniversalTime().ToString("yyyy-MM-ddTHH:mmZ", CultureInfo.InvariantCulture);

    /// <summary>Each bucket as text: its start, then the named properties.</summary>
    private static List<string> Rows(JsonElement result, params string[] properties) =>
        [.. result.GetProperty("buckets").EnumerateArray().Select(b => string.Join(" ",
            new[] { Time(b.GetProperty("bucket")) }.Concat(properties.Select(p => b.GetProperty(p) is { ValueKind: JsonValueKind.Null } ? "-" : b.GetProperty(p).ToString())))) ];

    /// <summary>
    /// Flins: a record every 20 minutes through 26 November (UTC), torques exact in binary. Douai: one an hour from
    /// 04:00 to 13:00. In November Paris is UTC+1: flins shifts start at 05:00, 13:00 and 21:00 UTC, douai's at
    /// 04:30 and 12:30.
    /// </summary>
    private async Task PushDay()
    {
        var day = At("2026-11-26T00:00:00Z");
        await Push("line1", Enumerable.Range(0, 72).Select(i => Screw(i, "ST0" + (1 + (i % 3)) + "0", day.AddMinutes(20 * i), 10 + (i % 8) * 0.5)));
        await Push("line2", Enumerable.Range(100, 10).Select(i => Screw(i, "ST010", day.AddHours(4 + i - 100), 20 + (i % 4) * 0.25)));
    }

    private static void SameBuckets(JsonElement a, JsonElement b, string query)
    {
        var x = a.GetProperty("buckets").EnumerateArray().ToList();
        var y = b.GetProperty("buckets").EnumerateArray().ToList();
        Assert.True(x.Count > 0, $"no bucket for {query}");
        Assert.Equal(x.Count, y.Count);
        for (var i = 0; i < x.Count; i++)
        {
            foreach (var p in x[i].EnumerateObject())
            {
                var other = y[i].GetProperty(p.Name);
                if (p.Name == "torque_avg")
                {
                    Assert.Equal(other.GetDouble(), p.Value.GetDouble(), 1e-9);
                }
                else
                {
                    Assert.True(p.Value.GetRawText() == other.GetRawText(), $"{query}: bucket {i} {p.Name} is {p.Value} from one source, {other} from the other");
                }
            }
        }
    }

    [Fact]
    public async Task Each_shift_bucket_is_one_shift_worked_with_its_start_name_and_plant()
    {
        await PushDay();

        var shifts = await Server.Get("/api/models/screwing/aggregate?bucket=shift&measures=count,torque:max");
        Assert.Equal("records", shifts.GetProperty("source").GetString());
        Assert.Equal(
            [
                "2026-11-25T12:30Z douai late 1", "2026-11-25T21:00Z flins night 15", "2026-11-26T04:30Z douai early 8",
                "2026-11-26T05:00Z flins morning 24", "2026-11-26T12:30Z douai late 1", "2026-11-26T13:00Z flins afternoon 24",
                "2026-11-26T21:00Z flins night 9",
            ],
            Rows(shifts, "plant", "shift", "count"));

        // Flins records go round torques of 10 to 13.5 every eight records, the night of the 25th holds the first 15.
        Assert.Equal(13.5, shifts.GetProperty("buckets")[1].GetProperty("torque_max").GetDouble());

        var ranged = await Server.Get("/api/models/screwing/aggregate?bucket=shift&plant=flins&from=2026-11-26T06:00:00Z&to=2026-11-26T14:00:00Z");
        Assert.Equal(["2026-11-26T05:00Z flins morning 21", "2026-11-26T13:00Z flins afternoon 3"], Rows(ranged, "plant", "shift", "count"));
    }

    [Fact]
    public async Task A_night_shift_over_the_change_to_summer_time_lasts_seven_hours()
    {
        // A record every 30 minutes from 20:00 UTC on 28 March 2026; the clocks of Paris go forward that night.
        var start = At("2026-03-28T20:00:00Z");
        await Push("line1", Enumerable.Range(0, 20).Select(i => Screw(i, "ST010", start.AddMinutes(30 * i), 10)));

        var shifts = await Server.Get("/api/models/screwing/aggregate?bucket=shift&plant=flins&source=records");

        // 22:00 winter time is 21:00 UTC; 06:00 summer time is 04:00 UTC.
        Assert.Equal(["2026-03-28T13:00Z afternoon 2", "2026-03-28T21:00Z night 14", "2026-03-29T04:00Z morning 4"], Rows(shifts, "shift", "count"));
    }

    [Fact]
    public async Task A_one_hour_rollup_serves_shifts_that_start_on_the_hour_with_the_figures_of_the_records()
    {
        await PushDay();
        const string measures = "count,torque:count,torque:sum,torque:avg,torque:min,torque:max";
        foreach (var query in new[]
        {
            $"bucket=shift&plant=flins&measures={measures}",
            $"bucket=shift&plant=flins&measures={measures}&by=station",
            $"bucket=shift&plant=flins&measures={measures}&by=plant&from=2026-11-26T05:00:00Z&to=2026-11-26T21:00:00Z",
            $"bucket=1d&plant=flins&measures={measures}&by=@shift",
            $"bucket=1h&plant=flins&measures={measures}&by=shift,station&where=station:eq:ST020",
        })
        {
            var rollup = await Server.Get("/api/models/screwing/aggregate?" + query);
            var records = await Server.Get("/api/models/screwing/aggregate?source=records&" + query);
            Assert.True(rollup.GetProperty("source").GetString() == "rollup:1h", $"{query} was served from {rollup.GetProperty("source")}");
            Assert.Equal("records", records.GetProperty("source").GetString());
            SameBuckets(rollup, records, query);
        }

        var byShift = await Server.Get("/api/models/screwing/aggregate?bucket=1d&plant=flins&by=@shift");
        Assert.Equal(["2026-11-26T00:00Z afternoon 24", "2026-11-26T00:00Z morning 24", "2026-11-26T00:00Z night 24"], Rows(byShift, "@shift", "count"));

        // Kept to a shift without grouping by it: the night's figures, from the rollup, the same as from the records.
        var night = $"bucket=1d&plant=flins&measures={measures}&by=station&where=@shift:eq:night";
        var nightRollup = await Server.Get("/api/models/screwing/aggregate?" + night);
        Assert.Equal("rollup:1h", nightRollup.GetProperty("source").GetString());
        SameBuckets(nightRollup, await Server.Get("/api/models/screwing/aggregate?source=records&" + night), night);
        Assert.Equal(24, Rows(nightRollup, "station", "count").Sum(r => int.Parse(r.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture)));
        var twoShifts = await Server.Get("/api/models/screwing/aggregate?bucket=1d&plant=flins&where=@shift:in:morning|night");
        Assert.Equal(["2026-11-26T00:00Z 48"], Rows(twoShifts, "count"));

        // Douai's shifts start on the half hour, inside the rollup's hours: the records serve them, and a
        // request for the rollup alone is refused.
        var douai = await Server.Get("/api/models/screwing/aggregate?bucket=shift&plant=douai&measures=count");
        Assert.Equal("records", douai.GetProperty("source").GetString());
        var refused = await Server.Get("/api/models/screwing/aggregate?bucket=shift&plant=douai&measures=count&source=rollup", HttpStatusCode.BadRequest);
        Assert.StartsWith("source: no rollup of model 'screwing' covers this request", refused.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Shift_requests_that_cannot_be_answered_say_why()
    {
        await PushDay();

        var lyon = await Server.Get("/api/models/screwing/aggregate?bucket=shift&plant=lyon", HttpStatusCode.BadRequest);
        Assert.StartsWith("plant: 'lyon' works no shift pattern", lyon.GetProperty("error").GetString(), StringComparison.Ordinal);
        var empty = await Server.Get("/api/models/screwing/aggregate?bucket=shift&from=2027-01-01T00:00:00Z");
        Assert.Equal(0, empty.GetProperty("buckets").GetArrayLength());

        // Without a range, the shifts of the data's own span are computed; a range too long for that is refused.
        var century = await Server.Get("/api/models/screwing/aggregate?bucket=shift&from=1990-01-01T00:00:00Z&to=2190-01-01T00:00:00Z", HttpStatusCode.BadRequest);
        Assert.StartsWith("from: the range holds more than 200000 shifts", century.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    /// <summary>Flins assembly L1 (two stations), flins body L2, a record with no context, and douai assembly L1.</summary>
    private async Task PushHierarchy()
    {
        var t = At("2026-11-26T08:00:00Z");
        await Push("line1", Enumerable.Range(0, 6).Select(i => Screw(i, i < 3 ? "ST010" : "ST020", t.AddMinutes(i), 10 + i)));
        await Push("body", Enumerable.Range(10, 2).Select(i => Screw(i, "ST010", t.AddMinutes(i), 20)));
        await Push("loose", [Screw(20, "ST030", t.AddMinutes(20), 30)]);
        await Push("line2", Enumerable.Range(30, 2).Select(i => Screw(i, "ST010", t.AddMinutes(i), 40)));
    }

    private async Task<List<string>> Levels(string by) =>
        Rows(await Server.Get($"/api/models/screwing/aggregate?bucket=1d&measures=count,torque:sum&by={by}"), by, "count", "torque_sum")
            .Select(r => r[(r.IndexOf(' ', StringComparison.Ordinal) + 1)..]).ToList();

    private static readonly string[] ByStation =
    [
        "douai/assembly/L1/ST010 2 80", "flins/assembly/L1/ST010 3 33", "flins/assembly/L1/ST020 3 42", "flins/body/L2/ST010 2 40", "- 1 30",
    ];

    [Fact]
    public async Task Records_group_by_the_station_line_and_shop_they_were_contextualized_at()
    {
        await PushHierarchy();

        // The levels kept as avatars were created, batch by batch, are those the hierarchy of the avatars gives.
        const string walked = """
            SELECT a.avatar_key, a.plant,
                CASE 'shop' WHEN a.type THEN a.id WHEN p1.type THEN p1.id WHEN p2.type THEN p2.id END,
                CASE 'line' WHEN a.type THEN a.id WHEN p1.type THEN p1.id END,
                CASE 'station' WHEN a.type THEN a.id END
            FROM avatars a LEFT JOIN avatars p1 ON p1.avatar_key = a.parent_key LEFT JOIN avatars p2 ON p2.avatar_key = p1.parent_key
            WHERE a.type IN ('shop', 'line', 'station')
            """;
        Assert.Equal(0, (await Server.Scalar($"SELECT count(*) FROM (SELECT * FROM avatar_levels EXCEPT {walked})")).GetInt64());
        Assert.Equal(0, (await Server.Scalar($"SELECT count(*) FROM ({walked} EXCEPT SELECT * FROM avatar_levels)")).GetInt64());
        Assert.Equal((await Server.Scalar("SELECT count(*) FROM avatars WHERE type IN ('shop', 'line', 'station')")).GetInt64(),
            (await Server.Scalar("SELECT count(*) FROM avatar_levels")).GetInt64());

        // A store written before the table existed (and before schema versions) gets the same levels at start.
        using (var conn = ((DuckDbStore)Server.Platform.Store).OpenReader())
        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "DROP TABLE avatar_levels; DROP TABLE schema_migrations";
            cmd.ExecuteNonQuery();
        }

        await _server!.DisposeAsync();
        _server = await ServerHarness.StartAsync(_dir, Yaml, _time);
        Assert.Equal(0, (await Server.Scalar($"SELECT count(*) FROM (SELECT * FROM avatar_levels EXCEPT {walked})")).GetInt64());
        Assert.Equal(0, (await Server.Scalar($"SELECT count(*) FROM ({walked} EXCEPT SELECT * FROM avatar_levels)")).GetInt64());

        Assert.Equal(ByStation, await Levels("@station"));
        Assert.Equal(["douai/assembly/L1 2 80", "flins/assembly/L1 6 75", "flins/body/L2 2 40", "- 1 30"], await Levels("@line"));
        Assert.Equal(["douai/assembly 2 80", "flins/assembly 6 75", "flins/body 2 40", "- 1 30"], await Levels("@shop"));

        // Without the @, 'line' and 'shop' name the levels, since the model has no such fields; 'station' is its field.
        Assert.Equal(await Levels("@line"), await Levels("line"));
        Assert.Equal(["ST010 7 153", "ST020 3 42", "ST030 1 30"], await Levels("station"));

        var both = await Server.Get("/api/models/screwing/aggregate?bucket=1d&by=plant,@shop&where=status:eq:OK");
        Assert.Equal("records", both.GetProperty("source").GetString());
        Assert.Equal(["2026-11-26T00:00Z douai douai/assembly 1", "2026-11-26T00:00Z flins flins/assembly 4", "2026-11-26T00:00Z flins flins/body 1"],
            Rows(both, "plant", "@shop", "count"));

        // Shifts and levels together: 08:00 UTC is in flins' morning shift (from 05:00) and douai's early one (from 04:30).
        var shifts = await Server.Get("/api/models/screwing/aggregate?bucket=shift&by=@line");
        Assert.Equal(
            ["2026-11-26T04:30Z douai early douai/assembly/L1 2", "2026-11-26T05:00Z flins morning flins/assembly/L1 6", "2026-11-26T05:00Z flins morning flins/body/L2 2", "2026-11-26T05:00Z flins morning - 1"],
            Rows(shifts, "plant", "shift", "@line", "count"));

        var refused = await Server.Get("/api/models/screwing/aggregate?bucket=1d&by=@station&source=rollup", HttpStatusCode.BadRequest);
        Assert.StartsWith("source: no rollup of model 'screwing' covers this request", refused.GetProperty("error").GetString(), StringComparison.Ordinal);

        // A rollup that keeps lines and shops serves them, grouped by or kept to, with the records' figures.
        foreach (var query in new[]
        {
            "bucket=1d&measures=count,torque:sum&by=@line",
            "bucket=1d&measures=count,torque:sum,torque:avg&by=plant,@shop",
            "bucket=1d&measures=count&by=@line&where=@shop:eq:flins/assembly",
            "bucket=1w&measures=torque:count&where=@line:in:flins/assembly/L1|flins/body/L2",
        })
        {
            var rollup = await Server.Get("/api/models/screwing/aggregate?" + query);
            Assert.True(rollup.GetProperty("source").GetString() == "rollup:lines_1d", $"{query} was served from {rollup.GetProperty("source")}");
            SameBuckets(rollup, await Server.Get("/api/models/screwing/aggregate?source=records&" + query), query);
        }

        Assert.Equal(["2026-11-23T00:00Z 8"], Rows(await Server.Get("/api/models/screwing/aggregate?bucket=1w&where=@line:in:flins/assembly/L1|flins/body/L2"), "count"));

        // Emptied by hand, the level rollup is rebuilt from the records with the same levels.
        var before = await Server.Get("/api/models/screwing/aggregate?bucket=1d&measures=count,torque:sum&by=@line");
        using (var conn = ((DuckDbStore)Server.Platform.Store).OpenReader())
        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "DELETE FROM r_screwing_lines_1d";
            Assert.Equal(4, cmd.ExecuteNonQuery());
        }

        Assert.Empty((await Server.Get("/api/models/screwing/aggregate?bucket=1d&measures=count,torque:sum&by=@line")).GetProperty("buckets").EnumerateArray());
        var rebuilt = await Server.Post("/api/rollups/rebuild", new { model = "screwing", from = "2026-11-26T00:00:00Z", to = "2026-11-27T00:00:00Z" });
        Assert.Contains(rebuilt.GetProperty("rollups").EnumerateArray(), r => r.GetProperty("rollup").GetString() == "lines_1d" && r.GetProperty("rowsAfter").GetInt64() == 4);
        Assert.Equal(before.GetRawText(), (await Server.Get("/api/models/screwing/aggregate?bucket=1d&measures=count,torque:sum&by=@line")).GetRawText());

        // Kept to levels of the hierarchy without grouping by them; records and exports have no such column.
        var l1 = await Server.Get("/api/models/screwing/aggregate?bucket=1d&by=plant&where=@line:like:%25/assembly/L1");
        Assert.Equal("records", l1.GetProperty("source").GetString());
        Assert.Equal(["2026-11-26T00:00Z douai 2", "2026-11-26T00:00Z flins 6"], Rows(l1, "plant", "count"));
        var assembly = await Server.Get("/api/models/screwing/aggregate?bucket=1d&where=@shop:eq:flins/assembly&where=@station:ne:flins/assembly/L1/ST010");
        Assert.Equal(["2026-11-26T00:00Z 3"], Rows(assembly, "count"));
        Assert.Equal(["2026-11-26T00:00Z 2"], Rows(await Server.Get("/api/models/screwing/aggregate?bucket=1d&where=@shop:eq:flins/body"), "count"));
        var records = await Server.Get("/api/models/screwing/records?where=@line:eq:flins/body/L2", HttpStatusCode.BadRequest);
        Assert.StartsWith("where: @line is derived from the shift calendar or the plant hierarchy", records.GetProperty("error").GetString(), StringComparison.Ordinal);
        var bay = await Server.Get("/api/models/screwing/aggregate?where=@bay:eq:B1", HttpStatusCode.BadRequest);
        Assert.StartsWith("where: '@bay' is not one of @shift, @shop, @line, @station", bay.GetProperty("error").GetString(), StringComparison.Ordinal);
        var unknown = await Server.Get("/api/models/screwing/aggregate?by=@bay", HttpStatusCode.BadRequest);
        Assert.StartsWith("by: '@bay' is not one of @shop, @line, @station", unknown.GetProperty("error").GetString(), StringComparison.Ordinal);

        // The plant scope holds for the hierarchy too.
        var flins = await Server.Platform.Store.Records.AggregateAsync(new AggregateQuery
        {
            Model = "screwing",
            Bucket = AggregateBucket.All.Single(b => b.Name == "1d"),
            Measures = [new AggregateMeasure(null, AggregateFunction.Count)],
            By = ["@line"],
        }, new HashSet<string> { "flins" }, default);
        Assert.Equal(["flins/assembly/L1", "flins/body/L2", null], flins.Buckets.Select(b => (string?)b["@line"]));
    }

    [Fact]
    public async Task Records_stored_before_they_kept_their_context_get_it_from_the_links_of_their_avatar()
    {
        await PushHierarchy();
        var records = await Server.Get("/api/models/screwing/records?limit=1");
        Assert.True(records.GetProperty("records")[0].GetProperty("context_key").GetInt64() > 0);

        // A store written before records kept context_key: the column is dropped while the platform is down.
        await Server.DisposeAsync();
        _server = null;
        using (var conn = new DuckDBConnection($"Data Source={Path.Combine(_dir, "data", "usine.duckdb")}"))
        {
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = "ALTER TABLE m_screwing DROP COLUMN context_key";
            cmd.ExecuteNonQuery();
        }

        _server = await ServerHarness.StartAsync(_dir, Yaml, _time);
        Assert.Equal(ByStation, await Levels("@station"));

        // New records keep theirs as before.
        await Push("body", [Screw(40, "ST020", At("2026-11-26T09:00:00Z"), 1)]);
        Assert.Contains("flins/body/L2/ST020 1 1", await Levels("@station"));
    }
}
