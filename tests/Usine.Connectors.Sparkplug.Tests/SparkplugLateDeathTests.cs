using System.Diagnostics;
using System.Text.Json;

namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>
/// bdSeq against real mosquitto: an NDEATH of an older session that arrives after the newer session's NBIRTH must not
/// mark the edge node offline. sparkplug-client always sends bdSeq 0, so these messages are published with hand-set
/// values by <c>tests/sparkplug-edge/publish.js</c> (sparkplug-payload's encoder, not Usine's).
/// </summary>
[Collection(SparkplugServicesCollection.Name)]
public sealed class SparkplugLateDeathTests(SparkplugServicesFixture services, ITestOutputHelper output)
{
    private async Task PublishAsync(string topic, object payload)
    {
        var info = new ProcessStartInfo("node")
        {
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(services.EdgeScript)!,
        };
        info.ArgumentList.Add("publish.js");
        info.ArgumentList.Add(services.Broker.ToString().TrimEnd('/'));
        info.ArgumentList.Add(topic);
        info.ArgumentList.Add(JsonSerializer.Serialize(payload));
        using var process = Process.Start(info) ?? throw new InvalidOperationException("node did not start");
        var error = await process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TestTimeouts.Default);
        await process.WaitForExitAsync(timeout.Token);
        output.WriteLine($"published {topic}: {JsonSerializer.Serialize(payload)}");
        Assert.True(process.ExitCode == 0, $"publish.js {topic} exited with {process.ExitCode}: {error}");
    }

    private static object Payload(ulong seq, ulong bdSeq, params object[] metrics) => new
    {
        timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        seq,
        metrics = (object[])[new { name = "bdSeq", type = "UInt64", value = bdSeq }, .. metrics],
    };

    [Fact]
    public async Task An_NDEATH_with_the_bdSeq_of_an_older_session_leaves_the_edge_node_online_and_the_one_of_its_session_takes_it_offline()
    {
        await using var platform = new SparkplugPlatform(services.Broker, output);
        await platform.StartAsync();
        var host = platform.Connector!.Host;
        var node = $"spBv1.0/{platform.Group}/{{0}}/E7";

        await PublishAsync(string.Format(node, "NBIRTH"), Payload(0, 5, new { name = "temp", alias = 1, type = "Double", value = 20.5 }));
        await TestTimeouts.Eventually(() => host.Node(platform.Group, "E7") is { Online: true, BdSeq: 5 }, "the edge node to be online with bdSeq 5 after its NBIRTH");

        // The will of the session before, delivered late: the broker sends it whenever the old connection is found dead.
        await PublishAsync(string.Format(node, "NDEATH"), Payload(0, 4));
        await TestTimeouts.Eventually(() => host.Counters.StaleDeaths == 1, "the NDEATH with bdSeq 4 to be seen and set aside", () => $"{host.Counters}");
        var alive = host.Node(platform.Group, "E7")!;
        Assert.True(alive.Online, $"an NDEATH of an older session must leave the node online, but it is offline ({alive.Reason})");
        Assert.Equal("NBIRTH", alive.Reason);
        Assert.Null(platform.Job.Detail);

        // Data of the live session still resolves through its birth.
        await PublishAsync(string.Format(node, "NDATA"), new { timestamp = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), seq = 1, metrics = new[] { new { alias = 1, type = "Double", value = 21.5 } } });
        await TestTimeouts.Eventually(() => platform.Records().Contains("temp=21.5"), "the data of the live session to be stored", () => string.Join(", ", platform.Records()));

        await PublishAsync(string.Format(node, "NDEATH"), Payload(0, 5));
        await TestTimeouts.Eventually(() => host.Node(platform.Group, "E7")?.Online == false, "the NDEATH with the session's own bdSeq 5 to take the node offline");
        var dead = host.Node(platform.Group, "E7")!;
        Assert.Equal("NDEATH (bdSeq 5)", dead.Reason);
        Assert.Equal(1, host.Counters.StaleDeaths);
        Assert.Equal($"1 of 1 edge node offline: {platform.Group}/E7 since {dead.Since:HH:mm:ss}Z (NDEATH (bdSeq 5))", platform.Job.Detail);
        Assert.Empty(platform.DeadLetters());
    }
}
