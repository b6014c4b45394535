using System.Net.Http.Json;
using Usine.Tests.Api;

namespace Usine.Tests.Connectors;

/// <summary>A kind of source Core does not know, added from this test assembly with one registration line.</summary>
public sealed class MemoryConnectorTests : IAsyncLifetime
{
    private const string Source = """

          - id: memory-line1
            plant: flins
            kind: memory
            model: screwing
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
          - id: memory-batches
            plant: flins
            kind: memory
            format: batch
            model: screwing
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-memory-").FullName;
    private readonly MemoryPeers _peers = new();
    private ServerHarness _server = null!;

    public async Task InitializeAsync() =>
        _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml + Source, time: null,
            o => o with { StartConnectors = true, SourceKinds = [MemoryConnector.Registration(_peers) with { Formats = [new Pipeline.MultiMessageDecoderTests.BatchFormat()] }] });

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_source_of_a_kind_registered_from_outside_the_core_stores_its_records_and_acknowledges_them_after_the_commit()
    {
        var peer = _peers.For("memory-line1");
        var storedAtAcknowledgement = new List<long>();
        peer.Acknowledging = _ =>
        {
            lock (storedAtAcknowledgement)
            {
                storedAtAcknowledgement.Add(_server.Platform.Engine.Stats.GetValueOrDefault("memory-line1")?.Stored ?? 0);
            }
        };

        for (var i = 0; i < 5; i++)
        {
            peer.Send(Encoding.UTF8.GetBytes(TestDefinitions.Screwing(TestDefinitions.Vin1, $"ST{i}", "2026-11-26T08:15:00Z", 12 + i)));
        }

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (peer.Unacknowledged > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"expected the peer's 5 messages to be acknowledged within 30 s; {peer.Unacknowledged} are not, the source is {_server.Platform.SourceState(_server.Platform.Definitions.Sources["memory-line1"])}");
            await Task.Delay(20);
        }

        var count = await ServerHarness.Json(await _server.Http.PostAsJsonAsync("/api/sql", new { sql = "SELECT count(*) AS n FROM m_screwing WHERE source_id = 'memory-line1'" }), HttpStatusCode.OK);
        Assert.Equal(5, count.GetProperty("rows")[0][0].GetInt64());
        lock (storedAtAcknowledgement)
        {
            // Each acknowledgement came once its record was committed.
            Assert.Equal(5, storedAtAcknowledgement.Count);
            Assert.All(storedAtAcknowledgement.Select((stored, i) => (stored, i)), a => Assert.True(a.stored > a.i, $"acknowledgement {a.i + 1} came when {a.stored} records were stored"));
        }

        var source = await ServerHarness.Json(await _server.Http.GetAsync("/api/sources/memory-line1"), HttpStatusCode.OK);
        Assert.Equal("memory", source.GetProperty("kind").GetString());
        Assert.Equal("running", source.GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_format_the_kind_registers_decodes_its_payloads_into_many_records()
    {
        var peer = _peers.For("memory-batches");
        var items = string.Join(",", Enumerable.Range(0, 3).Select(i => TestDefinitions.Screwing(TestDefinitions.Vin1, $"ST{i}", "2026-11-26T08:15:00Z", 20 + i)));
        peer.Send(Encoding.UTF8.GetBytes($$"""{"items":[{{items}}]}"""));

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (peer.Unacknowledged > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "expected the batch to be acknowledged within 30 s");
            await Task.Delay(20);
        }

        var rows = await ServerHarness.Json(await _server.Http.PostAsJsonAsync("/api/sql", new { sql = "SELECT count(*) AS n, sum(torque) AS t FROM m_screwing WHERE source_id = 'memory-batches'" }), HttpStatusCode.OK);
        Assert.Equal(3, rows.GetProperty("rows")[0][0].GetInt64());
        Assert.Equal(63, rows.GetProperty("rows")[0][1].GetDouble());
    }
}
