using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using MQTTnet;
using MQTTnet.Server;

namespace Usine.Simulator.Tests;

/// <summary>The simulator against a real MQTT broker: the MQTTnet server the demo embeds, on a loopback port.</summary>
public sealed class BrokerTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private readonly string _drop = Path.Combine(Path.GetTempPath(), "usine-sim-" + Guid.NewGuid().ToString("N"));
    private MqttServer _server = null!;
    private int _port;

    public async Task InitializeAsync()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        _port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        _server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(_port).Build());
        await _server.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.StopAsync();
        _server.Dispose();
        if (Directory.Exists(_drop))
        {
            Directory.Delete(_drop, recursive: true);
        }
    }

    [Fact]
    public async Task RunAsync_publishes_every_message_at_least_once_and_drops_whole_energy_files()
    {
        const int count = 1500;
        var received = new ConcurrentQueue<(string Topic, byte[] Payload)>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var subscriber = new MqttClientFactory().CreateMqttClient();
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            received.Enqueue((e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray()));
            if (received.Count >= count)
            {
                all.TrySetResult();
            }

            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", _port).WithClientId("test-subscriber").Build());
        await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("usine/#", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());

        var options = new SimulatorOptions
        {
            BrokerUrl = new Uri($"mqtt://127.0.0.1:{_port}"),
            DropDirectory = _drop,
            EnergyInterval = TimeSpan.FromSeconds(1),
            MessagesPerSecond = 1000,
            Seed = 31,
            StopAfter = count,
        };
        var sim = new PlantSimulator(options);
        await sim.RunAsync(CancellationToken.None).WaitAsync(Timeout);
        await all.Task.WaitAsync(Timeout);

        Assert.Equal(count, sim.Counters.Published);
        Assert.Equal(count, sim.Counters.Generated);
        Assert.Equal(0, sim.Counters.PublishFailures);

        // The broker delivered what a broker-less simulator with the same seed generates (timestamps aside).
        var twin = new PlantSimulator(options with { DropDirectory = null }, new FakeTimeProvider(sim.StartTime!.Value)).Generate(count);
        Assert.Equal(twin.Select(m => m.Topic).Order(StringComparer.Ordinal), received.Select(r => r.Topic).Order(StringComparer.Ordinal));
        var parsed = received.Count(r => IsJson(r.Payload));
        Assert.Equal(count - sim.Counters.BadMessagesOf(BadKind.Malformed), parsed);

        // Event times are simulated (start + n / rate), so even the bytes are the same.
        Assert.Equal(twin.Select(m => Convert.ToBase64String(m.Payload)).Order(StringComparer.Ordinal), received.Select(r => Convert.ToBase64String(r.Payload)).Order(StringComparer.Ordinal));

        // Files appear whole under their .csv name; temporary names never stay behind.
        var files = Directory.GetFiles(_drop);
        Assert.Equal(sim.Counters.EnergyFiles, files.Length);
        // 1500 messages at 1000/s take 1.5 s at least: the file due after 1 s was written, more if the machine was slow.
        Assert.NotEmpty(files);
        Assert.All(files, f =>
        {
            Assert.EndsWith(".csv", f, StringComparison.Ordinal);
            var lines = File.ReadAllLines(f);
            Assert.Equal(EnergyFile.Header, lines[0]);
        });
    }

    [Fact]
    public async Task RunAsync_waits_for_a_broker_that_is_not_there_until_cancelled()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var sim = new PlantSimulator(new SimulatorOptions { BrokerUrl = new Uri("mqtt://127.0.0.1:1"), StopAfter = 10 }, time);
        using var cts = new CancellationTokenSource();
        var run = sim.RunAsync(cts.Token);
        Assert.False(run.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(Timeout));
        Assert.Equal(0, sim.Counters.Published);
    }

    private static bool IsJson(byte[] payload)
    {
        try
        {
            using var _ = JsonDocument.Parse(payload);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
