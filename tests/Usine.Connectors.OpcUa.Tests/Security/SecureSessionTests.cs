using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Client;
using Usine.Connectors.OpcUa.Encoding;
using Usine.Connectors.OpcUa.Security;

namespace Usine.Connectors.OpcUa.Tests.Security;

/// <summary>The client with Basic256Sha256 against node-opcua: trust, sessions with a user name, values read.</summary>
[Collection(SecureServerCollection.Name)]
public sealed class SecureSessionTests(SecureServerFixture server) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    private string TrustFolder => _data.Sub("pki/paint-shop");

    private OpcUaClientOptions Options(MessageSecurityMode mode, string? password = SecureServerFixture.Password) => new()
    {
        Endpoint = new Uri(server.Endpoint),
        SecurityMode = mode,
        UserName = SecureServerFixture.UserName,
        Password = password,
        TrustFolder = TrustFolder,
        DataDirectory = _data.Path,
        ApplicationUri = "urn:usine-tests:Usine",
    };

    private void TrustServer()
    {
        Directory.CreateDirectory(TrustFolder);
        File.WriteAllText(Path.Combine(TrustFolder, "paint-shop.pem"), server.Certificate.ExportCertificatePem());
    }

    [Theory]
    [InlineData(MessageSecurityMode.Sign)]
    [InlineData(MessageSecurityMode.SignAndEncrypt)]
    public async Task A_session_as_a_user_over_Basic256Sha256_reads_the_machines_values(MessageSecurityMode mode)
    {
        TrustServer();
        using var timeout = new CancellationTokenSource(Timeout);
        await using var client = new OpcUaClient(Options(mode));

        await client.ConnectAsync(timeout.Token);
        var values = await client.ReadAsync([NodeId.Parse("ns=1;s=Oven1.Counter"), NodeId.Parse("ns=1;s=Oven2.Temperature")], timeout.Token);

        Assert.Equal(SecurityPolicyUris.Basic256Sha256, client.Endpoint!.SecurityPolicyUri);
        Assert.Equal(mode, client.Endpoint.SecurityMode);
        Assert.IsType<Basic256Sha256Security>(client.Channel!.Security);
        var tokenPolicy = client.Endpoint.UserIdentityTokens.First(t => t.TokenType == UserTokenType.UserName).SecurityPolicyUri;
        Assert.True(string.IsNullOrEmpty(tokenPolicy) || tokenPolicy == SecurityPolicyUris.Basic256Sha256,
            $"the password must have gone encrypted with Basic256Sha256; the token policy says '{tokenPolicy}'");
        Assert.All(values, v => Assert.True(v.Status.IsGood, $"status {v.Status}"));
        Assert.Equal(BuiltInType.UInt32, values[0].Value.Type);
        Assert.InRange(values[1].Value.AsDouble(), 170.0, 190.0);
        Assert.True(File.Exists(Path.Combine(_data.Path, "pki", "own", ApplicationCertificate.CertificateFileName)),
            "this application's certificate is made under the data directory");
        await client.CloseAsync(timeout.Token);
    }

    [Fact]
    public async Task An_untrusted_server_is_refused_naming_its_thumbprint_and_trusted_once_its_rejected_file_is_copied()
    {
        Directory.CreateDirectory(TrustFolder);
        using var timeout = new CancellationTokenSource(Timeout);
        await using (var refused = new OpcUaClient(Options(MessageSecurityMode.SignAndEncrypt)))
        {
            var error = await Assert.ThrowsAsync<UntrustedCertificateException>(() => refused.ConnectAsync(timeout.Token));
            Assert.Equal(server.Certificate.Thumbprint, error.Thumbprint);
            Assert.Contains($"(SHA-1 thumbprint {server.Certificate.Thumbprint}) is not trusted", error.Message, StringComparison.Ordinal);
            Assert.Contains($"trust it by copying {error.RejectedCopy} into {TrustFolder}", error.Message, StringComparison.Ordinal);
            Assert.Equal(Path.Combine(_data.Path, "pki", "rejected", server.Certificate.Thumbprint + ".der"), error.RejectedCopy);
            File.Copy(error.RejectedCopy!, Path.Combine(TrustFolder, Path.GetFileName(error.RejectedCopy!)));
        }

        await using var trusted = new OpcUaClient(Options(MessageSecurityMode.SignAndEncrypt));
        await trusted.ConnectAsync(timeout.Token);
        Assert.NotNull(trusted.SessionId);
        await trusted.CloseAsync(timeout.Token);
    }

    [Theory]
    [InlineData(MessageSecurityMode.Sign)]
    [InlineData(MessageSecurityMode.SignAndEncrypt)]
    public async Task Reads_go_on_across_token_renewals_under_the_keys_of_each_new_token(MessageSecurityMode mode)
    {
        TrustServer();
        using var timeout = new CancellationTokenSource(Timeout);
        var options = Options(mode) with { Channel = new Transport.SecureChannelOptions { TokenLifetime = TimeSpan.FromSeconds(4) } };
        await using var client = new OpcUaClient(options);
        await client.ConnectAsync(timeout.Token);
        var firstToken = client.Channel!.TokenId;
        var reads = 0;

        // Renewed at 75 % of the lifetime the server grants: a few seconds of reading see two renewals.
        while (client.Channel.Renewals < 2)
        {
            timeout.Token.ThrowIfCancellationRequested();
            var values = await client.ReadAsync([NodeId.Parse("ns=1;s=Oven1.Counter")], timeout.Token);
            Assert.True(values[0].Status.IsGood, $"read {reads} under token {client.Channel.TokenId}: {values[0].Status}");
            reads++;
            await Task.Delay(100, timeout.Token);
        }

        Assert.NotEqual(firstToken, client.Channel.TokenId);
        Assert.True(client.Channel.IsOpen, "the channel stays open across renewals");
        var security = Assert.IsType<Basic256Sha256Security>(client.Channel.Security);
        Assert.InRange(security.HeldTokens.Count, 1, 2);
        Assert.Equal(client.Channel.TokenId, security.HeldTokens[0]);
        await client.CloseAsync(timeout.Token);
    }

    [Fact]
    public async Task A_wrong_password_sent_encrypted_is_refused_by_the_server()
    {
        TrustServer();
        using var timeout = new CancellationTokenSource(Timeout);
        await using var client = new OpcUaClient(Options(MessageSecurityMode.SignAndEncrypt, password: "not-the-password"));

        var error = await Assert.ThrowsAnyAsync<UsineException>(() => client.ConnectAsync(timeout.Token));
        Assert.Contains("ActivateSession as user 'painter'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_application_certificate_is_made_once_and_reused_by_the_next_connection()
    {
        TrustServer();
        using var timeout = new CancellationTokenSource(Timeout);
        var certificate = Path.Combine(_data.Path, "pki", "own", ApplicationCertificate.CertificateFileName);
        await using (var first = new OpcUaClient(Options(MessageSecurityMode.Sign) with { SecurityProviders = [new Basic256Sha256Provider()] }))
        {
            await first.ConnectAsync(timeout.Token);
            await first.CloseAsync(timeout.Token);
        }
        var made = File.ReadAllBytes(certificate);

        await using var second = new OpcUaClient(Options(MessageSecurityMode.Sign) with { SecurityProviders = [new Basic256Sha256Provider()] });
        await second.ConnectAsync(timeout.Token);
        await second.CloseAsync(timeout.Token);

        Assert.Equal(made, File.ReadAllBytes(certificate));
        Assert.Equal(made, second.Channel!.Security.LocalCertificate.ToArray());
    }
}
