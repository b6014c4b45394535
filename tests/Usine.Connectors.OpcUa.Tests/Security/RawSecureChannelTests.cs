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
}
