using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Connectors.Mqtt;
using Usine.Simulator;
using Usine.Tests.Api;

namespace Usine.Tests.Operations;

/// <summary>
/// The demo's own set-up: the plant simulator publishing over MQTT to a broker, the demo's sources
/// subscribed to it. The simulator stops; on the platform's (fake) clock the silence alert of the
/// screwing source fires before twice its cadence, then resolves when the simulator publishes again. A
/// real webhook listener receives both events.
/// </summary>
public sealed class SimulatorSilenceTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-silence-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 23, 0, 0, TimeSpan.Zero));
    private EmbeddedMqttBroker _broker = null!;
    private WebhookReceiver _hook = null!;
    private WebApplication _app = null!;
    private PlatformServices _platform = null!;

    public async Task InitializeAsync()
    {
        _broker = new EmbeddedMqttBroker(new EmbeddedMqttBrokerOptions { Port = 0 });
        await _broker.StartAsync(CancellationToken.None);
        _hook = await WebhookReceiver.StartAsync();
        var config = DemoRunner.WriteDemoConfig(_dir);
        await File.AppendAllTextAsync(config, $"""

            alerts:
              notifiers:
                - {"{"} name: night, kind: webhook, url: "{_hook.Url}" {"}"}
              rules:
                - {"{"} name: silent, signal: silence, sources: [screwing], severity: critical {"}"}
            """);
        _app = ServerHarness.Build(new UsineOptions
        {
            ConfigPath = config,
            DataDirectory = Path.Combine(_dir, "data"),
            EvaluateAlerts = false,
        }, _time, [new(UsineServer.MqttSection + ":DefaultBroker", _broker.Address.ToString())]);
        await _app.StartAsync();
        _platform = new PlatformServices(_app.Services);
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _hook.DisposeAsync();
        await _broker.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Publishes <paramref name="count"/> messages with a fresh simulator and waits until the platform has committed all of them.</summary>
    private async Task PublishAsync(int count, int seed)
    {
        // QoS 1 messages published before a source subscribed are not for it: wait until every MQTT source runs.
        var mqtt = _platform.Definitions.Sources.Values.Where(s => s.Kind == "mqtt").ToList();
        var connected = DateTime.UtcNow.AddSeconds(60);
        while (mqtt.Any(s => _platform.SourceState(s).State != "running"))
        {
            Assert.True(DateTime.UtcNow < connected, "the MQTT sources did not connect within 60 s: "
                + string.Join(", ", mqtt.Select(s => $"{s.Id} {_platform.SourceState(s).State} {_platform.SourceState(s).LastError}")));
            await Task.Delay(50);
        }

        var before = Committed();
        var simulator = new PlantSimulator(new SimulatorOptions
        {
            BrokerUrl = _broker.Address,
            ClientId = "silence-test-" + seed,
            MessagesPerSecond = 2000,
            StopAfter = count,
            Seed = seed,
        });
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            await simulator.RunAsync(cts.Token);
        }

        Assert.Equal(count, simulator.Counters.Published);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (Committed() < before + count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the platform committed {Committed() - before} of the {count} messages published within 60 s");

            // The connectors close a batch after a window of 50 ms on the platform's clock.
            _time.Advance(TimeSpan.FromMilliseconds(50));
            await Task.Delay(20);
        }
    }

    private long Committed() => _platform.Engine.Stats.Values.Sum(s => s.Received);

    private async Task<JsonElement> NextEventOf(string source, string status)
    {
        while (true)
        {
            var d = await _hook.NextAsync($"the {status} event of source {source}");
            var e = JsonDocument.Parse(d.Body).RootElement;
            if (e.GetProperty("source").GetString() == source && e.GetProperty("status").GetString() == status)
            {
                return e;
            }
        }
    }

    [Fact]
    public async Task When_the_simulator_stops_the_screwing_source_alerts_within_twice_its_cadence_and_resolves_when_it_publishes_again()
    {
        await PublishAsync(300, seed: 1);
        Assert.True(_platform.Engine.Stats["screwing"].Received > 0, "the simulator published no screwing result");
        var cadence = _platform.Definitions.Sources["screwing"].ExpectEvery!.Value;

        // The simulator has stopped. Within its cadence, nothing fires.
        _time.Advance(cadence);
        await _platform.Alerting.EvaluateAsync(default);
        Assert.Empty(_platform.Alerting.Firing);

        // Before twice its cadence, the alert fires and the webhook gets it.
        _time.Advance(cadence * 0.75);
        await _platform.Alerting.EvaluateAsync(default);
        var firing = Assert.Single(_platform.Alerting.Firing);
        Assert.Equal(("silent", "screwing"), (firing.Rule, firing.Source));
        var fired = await NextEventOf("screwing", "firing");
        Assert.Equal("critical", fired.GetProperty("severity").GetString());

        // The simulator publishes again: the alert resolves and the webhook is told.
        await PublishAsync(100, seed: 2);
        await _platform.Alerting.EvaluateAsync(default);
        Assert.Empty(_platform.Alerting.Firing);
        await NextEventOf("screwing", "resolved");
        Assert.Equal(["resolved", "firing"], _platform.Alerting.History.Select(e => e.Status));
    }
}
