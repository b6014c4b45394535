using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Tests.Api;

namespace Usine.Tests.Operations;

/// <summary>Reconciliation through the API of a real platform: hourly counts, file counts and sequence gaps.</summary>
public sealed class ReconcileTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-reconcile-").FullName;
    private ServerHarness _server = null!;
    private HttpClient _http = null!;
    private PlatformServices _platform = null!;

    private const string MachineModel = """

          - name: cycle
            time: ts
            key: [machine, seq]
            avatar: { type: machine, id: "{machine}" }
            sequence: { field: seq, by: [machine] }
            fields:
              machine: { type: string, required: true }
              seq:     { type: int, required: true }
              ts:      { type: timestamp, required: true }
              seconds: { type: double, min: 0 }
        """;

    private const string MachineSource = """

          - id: cycles
            plant: douai
            kind: http
            model: cycle
        """;

    public async Task InitializeAsync()
    {
        var yaml = TestDefinitions.Yaml.Replace("sources:\n", MachineModel.TrimStart('\r', '\n') + "\nsources:\n", StringComparison.Ordinal) + MachineSource;
        _server = await ServerHarness.StartAsync(_dir, yaml, null, o => o with { ArchiveTimeOfDay = TimeSpan.FromMinutes(30), EvaluateAlerts = false }, actor: null);
        (_http, _platform) = (_server.Http, _server.Platform);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Range => $"from={Uri.EscapeDataString(DateTime.UtcNow.AddHours(-2).ToString("O"))}&to={Uri.EscapeDataString(DateTime.UtcNow.AddHours(2).ToString("O"))}";

    private async Task<JsonElement> Reconcile(string source)
    {
        var r = await _http.GetAsync($"/api/reconcile?source={source}&{Range}");
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, body);
        return JsonDocument.Parse(body).RootElement;
    }

    private async Task<JsonElement> Import(string source, string name, string content, long? expectedCount)
    {
        var url = $"/api/sources/{source}/import?name={name}" + (expectedCount is { } n ? $"&expectedCount={n}" : "");
        var r = await _http.PostAsync(url, new StringContent(content, Encoding.UTF8, "application/x-ndjson"));
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, body);
        return JsonDocument.Parse(body).RootElement;
    }

    /// <summary>
    /// An event time in the hour before the current one: always inside the reconcile window, whatever the
    /// date and the minute the test runs at.
    /// </summary>
    private static string LastHour(int minute)
    {
        var now = DateTime.UtcNow;
        var hour = new DateTime(now.Year, now.Month, now.Day, now.Hour, 0, 0, DateTimeKind.Utc).AddHours(-1);
        return hour.AddMinutes(minute).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Lines(params string[] lines) => string.Join('\n', lines) + "\n";

    [Fact]
    public async Task What_landed_is_accounted_for_hour_by_hour_and_matches_the_tables()
    {
        await Import("line1", "good.ndjson", Lines(
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST010", "2026-11-26T08:00:00Z", 12),
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST020", "2026-11-26T08:01:00Z", 13),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST010", "2026-11-26T08:02:00Z", 999),
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST010", "2026-11-26T08:00:00Z", 12)), expectedCount: 4);

        var r = await Reconcile("line1");

        Assert.True(r.GetProperty("consistent").GetBoolean(), r.ToString());
        var totals = r.GetProperty("totals");
        Assert.Equal((4, 2, 1, 1), (totals.GetProperty("landed").GetInt64(), totals.GetProperty("stored").GetInt64(),
            totals.GetProperty("duplicates").GetInt64(), totals.GetProperty("rejected").GetInt64()));
        var hour = Assert.Single(r.GetProperty("hours").EnumerateArray());
        Assert.Equal((2, 1), (hour.GetProperty("recordsFound").GetInt64(), hour.GetProperty("deadLettersFound").GetInt64()));
        var file = Assert.Single(r.GetProperty("files").EnumerateArray());
        Assert.Equal(("good.ndjson", 4, 4, 4), (file.GetProperty("name").GetString(), file.GetProperty("declared").GetInt64(),
            file.GetProperty("lines").GetInt64(), file.GetProperty("landed").GetInt64()));
    }

    [Fact]
    public async Task A_file_short_of_its_declared_count_is_a_mismatch()
    {
        await Import("line1", "short.ndjson", Lines(
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST010", "2026-11-26T09:00:00Z", 12),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST010", "2026-11-26T09:01:00Z", 14)), expectedCount: 3);

        var r = await Reconcile("line1");

        Assert.False(r.GetProperty("consistent").GetBoolean());
        Assert.Contains("file short.ndjson: declares 3 lines but has 2", r.GetProperty("mismatches").EnumerateArray().Select(m => m.GetString()));
    }

    [Fact]
    public async Task Records_missing_from_a_table_after_they_were_stored_are_reported()
    {
        await Import("line1", "a.ndjson", Lines(
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST010", "2026-11-26T10:00:00Z", 12),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST010", "2026-11-26T10:01:00Z", 14)), expectedCount: null);
        using (var conn = ((DuckDbStore)_platform.Store).OpenReader())
        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "DELETE FROM m_screwing WHERE vin = '" + TestDefinitions.Vin2 + "'";
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }

        var r = await Reconcile("line1");

        Assert.False(r.GetProperty("consistent").GetBoolean());
        Assert.Contains(r.GetProperty("mismatches").EnumerateArray(), m => m.GetString()!.EndsWith("2 records stored but 1 in table m_screwing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_gap_in_a_machine_sequence_is_reported_with_what_is_missing()
    {
        static string Cycle(string machine, int seq, int minute) =>
            $"{{\"machine\":\"{machine}\",\"seq\":{seq},\"ts\":\"{LastHour(minute)}\",\"seconds\":61.5}}";
        var body = "[" + string.Join(',', Cycle("M1", 1, 1), Cycle("M1", 2, 2), Cycle("M1", 3, 3), Cycle("M1", 6, 6), Cycle("M2", 1, 1), Cycle("M2", 2, 2)) + "]";
        var push = await _http.PostAsync("/api/sources/cycles/messages", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, push.StatusCode);

        var r = await Reconcile("cycles");

        Assert.False(r.GetProperty("consistent").GetBoolean());
        var gap = Assert.Single(r.GetProperty("gaps").EnumerateArray());
        Assert.Equal(("douai/M1", 3, 6, 2), (gap.GetProperty("scope").GetString(), gap.GetProperty("after").GetInt64(),
            gap.GetProperty("before").GetInt64(), gap.GetProperty("missing").GetInt64()));
        Assert.Contains("2 messages missing from sequence 'seq' in 1 gap(s)", r.GetProperty("mismatches").EnumerateArray().Select(m => m.GetString()));
    }

    [Fact]
    public async Task One_pass_over_every_source_finds_what_each_source_alone_finds()
    {
        // Three kinds of mismatch at once: records deleted from line1, a file short of its count in csv-line1
        // (none here, it stays consistent), and a sequence gap in cycles.
        await Import("line1", "a.ndjson", Lines(
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST010", "2026-11-26T10:00:00Z", 12),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST010", "2026-11-26T10:01:00Z", 14)), expectedCount: 3);
        using (var conn = ((DuckDbStore)_platform.Store).OpenReader())
        using (var cmd = conn.CreateCommand())
        {
            cmd.CommandText = "DELETE FROM m_screwing WHERE vin = '" + TestDefinitions.Vin2 + "'";
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }

        var body = "[" + string.Join(',', Enumerable.Range(1, 9).Where(i => i != 4).Select(i =>
            $"{{\"machine\":\"M1\",\"seq\":{i},\"ts\":\"{LastHour(i)}\"}}")) + "]";
        Assert.Equal(HttpStatusCode.OK, (await _http.PostAsync("/api/sources/cycles/messages", new StringContent(body, Encoding.UTF8, "application/json"))).StatusCode);

        var from = DateTime.UtcNow.AddDays(-1);
        var to = DateTime.UtcNow.AddHours(1);
        var sources = _platform.Definitions.Sources.Values.ToList();
        var all = _platform.Store.Operations.ReconcileAll(sources, from, to);
        Assert.Equal(sources.Select(s => s.Id).Order(StringComparer.Ordinal), all.Keys.Order(StringComparer.Ordinal));
        foreach (var source in sources)
        {
            var alone = _platform.Store.Operations.Reconcile(source, from, to, 0);
            Assert.Equal(alone.Mismatches, all[source.Id].Mismatches);
            Assert.Equal(alone.Hours.Select(h => (h.Hour, h.Landed, h.Stored, h.RecordsFound, h.DeadLettersFound)),
                all[source.Id].Hours.Select(h => (h.Hour, h.Landed, h.Stored, h.RecordsFound, h.DeadLettersFound)));
            Assert.Equal(alone.Gaps, all[source.Id].Gaps);
            Assert.Equal(alone.Files.Select(f => (f.Stream, f.Lines, f.Landed)), all[source.Id].Files.Select(f => (f.Stream, f.Lines, f.Landed)));
        }

        Assert.Contains(all["line1"].Mismatches, m => m.EndsWith("2 records stored but 1 in table m_screwing", StringComparison.Ordinal));
        Assert.Contains(all["line1"].Mismatches, m => m.EndsWith("declares 3 lines but has 2", StringComparison.Ordinal));
        Assert.Contains("1 messages missing from sequence 'seq' in 1 gap(s)", all["cycles"].Mismatches);
        Assert.Empty(all["csv-line1"].Mismatches);
    }

    [Theory]
    [InlineData("/api/reconcile", 400, "source is missing")]
    [InlineData("/api/reconcile?source=nope", 404, "no source with id 'nope'")]
    [InlineData("/api/reconcile?source=line1&from=yesterday", 400, "from 'yesterday' is not a time")]
    [InlineData("/api/reconcile?source=line1&from=-1h&to=-2h", 400, "must be after from")]
    public async Task A_bad_reconcile_request_says_what_to_fix(string url, int status, string message)
    {
        var r = await _http.GetAsync(url);
        Assert.Equal(status, (int)r.StatusCode);
        Assert.Contains(message, (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString(), StringComparison.Ordinal);
    }
}
