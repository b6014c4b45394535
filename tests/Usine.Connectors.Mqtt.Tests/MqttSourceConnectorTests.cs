using System.Net;
using System.Net.Sockets;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace Usine.Connectors.Mqtt.Tests;

[Collection(MosquittoCollection.Name)]
public sealed class MqttSourceConnectorTests(MosquittoFixture mosquitto, ITestOutputHelper output)
{
    private SourceRunner Connector(Usine.Sources.SourceDefinition source, RecordingIngestor ingestor, MqttConnectorOptions? options = null) =>
        TestSources.Runner(source, ingestor, options, new TestOutputLogger<MqttSourceConnector>(output));

    private MqttPublisher Publisher() => new(new MqttPublisherOptions { Broker = mosquitto.Broker }, new TestOutputLogger<MqttPublisher>(output));

    [Fact]
    public async Task Messages_published_with_QoS_1_reach_the_ingestor_in_order_with_positions_following_the_checkpoint()
    {
        const int count = 500;
        var root = TestSources.UniqueTopicRoot();
        var ingestor = new RecordingIngestor(checkpoint: 41);
        var source = TestSources.Mqtt(mosquitto.Broker, root + "/+/screwing", new Dictionary<string, string> { ["batchSize"] = "100" });
        await using var running = new RunningConnector(Connector(source, ingestor));
        await running.WaitUntilRunningAsync();

        var before = DateTime.UtcNow;
        await using (var publisher = Publisher())
        {
            for (var i = 0; i < count; i++)
            {
                await publisher.PublishAsync($"{root}/station{i % 3}/screwing", TestSources.Payload(i));
            }
        }

        await ingestor.WaitForCommittedAsync(count, "every published message");
        var after = DateTime.UtcNow;
        await running.StopAsync();

        var committed = ingestor.Committed;
        Assert.Equal(Enumerable.Range(0, count), committed.Select(TestSources.N));
        Assert.Equal(Enumerable.Range(42, count).Select(p => (long)p), committed.Select(m => m.Position));
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"{root}/station{i % 3}/screwing"), committed.Select(m => m.Topic));
        Assert.All(committed, m =>
        {
            Assert.Equal(DateTimeKind.Utc, m.ReceivedAt.Kind);
            Assert.InRange(m.ReceivedAt, before, after);
        });
        Assert.All(ingestor.Attempts, b =>
        {
            Assert.Equal(source.Id, b.SourceId);
            Assert.Equal("mqtt:" + source.Id, b.StreamId);
            Assert.InRange(b.Messages.Count, 1, 100);
        });
        Assert.Equal(count, running.Connector.Received);
        Assert.Equal(count, running.Connector.Acknowledged);
        Assert.Equal(ConnectorState.Stopped, running.Connector.State);
    }

    [Fact]
    public async Task A_message_is_not_acknowledged_while_its_batch_is_not_committed()
    {
        var root = TestSources.UniqueTopicRoot();
        var source = TestSources.Mqtt(mosquitto.Broker, root + "/#");
        var stuck = new RecordingIngestor();
        stuck.Hold();
        var options = TestSources.FastOptions with { DrainTimeout = TimeSpan.FromMilliseconds(200) };

        await using (var first = new RunningConnector(Connector(source, stuck, options)))
        {
            await first.WaitUntilRunningAsync();
            await using (var publisher = Publisher())
            {
                for (var i = 0; i < 5; i++)
                {
                    await publisher.PublishAsync(root + "/x", TestSources.Payload(i));
                }
            }

            await stuck.WaitForAttemptsAsync(1, "the first batch to reach the store that never commits");
            await first.StopAsync();
            Assert.Equal(0, first.Connector.Acknowledged);
            Assert.Empty(stuck.Committed);
        }

        // Had any of them been acknowledged on receipt, the broker would not deliver it again.
        var healthy = new RecordingIngestor();
        await using var second = new RunningConnector(Connector(source, healthy, options));
        await healthy.WaitForCommittedAsync(5, "the five uncommitted messages, redelivered by the broker");
        await second.StopAsync();
        Assert.Equal([0, 1, 2, 3, 4], healthy.Committed.Select(TestSources.N));
        Assert.Equal(5, second.Connector.Acknowledged);
    }

    [Fact]
    public async Task A_batch_whose_ingest_fails_transiently_is_retried_unchanged_and_nothing_is_lost()
    {
        const int count = 20;
        var root = TestSources.UniqueTopicRoot();
        var ingestor = new RecordingIngestor();
        ingestor.FailNext(3);
        var source = TestSources.Mqtt(mosquitto.Broker, root + "/#");
        await using var running = new RunningConnector(Connector(source, ingestor));
        await running.WaitUntilRunningAsync();

        await using (var publisher = Publisher())
        {
            for (var i = 0; i < count; i++)
            {
                await publisher.PublishAsync(root + "/x", TestSources.Payload(i));
            }
        }

        await ingestor.WaitForCommittedAsync(count, "all messages after three transient failures");
        await running.StopAsync();

        // Two batches are in flight, so their attempts may interleave and the second may commit first; every
        // retry of a batch carries exactly the same positions and payloads as its first attempt.
        foreach (var tries in ingestor.Attempts.GroupBy(a => a.Messages[0].Position))
        {
            var first = tries.First();
            Assert.All(tries, a =>
            {
                Assert.Equal(first.Messages.Select(m => m.Position), a.Messages.Select(m => m.Position));
                Assert.Equal(first.Messages.Select(TestSources.N), a.Messages.Select(TestSources.N));
            });
        }

        var committed = ingestor.Committed.OrderBy(m => m.Position).ToList();
        Assert.Equal(Enumerable.Range(0, count), committed.Select(TestSources.N));
        Assert.Equal(Enumerable.Range(1, count).Select(p => (long)p), committed.Select(m => m.Position));
        Assert.Equal(3, running.Connector.Retries);
        Assert.Equal(count, running.Connector.Acknowledged);
        Assert.IsType<UsineException>(running.Connector.LastError);
    }

    [Fact]
    public async Task Messages_published_while_the_connector_is_stopped_reach_it_when_it_restarts_with_the_same_client_id()
    {
        var root = TestSources.UniqueTopicRoot();
        var source = TestSources.Mqtt(mosquitto.Broker, root + "/#");
        var ingestor = new RecordingIngestor();
        await using var publisher = Publisher();

        await using (var first = new RunningConnector(Connector(source, ingestor)))
        {
            await first.WaitUntilRunningAsync();
            await publisher.PublishAsync(root + "/x", TestSources.Payload(0));
            await ingestor.WaitForCommittedAsync(1, "the message published while the connector ran");
            await first.StopAsync();
        }

        for (var i = 1; i <= 3; i++)
        {
            await publisher.PublishAsync(root + "/x", TestSources.Payload(i));
        }

        await using var second = new RunningConnector(Connector(source, ingestor));
        await ingestor.WaitForCommittedAsync(4, "the three messages the broker kept in the session while the connector was away");
        await second.StopAsync();

        Assert.Equal("usine-" + source.Id, second.Mqtt.ClientId);
        Assert.Equal([0, 1, 2, 3], ingestor.Committed.Select(TestSources.N));
        Assert.Equal([1L, 2, 3, 4], ingestor.Committed.Select(m => m.Position));
    }

    [Fact]
    public async Task The_connector_reconnects_and_subscribes_again_after_the_broker_restarts()
    {
        await using var broker = await MosquittoProcess.StartAsync(output);
        var root = TestSources.UniqueTopicRoot();
        var source = TestSources.Mqtt(broker.Url, root + "/#");
        var ingestor = new RecordingIngestor();
        await using var running = new RunningConnector(Connector(source, ingestor));
        await running.WaitUntilRunningAsync();

        await using (var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = broker.Url }))
        {
            await publisher.PublishAsync(root + "/x", TestSources.Payload(0));
        }

        await ingestor.WaitForCommittedAsync(1, "the message published before the restart");

        await broker.KillAsync();
        await running.WaitUntilAsync(c => c.State == ConnectorState.Reconnecting, "the connector to notice the broker is gone");

        // This broker keeps nothing across a restart, so the message below only arrives if the connector
        // subscribed again on its own.
        await broker.RestartAsync();
        await running.WaitUntilAsync(c => c.State == ConnectorState.Running && c.Reconnects == 1, "the connector to reconnect once");
        await using (var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = broker.Url }))
        {
            await publisher.PublishAsync(root + "/x", TestSources.Payload(1));
        }

        await ingestor.WaitForCommittedAsync(2, "the message published after the restart");
        await running.StopAsync();
        Assert.Equal([0, 1], ingestor.Committed.Select(TestSources.N));
        Assert.Equal([1L, 2], ingestor.Committed.Select(m => m.Position));
        Assert.Equal(1, running.Connector.Reconnects);
    }

    [Fact]
    public async Task A_connector_that_cannot_reach_its_broker_keeps_retrying_and_reports_the_error()
    {
        var logs = new TestOutputLogger<MqttSourceConnector>(output);
        var failedTwice = logs.WaitForEventAsync(2002, times: 2, "two failed connection attempts");
        var source = TestSources.Mqtt(new Uri("mqtt://127.0.0.1:1"), "a/#");
        await using var running = new RunningConnector(TestSources.Runner(source, new RecordingIngestor(), TestSources.FastOptions, logs));
        await failedTwice;

        Assert.Equal(ConnectorState.Connecting, running.Connector.State);
        Assert.NotNull(running.Connector.LastError);
        await running.StopAsync();
        Assert.Equal(ConnectorState.Stopped, running.Connector.State);
    }

    [Fact]
    public async Task A_refused_subscription_fails_the_connector_with_the_filter_in_the_error()
    {
        // A broker whose access rules deny the topic.
        var port = FreePort();
        using var server = new MqttServerFactory().CreateMqttServer(
            new MqttServerOptionsBuilder().WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        server.InterceptingSubscriptionAsync += e =>
        {
            e.ProcessSubscription = false;
            e.Response.ReasonCode = MqttSubscribeReasonCode.NotAuthorized;
            return Task.CompletedTask;
        };
        await server.StartAsync();

        var connector = Connector(TestSources.Mqtt(new Uri($"mqtt://127.0.0.1:{port}"), "secret/#"), new RecordingIngestor());
        var ex = await Assert.ThrowsAsync<UsineException>(() => connector.RunAsync(CancellationToken.None).WaitAsync(TestTimeouts.Default));
        Assert.Contains("'secret/#'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("NotAuthorized", ex.Message, StringComparison.Ordinal);
        Assert.False(ex.IsTransient);
        Assert.Equal(ConnectorState.Failed, connector.State);
        Assert.Same(ex, connector.LastError);
        await server.StopAsync(new MqttServerStopOptionsBuilder().Build());
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public void Settings_are_checked_when_the_connector_is_created()
    {
        var ingestor = new RecordingIngestor();
        ArgumentException Rejected(string topic, Dictionary<string, string> settings) =>
            Assert.ThrowsAny<ArgumentException>(() => Connector(TestSources.Mqtt(mosquitto.Broker, topic, settings), ingestor));

        var unknown = Rejected("a/#", new() { ["qos "] = "1" });
        Assert.Contains("unknown setting 'qos '", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("batchMilliseconds", unknown.Message, StringComparison.Ordinal);
        Assert.Contains("from 0 to 2", Rejected("a/#", new() { ["qos"] = "3" }).Message, StringComparison.Ordinal);
        Assert.Contains("mqtt://", Rejected("a/#", new() { ["broker"] = "http://x:1" }).Message, StringComparison.Ordinal);
        Assert.Contains("receive maximum", Rejected("a/#", new() { ["batchSize"] = "30000" }).Message, StringComparison.Ordinal);
        Assert.Contains("'#' must be a whole level", Rejected("a/#/b", new()).Message, StringComparison.Ordinal);
        Assert.Contains("'+' must be a whole level", Rejected("a/b+/c", new()).Message, StringComparison.Ordinal);
        Assert.Contains("sharedGroup", Rejected("$share/g/a/#", new()).Message, StringComparison.Ordinal);

        var shared = (MqttSourceConnector)Connector(TestSources.Mqtt(mosquitto.Broker, "plant/+/screwing", new Dictionary<string, string> { ["sharedGroup"] = "usine" }, id: "screwing"), ingestor).Connector;
        Assert.Equal("$share/usine/plant/+/screwing", shared.SubscriptionFilter);
        Assert.Equal("usine-screwing-" + Environment.MachineName, shared.ClientId);
        Assert.Equal("mqtt:screwing", shared.StreamId);
    }

    [Fact]
    public async Task Members_of_a_shared_group_split_the_messages_and_together_receive_each_once()
    {
        const int count = 200;
        var root = TestSources.UniqueTopicRoot();
        var id = $"test-{Guid.NewGuid():N}";
        var group = "g" + Guid.NewGuid().ToString("N")[..8];
        var ingestor = new RecordingIngestor();
        Usine.Sources.SourceDefinition Member(string name) =>
            TestSources.Mqtt(mosquitto.Broker, root + "/#", new Dictionary<string, string> { ["sharedGroup"] = group, ["clientId"] = $"{id}-{name}" }, id);

        await using var first = new RunningConnector(Connector(Member("a"), ingestor));
        await using var second = new RunningConnector(Connector(Member("b"), ingestor));
        await first.WaitUntilRunningAsync();
        await second.WaitUntilRunningAsync();

        await using (var publisher = Publisher())
        {
            for (var i = 0; i < count; i++)
            {
                await publisher.PublishAsync(root + "/x", TestSources.Payload(i));
            }
        }

        await ingestor.WaitForCommittedAsync(count, "every message, from one member or the other");
        await first.StopAsync();
        await second.StopAsync();

        Assert.Equal(Enumerable.Range(0, count), ingestor.Committed.Select(TestSources.N).Order());
        Assert.InRange(first.Connector.Received, 1, count - 1);
        Assert.Equal(count, first.Connector.Received + second.Connector.Received);
    }
}
