using System.Globalization;
using Usine.Connectors.Testing;

namespace Usine.Connectors.Mqtt.Tests;

/// <summary>The connector contract, kept by the MQTT connector against a mosquitto of the test's own, which it may kill.</summary>
public sealed class MqttConformanceTests(ITestOutputHelper output) : ConnectorConformance, IAsyncLifetime
{
    private MosquittoProcess _broker = null!;

    public async Task InitializeAsync() => _broker = await MosquittoProcess.StartAsync(output);

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    protected override SourceDefinition NewSource() =>
        TestSources.Mqtt(_broker.Url, TestSources.UniqueTopicRoot() + "/#", new Dictionary<string, string> { ["batchSize"] = BatchSize.ToString(CultureInfo.InvariantCulture) });

    // The receive maximum is the runner's buffer, and the broker keeps the rest.
    protected override SourceRunner Start(SourceDefinition source, ConformanceStore store)
    {
        var connector = new MqttSourceConnector(source, TestSources.FastOptions with { ReceiveMaximum = BufferCapacity }, new TestOutputLogger<MqttSourceConnector>(output));
        return new SourceRunner(connector, store, connector.RunnerOptions);
    }

    protected override async Task SendAsync(SourceDefinition source, int from, int count)
    {
        var topic = source.Settings["topic"].TrimEnd('#') + "x";
        await using var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = _broker.Url }, new TestOutputLogger<MqttPublisher>(output));
        for (var n = from; n < from + count; n++)
        {
            await publisher.PublishAsync(topic, TestSources.Payload(n));
        }
    }

    protected override async Task RestartPeerAsync(SourceDefinition source, SourceRunner running)
    {
        await _broker.KillAsync();
        await WaitUntilAsync(() => running.State == ConnectorState.Reconnecting, "the connector to notice the broker is gone", running);
        await _broker.RestartAsync();
    }
}
