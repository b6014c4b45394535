using Usine.Connectors.Testing;
using Usine.Connectors.OpcUa.Client;
using Usine.Connectors.OpcUa.Encoding;

namespace Usine.Connectors.OpcUa.Tests;

/// <summary>The client on its own against the node-opcua test server, with security None.</summary>
public sealed class OpcUaClientTests(OpcUaServerFixture fixture, ITestOutputHelper output) : IClassFixture<OpcUaServerFixture>
{
    private readonly OpcUaServerProcess _server = fixture.Server;

    private OpcUaClient NewClient(string? user = null, string? password = null) =>
        new(new OpcUaClientOptions { Endpoint = _server.Endpoint, UserName = user, Password = password }, new TestLogger<OpcUaClient>(output));

    [Fact]
    public async Task The_server_lists_its_endpoints_with_their_security_and_user_token_policies()
    {
        await using var client = NewClient();
        var endpoints = await client.GetEndpointsAsync(CancellationToken.None);
        Assert.Contains(endpoints, e => e.SecurityMode == Channel.MessageSecurityMode.None && e.UserIdentityTokens.Any(t => t.TokenType == UserTokenType.UserName));
        Assert.Contains(endpoints, e => e.SecurityMode == Channel.MessageSecurityMode.SignAndEncrypt && e.SecurityPolicyUri!.EndsWith("Basic256Sha256", StringComparison.Ordinal));
        Assert.All(endpoints, e => Assert.NotNull(e.ServerCertificate));
    }

    [Fact]
    public async Task An_anonymous_session_browses_the_objects_folder_and_reads_values_with_source_timestamps()
    {
        await using var client = NewClient();
        await client.ConnectAsync(CancellationToken.None);
        var objects = (await client.BrowseAsync([WellKnownNodes.ObjectsFolder], CancellationToken.None))[0];
        Assert.Contains(objects, r => r.BrowseName.Name == "PaintShop");
        Assert.Contains(objects, r => r.BrowseName.Name == "Server");

        var values = await client.ReadAsync([NodeId.Parse("ns=1;s=Oven1.Counter"), NodeId.Parse("ns=1;s=Oven1.Temperature"), NodeId.Parse("ns=1;s=NoSuchNode")], CancellationToken.None);
        Assert.Equal(BuiltInType.UInt32, values[0].Value.Type);
        Assert.NotNull(values[0].SourceTimestamp);
        Assert.Equal(BuiltInType.Double, values[1].Value.Type);
        Assert.Equal("BadNodeIdUnknown", values[2].Status.Name);
    }

    [Fact]
    public async Task A_user_with_the_right_password_gets_a_session_and_a_wrong_password_is_refused_for_good()
    {
        await using (var client = NewClient(OpcUaServerProcess.UserName, OpcUaServerProcess.Password))
        {
            await client.ConnectAsync(CancellationToken.None);
            Assert.NotNull(client.SessionId);
        }

        await using var wrong = NewClient(OpcUaServerProcess.UserName, "not-the-password");
        var ex = await Assert.ThrowsAsync<OpcUaException>(() => wrong.ConnectAsync(CancellationToken.None));
        output.WriteLine(ex.Message);
        Assert.False(ex.IsTransient);
        Assert.Contains("ActivateSession as user 'painter'", ex.Message, StringComparison.Ordinal);
        Assert.StartsWith("Bad", ex.Status.Name, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_server_states_its_monitored_items_per_call_limit()
    {
        await using var client = NewClient();
        await client.ConnectAsync(CancellationToken.None);
        Assert.Equal(2u, await client.ReadMaxMonitoredItemsPerCallAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_subscription_publishes_data_changes_of_its_monitored_items()
    {
        await using var client = NewClient();
        await client.ConnectAsync(CancellationToken.None);
        var subscription = await client.CreateSubscriptionAsync(TimeSpan.FromMilliseconds(100), 10, 30, CancellationToken.None);
        var results = await client.CreateMonitoredItemsAsync(subscription.SubscriptionId, [
            new MonitoredItemRequest(NodeId.Parse("ns=1;s=Oven1.Counter"), 7, 50, 10),
            new MonitoredItemRequest(NodeId.Parse("ns=1;s=Missing"), 8, 50, 10),
        ], CancellationToken.None);
        Assert.True(results[0].Status.IsGood);
        Assert.Equal("BadNodeIdUnknown", results[1].Status.Name);

        var counters = new List<long>();
        var acks = new List<(uint, uint)>();
        while (counters.Count < 5)
        {
            var published = await client.PublishAsync(acks, TimeSpan.FromSeconds(10), CancellationToken.None);
            acks = published.Message.IsKeepAlive ? [] : [(published.SubscriptionId, published.Message.SequenceNumber)];
            counters.AddRange(published.Message.Values.Where(v => v.ClientHandle == 7).Select(v => v.Value.AsInt64()));
        }

        Assert.Equal(Enumerable.Range((int)counters[0], counters.Count).Select(i => (long)i), counters);
    }
}
