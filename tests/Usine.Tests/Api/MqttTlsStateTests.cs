using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Usine.Tests.Api;

/// <summary>Why an MQTT source cannot reach its TLS broker shows where an operator looks: the source's state and its job.</summary>
public sealed class MqttTlsStateTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-tls-state-").FullName;
    private readonly CancellationTokenSource _stop = new();
    private TcpListener _listener = null!;
    private X509Certificate2 _brokerCert = null!;
    private Task _accepting = Task.CompletedTask;

    public Task InitializeAsync()
    {
        // A TLS endpoint whose certificate comes from a CA the source does not trust: the handshake is refused
        // before any MQTT is spoken, so nothing more than TLS is needed on this side.
        _brokerCert = SelfSigned("CN=Broker Of Another Plant", san: true);
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync(_stop.Token);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _brokerCert.Dispose();
        _stop.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_refused_broker_certificate_is_named_in_the_source_and_its_job_as_usine_sources_show_prints_them()
    {
        using (var ca = SelfSigned("CN=Arlon Plant CA", san: false))
        {
            // Relative to the configuration file's folder, where ServerHarness writes usine.yaml.
            await File.WriteAllTextAsync(Path.Combine(_dir, "plant-ca.pem"), ca.ExportCertificatePem());
        }

        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        var yaml = TestDefinitions.Yaml + $$"""

              - id: oven-mqtt
                plant: arlon
                kind: mqtt
                topic: "arlon/paint/+/oven"
                model: screwing
                settings: { broker: "mqtts://127.0.0.1:{{port}}", caFile: plant-ca.pem }
            """;
        await using var server = await ServerHarness.StartAsync(_dir, yaml, time: null, o => o with { StartConnectors = true });

        var expected = $"TLS: the certificate of mqtts://127.0.0.1:{port} is refused: untrusted issuer 'CN=Broker Of Another Plant' (the certificate is self-signed): it is not among caFile {Path.Combine(_dir, "plant-ca.pem")} (which holds 'CN=Arlon Plant CA')";
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        var source = await server.Get("/api/sources/oven-mqtt");
        while (source.GetProperty("lastError").ValueKind == System.Text.Json.JsonValueKind.Null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            source = await server.Get("/api/sources/oven-mqtt");
        }

        Assert.StartsWith(expected, source.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Equal("degraded", source.GetProperty("jobState").GetString());
        Assert.StartsWith(expected, source.GetProperty("jobReason").GetString(), StringComparison.Ordinal);
    }

    private async Task AcceptAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(ct);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                await using (var tls = new SslStream(client.GetStream()))
                {
                    try
                    {
                        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _brokerCert }, ct);
                    }
                    catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
                    {
                        // The client refuses the certificate: that is the point.
                    }
                }
            }, CancellationToken.None);
        }
    }

    private static X509Certificate2 SelfSigned(string subject, bool san)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(!san, false, 0, true));
        if (san)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));
    }
}
