using System.Security.Cryptography.X509Certificates;
using Usine.Connectors.Testing;

namespace Usine.Connectors.OpcUa.Tests.Security;

/// <summary>The tests that share one <see cref="SecureServerFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class SecureServerCollection : ICollectionFixture<SecureServerFixture>
{
    public const string Name = "node-opcua server with Basic256Sha256";
}

/// <summary>
/// The project's node-opcua test server with its Basic256Sha256 endpoints, with a PKI folder of its own, so
/// that its certificate is one no client trusts yet and the tests can read it from the folder.
/// </summary>
public sealed class SecureServerFixture : IAsyncLifetime
{
    public const string UserName = OpcUaServerProcess.UserName;
    public const string Password = OpcUaServerProcess.Password;

    private readonly TempFolder _folder = new();
    private OpcUaServerProcess? _server;

    public string Endpoint => _server!.Endpoint.ToString();

    /// <summary>The server's certificate, as its PKI folder holds it.</summary>
    public X509Certificate2 Certificate { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var pki = _folder.Sub("server-pki");
        _server = await OpcUaServerProcess.StartAsync(new SilentOutput(), 200, "--pki", pki, "--machines", "2");
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(Path.Combine(pki, "server", "own", "certs", "certificate.pem"));
        Certificate = certificates[0];
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        Certificate?.Dispose();
        _folder.Dispose();
    }

    private sealed class SilentOutput : ITestOutputHelper
    {
        public void WriteLine(string message)
        {
        }

        public void WriteLine(string format, params object[] args)
        {
        }
    }
}
