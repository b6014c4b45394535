using Usine.Tests.Api;
using static Usine.Tests.TestDefinitions;

namespace Usine.Tests.Operations;

/// <summary>Rollups rebuilt from the records: the repair after records were lost and replayed.</summary>
public sealed class RollupRebuildTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-rollups-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness _server = null!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync(_dir, Yaml, _time);

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<string> Rollup() =>
        (await _server.Post("/api/sql", new { sql = "SELECT bucket, station, n, torque_count, torque_sum, torque_min, torque_max FROM r_screwing_1h ORDER BY ALL" }))
            .GetProperty("rows").GetRawText();

    private async Task<long> Scalar(string sql) =>
        (await _server.Post("/api/sql", new { sql })).GetProperty("rows")[0][0].GetInt64();

    [Fact]
    public async Task Records_deleted_then_replayed_count_twice_in_their_rollups_until_the_rollups_are_rebuilt()
    {
        await _server.Push("line1", string.Join("\n",
            Screwing(Vin1, "ST040", "2026-11-26T07:15:00Z", 12),
            Screwing(Vin2, "ST040", "2026-11-26T07:16:00Z", 13),
            Screwing(Vin1, "ST050", "2026-11-26T08:25:00Z", 15),
            Screwing(Vin2, "ST050", "2026-11-26T08:26:00Z", 17)));
        var good = await Rollup();

        using (var conn = ((DuckDbStore)_server.Platform.Store).OpenReader())
        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = $"DELETE FROM m_screwing WHERE vin = '{Vin2}'";
            Assert.Equal(2, cmd.ExecuteNonQuery());
        }

        await _server.Post("/api/replay", new { source = "line1", from = "2026-11-26T09:00:00Z", to = "2026-11-26T11:00:00Z" });
        Assert.Equal(4, await Scalar("SELECT count(*) FROM m_screwing"));
        Assert.Equal(6, await Scalar("SELECT sum(n) FROM r_screwing_1h"));

        var rebuilt = await _server.Post("/api/rollups/rebuild", new { model = "screwing", from = "2026-11-26T07:30:00Z", to = "2026-11-26T08:30:00Z" });

        var r = Assert.Single(rebuilt.GetProperty("rollups").EnumerateArray());
        Assert.Equal(("2026-11-26T07:00:00Z", "2026-11-26T09:00:00Z"), (r.GetProperty("from").GetDateTime().ToString("yyyy-MM-ddTHH:mm:ssZ"), r.GetProperty("to").GetDateTime().ToString("yyyy-MM-ddTHH:mm:ssZ")));
        Assert.Equal(good, await Rollup());
        Assert.Equal(4, await Scalar("SELECT sum(n) FROM r_screwing_1h"));
        Assert.Equal(1, await Scalar("SELECT count(*) FROM audit_log WHERE action = 'rollups.rebuild'"));
    }

    [Theory]
    [InlineData("{\"from\":\"1h\",\"to\":\"now\"}", 400, "the model is missing")]
    [InlineData("{\"model\":\"nope\",\"from\":\"1h\",\"to\":\"now\"}", 404, "unknown model 'nope'")]
    [InlineData("{\"model\":\"screwing\",\"from\":\"1h\"}", 400, "from and to are both needed")]
    [InlineData("{\"model\":\"screwing\",\"from\":\"soon\",\"to\":\"now\"}", 400, "from 'soon' is not a time")]
    [InlineData("{\"model\":\"screwing\",\"from\":\"now\",\"to\":\"2h\"}", 400, "must be after from")]
    public async Task A_bad_rebuild_request_says_what_to_fix(string body, int status, string message)
    {
        var response = await _server.Http.PostAsync("/api/rollups/rebuild", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var json = await ServerHarness.Json(response, (HttpStatusCode)status);
        Assert.Contains(message, json.GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
