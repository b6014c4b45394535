using System.Net.Http.Json;
using Usine.Connectors.Testing;
using Usine.Tests.Api;
using Xunit.Abstractions;

namespace Usine.Tests.Connectors;

/// <summary>An opcua source run by the platform, as <c>usine serve</c> composes it, against the node-opcua test server.</summary>
public sealed class OpcUaPlatformTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-opcua-").FullName;
    private OpcUaServerProcess _opcua = null!;
    private ServerHarness _server = null!;

    public async Task InitializeAsync()
    {
        _opcua = await OpcUaServerProcess.StartAsync(output, periodMs: 200);
        var yaml = $$"""
            models:
              - name: oven_value
                time: ts
                key: [tag, ts]
                fields:
                  tag:     { type: string, required: true }
                  ts:      { type: timestamp, required: true }
                  value:   { type: double }
                  quality: { type: string, enum: [Good, Uncertain, Bad] }
            sources:
              - id: paint-ovens
                kind: opcua
                plant: douai
                model: oven_value
                settings:
                  endpoint: {{_opcua.Endpoint}}
                  publishingInterval: 200ms
                  samplingInterval: 100ms
                  nodes:
                    - browse: "Objects/PaintShop/*/Temperature"
                    - id: "ns=1;s=Oven2.Counter"
                map: { tag: "$.browsePath", value: "$.value", quality: "$.status", ts: "$.sourceTimestamp" }
            """;
        _server = await ServerHarness.StartAsync(_dir, yaml, time: null, o => o with { StartConnectors = true });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _opcua.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Data_changes_of_the_documented_example_become_records_of_its_model_through_the_ordinary_pipeline()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        long tags;
        do
        {
            Assert.True(DateTime.UtcNow < deadline, "expected records of the four subscribed variables within 30 s");
            await Task.Delay(100);
            var result = await ServerHarness.Json(await _server.Http.PostAsJsonAsync("/api/sql", new { sql = "SELECT count(DISTINCT tag) FROM m_oven_value WHERE source_id = 'paint-ovens'" }), HttpStatusCode.OK);
            tags = result.GetProperty("rows")[0][0].GetInt64();
        }
        while (tags < 4);

        var rows = await ServerHarness.Json(await _server.Http.PostAsJsonAsync("/api/sql", new { sql = "SELECT tag, quality, value FROM m_oven_value WHERE tag = 'Objects/PaintShop/Oven1/Temperature' LIMIT 1" }), HttpStatusCode.OK);
        var row = rows.GetProperty("rows")[0];
        Assert.Equal("Good", row[1].GetString());
        Assert.InRange(row[2].GetDouble(), 170, 190);

        var counter = await ServerHarness.Json(await _server.Http.PostAsJsonAsync("/api/sql", new { sql = "SELECT count(*) FROM m_oven_value WHERE tag = 'ns=1;s=Oven2.Counter'" }), HttpStatusCode.OK);
        Assert.True(counter.GetProperty("rows")[0][0].GetInt64() >= 1);

        var source = await ServerHarness.Json(await _server.Http.GetAsync("/api/sources/paint-ovens"), HttpStatusCode.OK);
        Assert.Equal("opcua", source.GetProperty("kind").GetString());
        Assert.Equal("running", source.GetProperty("state").GetString());
    }
}
