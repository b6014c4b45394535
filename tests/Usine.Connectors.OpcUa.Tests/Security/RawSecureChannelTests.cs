using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Security;

namespace Usine.Connectors.OpcUa.Tests.Security;

/// <summary>The policy's chunks, laid out by hand, against node-opcua: the wire format on its own, without the client.</summary>
[Collection(SecureServerCollection.Name)]
public sealed class RawSecureChannelTests(SecureServerFixture server) : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData(MessageSecurityMode.Sign)]
    [InlineData(MessageSecurityMode.SignAndEncrypt)]
    public async Task Node_opcua_opens_a_Basic256Sha256_channel_and_answers_under_its_token_keys(MessageSecurityMode mode)
    {
        using var own = ApplicationCertificate.LoadOrCreate(_folder.Sub("pki/own"), "urn:usine-tests:Usine", "usine-tests", TimeProvider.System);
        using var security = new Basic256Sha256Security(own.Certificate, server.Certificate.RawData, mode);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        await using var channel = new RawSecureChannel(security, server.Endpoint);
        await channel.ConnectAsync(timeout.Token);
        await channel.OpenAsync(timeout.Token);
        var (endpoints, body) = await channel.GetEndpointsAsync(timeout.Token);
        await channel.CloseAsync(timeout.Token);

        Assert.True(endpoints >= 3, $"expected the None, Sign and SignAndEncrypt endpoints, the server described {endpoints}");
        Assert.True(body.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(SecurityPolicyUris.Basic256Sha256)) > 0);
    }

    [Fact]
    public async Task With_a_4096_bit_client_key_the_answer_of_node_opcua_carries_ExtraPaddingSize_and_opens_to_its_last_field()
    {
        // The server encrypts its OpenSecureChannel response for this key: blocks of 470 bytes, so its padding
        // can pass 255 bytes and needs the ExtraPaddingSize byte (OPC 10000-6 §6.7.2.5).
        using var own = TestCertificates.SelfSigned("usine 4096", 4096, DateTimeOffset.UtcNow);
        using var security = new Basic256Sha256Security(own, server.Certificate.RawData, MessageSecurityMode.SignAndEncrypt);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        await using var channel = new RawSecureChannel(security, server.Endpoint);
        await channel.ConnectAsync(timeout.Token);
        await channel.OpenAsync(timeout.Token);
        var (endpoints, _) = await channel.GetEndpointsAsync(timeout.Token);
        await channel.CloseAsync(timeout.Token);

        Assert.True(endpoints >= 3, $"expected the None, Sign and SignAndEncrypt endpoints, the server described {endpoints}");
    }
}
