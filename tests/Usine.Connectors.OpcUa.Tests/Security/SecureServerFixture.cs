using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Usine.Connectors.OpcUa.Tests.Security;

/// <summary>The tests that share one <see cref="SecureServerFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class SecureServerCollection : ICollectionFixture<SecureServerFixture>
{
    public const string Name = "node-opcua server with Basic256Sha256";
}

/// <summary>
/// The project's node-opcua test server (tests/opcua-server) with its Basic256Sha256 endpoints, on a free
/// loopback port and a PKI folder of its own, so its certificate is one no client trusts yet.
/// </summary>
public sealed class SecureServerFixture : IAsyncLifetime
{
    public const string UserName = "painter";
    public const string Password = "secret-for-tests";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    private readonly TempFolder _folder = new();
    private Process? _process;

    public string Endpoint { get; private set; } = "";

    /// <summary>The server's certificate, as its PKI folder holds it.</summary>
    public X509Certificate2 Certificate { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var serverDirectory = Path.Combine(RepositoryRoot(), "tests", "opcua-server");
        if (!Directory.Exists(Path.Combine(serverDirectory, "node_modules", "node-opcua")))
        {
            throw new InvalidOperationException(
                $"node-opcua is not installed in {serverDirectory}: run scripts/services.sh start (or npm ci in that folder) first.");
        }
        var port = FreePort();
        var pki = _folder.Sub("server-pki");
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = serverDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "server.js", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--pki", pki,
                     "--user", $"{UserName}:{Password}", "--machines", "2", "--period", "200" })
        {
            start.ArgumentList.Add(argument);
        }
        _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var errors = _process.StandardError.ReadToEndAsync();

        using var deadline = new CancellationTokenSource(StartTimeout);
        string? line;
        try
        {
            while ((line = await _process.StandardOutput.ReadLineAsync(deadline.Token)) is not null && !line.StartsWith("listening ", StringComparison.Ordinal))
            {
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"expected the OPC UA test server to print 'listening' within {StartTimeout}");
        }
        if (line is null)
        {
            throw new InvalidOperationException($"the OPC UA test server exited before listening: {await errors}");
        }
        Endpoint = line["listening ".Length..].Trim();
        _ = DrainAsync(_process.StandardOutput);

        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(Path.Combine(pki, "server", "own", "certs", "certificate.pem"));
        Certificate = certificates[0];
    }

    public async Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        Certificate?.Dispose();
        _folder.Dispose();
    }

    private static async Task DrainAsync(StreamReader output)
    {
        while (await output.ReadLineAsync() is not null)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Usine.slnx")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException($"no Usine.slnx above {AppContext.BaseDirectory}");
    }
}
