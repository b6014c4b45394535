using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Usine.Operations;
using Usine.Server;

namespace Usine.Tests.Api;

/// <summary>
/// Jobs, metrics and the status of a real platform served by Kestrel. The sources have ids of their own:
/// every platform of the test process shares the meter name, and these must not be confused with others.
/// </summary>
public sealed class OperationsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-ops-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private UsinePlatform _platform = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    private static readonly string Yaml = TestDefinitions.Yaml
        .Replace("- id: line1", "- id: ops-push", StringComparison.Ordinal)
        .Replace("- id: csv-line1", "- id: ops-csv", StringComparison.Ordinal)
        + """

          - id: ops-cadence
            plant: douai
            kind: http
            model: screwing
            expect: { every: 30s }
            context: { shop: assembly, line: L1, station: "{station}" }
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
        """;

    public async Task InitializeAsync()
    {
        var config = Path.Combine(_dir, "usine.yaml");
        await File.WriteAllTextAsync(config, Yaml);
        _platform = await UsinePlatform.StartAsync(new UsineServerOptions
        {
            ConfigPath = config,
            DataDirectory = Path.Combine(_dir, "data"),
            MemoryLimit = "256MB",
            StartConnectors = false,
            IdleAfter = TimeSpan.FromMinutes(2),
        }, NullLoggerFactory.Instance, time: _time);
        _app = UsineServer.Build(_platform, "http://127.0.0.1:0", logging: _ => { });
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static async Task<JsonElement> Json(HttpResponseMessage r, HttpStatusCode expected)
    {
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"expected {expected}, got {(int)r.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private async Task<JsonElement> Push(string source, params string[] messages) =>
        await Json(await _http.PostAsync($"/api/sources/{source}/messages", new StringContent(string.Join("\n", messages), Encoding.UTF8, "application/json")), HttpStatusCode.OK);

    private static string Good(int minute) => TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", $"2026-11-26T08:{minute:00}:00Z", 12);

    private static string OutOfRange(int minute) => TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", $"2026-11-26T08:{minute:00}:00Z", 999);

    private async Task<string> Metrics()
    {
        var r = await _http.GetAsync("/metrics");
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, $"GET /metrics answered {(int)r.StatusCode}: {body}");
        return body;
    }

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels include every one of <paramref name="labels"/>.</summary>
    private static double Sample(string metrics, string name, params (string Name, string Value)[] labels)
    {
        var matches = metrics.Split('\n')
            .Where(line => line.StartsWith(name + "{", StringComparison.Ordinal) && labels.All(l => line.Contains($"{l.Name}=\"{l.Value}\"", StringComparison.Ordinal)))
            .ToList();
        Assert.True(matches.Count == 1, $"expected one sample of {name} with {string.Join(", ", labels)}, found {matches.Count} in:\n{metrics}");
        var value = Regex.Match(matches[0], @"\}\s+(\S+)").Groups[1].Value;
        return double.Parse(value, NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Metrics_count_what_each_source_received_stored_and_rejected_and_sample_the_latency()
    {
        await Push("ops-push", Good(1), OutOfRange(2), Good(3));
        await Push("ops-push", Good(1));

        var metrics = await Metrics();
        (string, string)[] push = [("source", "ops-push"), ("plant", "flins")];
        Assert.Equal(4, Sample(metrics, "usine_source_received_total", push));
        Assert.Equal(2, Sample(metrics, "usine_source_stored_total", push));
        Assert.Equal(1, Sample(metrics, "usine_source_duplicates_total", push));
        Assert.Equal(1, Sample(metrics, "usine_source_rejected_total", push));
        Assert.True(Sample(metrics, "usine_source_received_size_bytes_total", push) > 300, "the payload bytes are counted");
        Assert.Equal(0, Sample(metrics, "usine_source_lag_seconds", push));
        Assert.Equal(2, Sample(metrics, "usine_ingest_latency_seconds_count", push));

        // A source that received nothing is there with zeros, so a rate or an absence can be computed.
        Assert.Equal(0, Sample(metrics, "usine_source_received_total", ("source", "ops-cadence"), ("plant", "douai")));
        Assert.Equal(1, Sample(metrics, "usine_job_state", ("job", "stream:ops-push"), ("state", "running")));
        Assert.Equal(0, Sample(metrics, "usine_job_state", ("job", "stream:ops-push"), ("state", "idle")));
    }

    [Fact]
    public async Task The_latency_histogram_puts_a_batch_in_the_bucket_of_its_oldest_message_age()
    {
        // Received 3 s before the commit: the push path stamps messages with the platform's clock, so the
        // engine is driven directly with an older receive time.
        var received = _time.GetUtcNow().UtcDateTime;
        _time.Advance(TimeSpan.FromSeconds(3));
        await _platform.Engine.IngestAsync(new Usine.Ingestion.IngestBatch
        {
            SourceId = "ops-push",
            StreamId = "test:ops-push",
            Messages = [new Usine.Pipeline.RawMessage(1, received, Encoding.UTF8.GetBytes(Good(5)))],
        }, CancellationToken.None);

        var metrics = await Metrics();
        (string, string)[] push = [("source", "ops-push")];
        Assert.Equal(0, Sample(metrics, "usine_ingest_latency_seconds_bucket", [.. push, ("le", "2.5")]));
        Assert.Equal(1, Sample(metrics, "usine_ingest_latency_seconds_bucket", [.. push, ("le", "5")]));
        Assert.Equal(3, Sample(metrics, "usine_ingest_latency_seconds_sum", push));
    }
}
