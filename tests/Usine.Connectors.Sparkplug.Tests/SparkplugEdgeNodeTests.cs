using System.Text;
using System.Text.Json;
using MQTTnet;

namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>
/// Usine as the primary host of a real Sparkplug B edge node (sparkplug-client on node), through mosquitto, the
/// engine and a DuckDB store.
/// </summary>
[Collection(SparkplugServicesCollection.Name)]
public sealed class SparkplugEdgeNodeTests(SparkplugServicesFixture services, ITestOutputHelper output)
{
    private static readonly string[] BirthRecords = ["temp=20", "count=0", "torque=0"];

    private async Task<EdgeNodeProcess> StartEdgeAsync(SparkplugPlatform platform, int births = 1)
    {
        var edge = EdgeNodeProcess.Start(services, platform.Group, "E1", output);
        await edge.WaitForAsync("births", births, "the edge node to publish its births");
        return edge;
    }

    [Fact]
    public async Task Births_then_data_with_aliases_only_are_stored_under_the_names_the_births_gave()
    {
        await using var platform = new SparkplugPlatform(services.Broker, output);
        await platform.StartAsync();
        await using var edge = await StartEdgeAsync(platform);

        await edge.SendAsync(new { cmd = "data", values = new { temp = 21.5, count = 3 } });
        await edge.SendAsync(new { cmd = "ddata", values = new { torque = 12.5 } });

        string[] expected = [.. BirthRecords, "temp=21.5", "count=3", "torque=12.5"];
        await TestTimeouts.Eventually(() => platform.Records().Count >= expected.Length, "the births and data to be stored", () => string.Join(", ", platform.Records()));
        Assert.Equal(expected, platform.Records());
        Assert.Equal(["robot"], platform.Store.Read("SELECT DISTINCT device FROM m_weld_metric WHERE device IS NOT NULL", r => r.GetString(0)));
        Assert.Empty(platform.DeadLetters());
        Assert.Equal(0, edge.RebirthRequests);
        var node = platform.Connector!.Host.Node(platform.Group, "E1")!;
        Assert.True(node.Online);
        Assert.True(node.Devices["robot"]);
    }

    [Fact]
    public async Task A_seq_gap_brings_exactly_one_rebirth_request_and_the_data_after_it_is_stored()
    {
        await using var platform = new SparkplugPlatform(services.Broker, output);
        await platform.StartAsync();
        await using var edge = await StartEdgeAsync(platform);
        await edge.SendAsync(new { cmd = "data", values = new { temp = 21.0 } });
        await TestTimeouts.Eventually(() => platform.Records().Contains("temp=21"), "the data before the gap to be stored");

        await edge.SendAsync(new { cmd = "skip", count = 2 });
        await edge.SendAsync(new { cmd = "data", values = new { temp = 22.0 } });
        await edge.WaitForAsync("births", 2, "the edge node to be born again after the host asked for it");
        await edge.SendAsync(new { cmd = "data", values = new { temp = 23.0 } });

        await TestTimeouts.Eventually(() => platform.Records().Contains("temp=23"), "the data after the rebirth to be stored", () => string.Join(", ", platform.Records()));
        Assert.Equal(1, edge.RebirthRequests);
        Assert.Equal((1L, 1L), (platform.Connector!.Host.Counters.SeqGaps, platform.Connector.Host.Counters.RebirthRequests));
        Assert.Equal(("running", "1 seq gap(s), 1 rebirth request(s)"), platform.Live!.Status);
        Assert.Equal([.. BirthRecords, "temp=21", "temp=22", .. BirthRecords, "temp=23"], platform.Records());
    }

    [Fact]
    public async Task A_killed_edge_node_is_offline_through_its_NDEATH_and_online_again_with_its_next_birth()
    {
        await using var platform = new SparkplugPlatform(services.Broker, output);
        await platform.StartAsync();
        var host = platform.Connector!.Host;
        var edge = await StartEdgeAsync(platform);
        await TestTimeouts.Eventually(() => host.Node(platform.Group, "E1")?.Online == true, "the edge node to be online after its NBIRTH");

        await edge.DisposeAsync();
        await TestTimeouts.Eventually(() => host.Node(platform.Group, "E1")?.Online == false, "the edge node to be offline after its NDEATH", () => host.Node(platform.Group, "E1")?.Reason ?? "none");
        var dead = host.Node(platform.Group, "E1")!;
        Assert.StartsWith("NDEATH (bdSeq ", dead.Reason, StringComparison.Ordinal);
        Assert.False(dead.Devices["robot"], "the devices of a dead edge node are offline too");
        Assert.Equal(("running", $"edge node {platform.Group}/E1 offline since {dead.Since:u} ({dead.Reason})"), platform.Live!.Status);

        await using var again = await StartEdgeAsync(platform);
        await TestTimeouts.Eventually(() => host.Node(platform.Group, "E1")?.Online == true, "the edge node to be online after its rebirth");
        await again.SendAsync(new { cmd = "data", values = new { temp = 30.0 } });
        await TestTimeouts.Eventually(() => platform.Records().Contains("temp=30"), "the data of the new session to be stored");
        Assert.Equal(0, host.Counters.StaleDeaths);
        Assert.Equal(("running", null), platform.Live!.Status);
    }

    [Fact]
    public async Task Usine_stopped_and_started_again_says_offline_then_online_and_loses_no_acknowledged_data()
    {
        await using var platform = new SparkplugPlatform(services.Broker, output);
        var states = new List<string>();
        using var observer = new MqttClientFactory().CreateMqttClient();
        observer.ApplicationMessageReceivedAsync += e =>
        {
            lock (states)
            {
                states.Add(Encoding.UTF8.GetString(e.ApplicationMessage.Payload));
            }

            return Task.CompletedTask;
        };
        await observer.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(services.Broker.Host, services.Broker.Port).Build());
        await observer.SubscribeAsync($"spBv1.0/STATE/{platform.HostId}");
        string[] States()
        {
            lock (states)
            {
                return [.. states];
            }
        }

        await platform.StartAsync();
        await using var edge = await StartEdgeAsync(platform);
        await edge.SendAsync(new { cmd = "data", values = new { temp = 1.0 } });
        await TestTimeouts.Eventually(() => platform.Records().Contains("temp=1"), "the data before the stop to be stored");

        await platform.StopAsync();
        await TestTimeouts.Eventually(() => States().Length >= 2, "the STATE to say offline once Usine stopped", () => string.Join(" | ", States()));

        // While Usine is away, the edge node goes on publishing with QoS 1 (names, no aliases): the broker keeps it for Usine's session.
        await edge.SendAsync(new { cmd = "named", values = new { temp = 2.0 }, qos = 1 });
        await edge.WaitForAsync("published", 2, "the broker to take the message published while Usine is away");

        await platform.StartAsync();
        await TestTimeouts.Eventually(() => States().Length >= 3, "the STATE to say online once Usine is back", () => string.Join(" | ", States()));
        await TestTimeouts.Eventually(() => platform.Records().Contains("temp=2"), "the message kept by the broker to be stored after the restart", () => string.Join(", ", platform.Records()));

        // The host restarted with no births in memory: the data made it ask for a rebirth, and aliases resolve again.
        await edge.WaitForAsync("births", 2, "the edge node to be born again for the restarted host");
        await edge.SendAsync(new { cmd = "data", values = new { temp = 3.0 } });
        await TestTimeouts.Eventually(() => platform.Records().Contains("temp=3"), "data with aliases after the rebirth to be stored", () => string.Join(", ", platform.Records()));

        var seen = States().Select(s => JsonDocument.Parse(s).RootElement).ToList();
        Assert.Equal([true, false, true], seen.Take(3).Select(s => s.GetProperty("online").GetBoolean()));
        Assert.Equal(seen[0].GetProperty("timestamp").GetInt64(), seen[1].GetProperty("timestamp").GetInt64());
        Assert.True(seen[2].GetProperty("timestamp").GetInt64() > seen[1].GetProperty("timestamp").GetInt64(), "a new session says online with a new timestamp");
        Assert.Equal([.. BirthRecords, "temp=1", "temp=2", .. BirthRecords, "temp=3"], platform.Records());
        Assert.Equal(platform.Records().Count, (int)platform.Store.Count("SELECT count(DISTINCT (raw_position, raw_index)) FROM m_weld_metric"));
        Assert.Empty(platform.DeadLetters());
    }

    [Fact]
    public async Task A_payload_that_is_not_protobuf_is_a_dead_letter_and_the_edge_node_goes_on()
    {
        await using var platform = new SparkplugPlatform(services.Broker, output);
        await platform.StartAsync();
        await using var edge = await StartEdgeAsync(platform);

        await edge.SendAsync(new { cmd = "raw", topic = $"spBv1.0/{platform.Group}/NDATA/E1", base64 = Convert.ToBase64String("{\"temp\":1}"u8.ToArray()) });
        await edge.SendAsync(new { cmd = "data", values = new { temp = 5.0 } });

        await TestTimeouts.Eventually(() => platform.DeadLetters().Count == 1 && platform.Records().Contains("temp=5"), "one dead letter and the next data stored", () => string.Join(", ", platform.DeadLetters()));
        Assert.StartsWith("decode: the payload of NDATA from " + platform.Group + "/E1 is not a Sparkplug B protobuf payload", platform.DeadLetters()[0], StringComparison.Ordinal);
        Assert.Equal(1, platform.Connector!.Host.Counters.Malformed);
    }

    [Fact]
    public async Task A_historical_metric_is_stored_at_its_own_time_and_counted_in_that_hours_rollup()
    {
        await using var platform = new SparkplugPlatform(services.Broker, output);
        await platform.StartAsync();
        await using var edge = await StartEdgeAsync(platform);
        var hourAgo = DateTimeOffset.UtcNow.AddHours(-3);
        var bucket = new DateTime(hourAgo.Year, hourAgo.Month, hourAgo.Day, hourAgo.Hour, 0, 0, DateTimeKind.Utc);

        await edge.SendAsync(new { cmd = "historical", values = new { temp = 17.0 }, timestamp = hourAgo.ToUnixTimeMilliseconds() });
        await TestTimeouts.Eventually(() => platform.Records().Contains("temp=17"), "the historical metric to be stored");

        Assert.Equal([true], platform.Store.Read("SELECT historical FROM m_weld_metric WHERE value = 17", r => r.GetBoolean(0)));
        Assert.Equal(hourAgo.ToUnixTimeMilliseconds(), platform.Store.Read("SELECT epoch_ms(ts) FROM m_weld_metric WHERE value = 17", r => r.GetInt64(0)).Single());
        Assert.Equal(1, platform.Store.Count("SELECT n FROM r_weld_metric_1h WHERE tag = 'temp' AND bucket = CAST($1 AS TIMESTAMP)", bucket));
    }
}
