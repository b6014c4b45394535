using System.Buffers;
using MQTTnet;
using MQTTnet.Formatter;

namespace Usine.Connectors.Mqtt.Tests;

public sealed class EmbeddedMqttBrokerTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_embedded_broker_accepts_a_subscription_and_delivers_a_publish_to_it()
    {
        await using var broker = new EmbeddedMqttBroker(new EmbeddedMqttBrokerOptions { Port = 0 });
        await broker.StartAsync();
        Assert.True(broker.IsRunning);
        Assert.NotEqual(0, broker.Port);
        Assert.Equal(new Uri($"mqtt://127.0.0.1:{broker.Port}"), broker.Address);

        using var subscriber = new MqttClientFactory().CreateMqttClient();
        var delivered = new TaskCompletionSource<(string Topic, byte[] Payload)>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            delivered.TrySetResult((e.ApplicationMessage.Topic, e.ApplicationMessage.Payload.ToArray()));
            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithProtocolVersion(MqttProtocolVersion.V500).Build());
        var subscribed = await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("plant/+/state", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, Assert.Single(subscribed.Items).ResultCode);

        await using (var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = broker.Address }))
        {
            await publisher.PublishAsync("plant/press1/state", """{"state":"RUN"}""");
            Assert.Equal(1, publisher.Published);
        }

        var (topic, payload) = await delivered.Task.WaitAsync(TestTimeouts.Default);
        Assert.Equal("plant/press1/state", topic);
        Assert.Equal("""{"state":"RUN"}"""u8.ToArray(), payload);
        Assert.Equal(0, broker.DroppedMessages);

        await broker.StopAsync();
        Assert.False(broker.IsRunning);
    }

    [Fact]
    public async Task A_connector_on_the_embedded_broker_ingests_and_acknowledges_what_is_published_and_resumes_its_session()
    {
        const int count = 300;
        await using var broker = new EmbeddedMqttBroker(new EmbeddedMqttBrokerOptions { Port = 0 });
        await broker.StartAsync();
        var source = TestSources.Mqtt(broker.Address, "usine/+/+/screwing");
        var ingestor = new RecordingIngestor();
        await using var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = broker.Address });

        await using (var running = new RunningConnector(TestSources.Runner(source, ingestor, TestSources.FastOptions, new TestOutputLogger<MqttSourceConnector>(output))))
        {
            await running.WaitUntilRunningAsync();
            await Task.WhenAll(Enumerable.Range(0, count).Select(i => publisher.PublishAsync($"usine/flins/st{i % 7}/screwing", TestSources.Payload(i))));
            await ingestor.WaitForCommittedAsync(count, "every message published through the embedded broker");
            await running.StopAsync();
            Assert.Equal(count, running.Connector.Acknowledged);
        }

        await publisher.PublishAsync("usine/flins/st0/screwing", TestSources.Payload(count));
        await using (var again = new RunningConnector(TestSources.Runner(source, ingestor, TestSources.FastOptions, new TestOutputLogger<MqttSourceConnector>(output))))
        {
            await ingestor.WaitForCommittedAsync(count + 1, "the message the embedded broker kept while the connector was stopped");
            await again.StopAsync();
        }

        // Concurrent publishes may interleave, so order is checked by position, content as a set.
        var committed = ingestor.Committed;
        Assert.Equal(Enumerable.Range(0, count + 1), committed.Select(TestSources.N).Order());
        Assert.Equal(Enumerable.Range(1, count + 1).Select(p => (long)p), committed.Select(m => m.Position));
        Assert.Equal(count, committed[^1].Position - 1);
        Assert.Equal(0, broker.DroppedMessages);
    }
}
