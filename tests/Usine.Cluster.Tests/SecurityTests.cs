using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using NATS.Client.Core;

namespace Usine.Cluster.Tests;

/// <summary>
/// The NATS connection's security settings against a real nats-server that asks for them: a user and password,
/// a token, and mutual TLS with certificates made by the test. Wrong settings stop the start saying what to check.
/// </summary>
public sealed class SecurityTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-nats-security-").FullName;
    private readonly List<IAsyncDisposable> _owned = [];
    private string _config = null!;

    public async Task InitializeAsync()
    {
        _config = Path.Combine(_dir, "usine.yaml");
        await File.WriteAllTextAsync(_config, """
            models:
              - name: reading
                version: 1
                time: ts
                key: [n]
                fields:
                  n:  { type: int, required: true }
                  ts: { type: timestamp, required: true }
            sources:
              - id: line-1
                plant: flins
                kind: http
                model: reading
            """);
    }

    public async Task DisposeAsync()
    {
        foreach (var o in Enumerable.Reverse(_owned))
        {
            await o.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private async Task<NatsCluster> ServerAsync(string settings, NatsOpts client)
    {
        var server = await NatsCluster.StartSingleAsync(settings, client, output);
        _owned.Add(server);
        return server;
    }

    /// <summary>A process playing every role through <paramref name="server"/>; what it accepts must come back as records.</summary>
    private async Task CommitsThroughAsync(NatsCluster server, string name, Dictionary<string, string> environment)
    {
        var usine = await UsineProcess.StartAsync(name, _config, Path.Combine(_dir, name), ["--role", "all", "--nats", server.Urls], environment, output);
        _owned.Add(usine);
        var body = string.Join("\n", Enumerable.Range(0, 100).Select(n => string.Create(CultureInfo.InvariantCulture, $$"""{"n":{{n}},"ts":"2026-12-01T08:00:{{n % 60:00}}Z"}""")));
        await usine.PushAsync("line-1", body);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await usine.CountAsync("SELECT count(*) FROM m_reading") < 100)
        {
            Assert.True(DateTime.UtcNow < deadline, $"expected 100 records through JetStream within 30 s:\n{usine.Tail}");
            await Task.Delay(200);
        }
    }

    /// <summary>Runs <c>usine serve</c> expecting it to stop at start; its exit code and what it wrote.</summary>
    private async Task<(int Exit, string Text)> FailsAtStartAsync(string nats, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "usine.dll"), "serve", "--config", _config, "--data", Path.Combine(_dir, "refused-" + Guid.NewGuid().ToString("N")[..6]),
            "--urls", $"http://127.0.0.1:{UsineProcess.FreePort()}", "--role", "all", "--nats", nats])
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"expected usine to stop at start within 60 s; it kept running:\n{await stdout}\n{await stderr}");
        }

        var text = await stderr + await stdout;
        output.WriteLine($"exit {p.ExitCode}: {text}");
        return (p.ExitCode, text);
    }

    [Fact]
    public async Task A_server_that_requires_a_user_and_password_takes_the_right_ones_and_a_wrong_password_stops_the_start_saying_what_to_check()
    {
        var server = await ServerAsync("""authorization { users: [ { user: usine, password: "right-one" } ] }""",
            NatsOpts.Default with { AuthOpts = NatsAuthOpts.Default with { Username = "usine", Password = "right-one" } });

        await CommitsThroughAsync(server, "user", new() { ["Usine__Nats__User"] = "usine", ["Usine__Nats__Password"] = "right-one" });

        var (exit, text) = await FailsAtStartAsync(server.Urls, new() { ["Usine__Nats__User"] = "usine", ["Usine__Nats__Password"] = "wrong-one" });
        Assert.Equal(2, exit);
        Assert.Contains($"the NATS servers at {server.Urls} refused this process", text, StringComparison.Ordinal);
        Assert.Contains("check Usine:Nats:User and Password", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_that_requires_a_token_takes_it_and_a_process_without_one_is_told_none_is_set()
    {
        var server = await ServerAsync("""authorization { token: "t0ken-of-the-test" }""",
            NatsOpts.Default with { AuthOpts = NatsAuthOpts.Default with { Token = "t0ken-of-the-test" } });

        await CommitsThroughAsync(server, "token", new() { ["Usine__Nats__Token"] = "t0ken-of-the-test" });

        var (exit, text) = await FailsAtStartAsync(server.Urls, []);
        Assert.Equal(2, exit);
        Assert.Contains("refused this process", text, StringComparison.Ordinal);
        Assert.Contains("none is set", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Security_settings_that_cannot_work_stop_the_start_naming_the_setting_and_the_file()
    {
        var missing = Path.Combine(_dir, "nowhere", "usine.creds");
        var (exit, text) = await FailsAtStartAsync("nats://127.0.0.1:4222", new() { ["Usine__Nats__CredentialsFile"] = missing });
        Assert.Equal(2, exit);
        Assert.Contains($"Usine:Nats:CredentialsFile: {missing} does not exist", text, StringComparison.Ordinal);

        var (exit2, text2) = await FailsAtStartAsync("nats://127.0.0.1:4222", new() { ["Usine__Nats__User"] = "usine" });
        Assert.Equal(2, exit2);
        Assert.Contains("Usine:Nats:User is set without Usine:Nats:Password", text2, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_security_setting_that_cannot_work_is_named_with_what_to_fix_and_secrets_never_print()
    {
        var notPem = Write("not-a-ca.pem", "hello");
        var noSeed = Write("no-seed.nk", "not a seed\n");
        var options = new Usine.Transport.Nats.NatsTransportOptions { Urls = "nats://127.0.0.1:4222" };
        string Refused(Usine.Transport.Nats.NatsTransportOptions o) => Assert.Throws<ArgumentException>(o.Validate).Message;

        Assert.Equal("Usine:Nats: User and Password, Token are set: the servers take one way of authenticating, keep only the one they expect",
            Refused(options with { User = "u", Password = "p", Token = "t" }));
        Assert.Equal($"Usine:Nats:TlsCaFile: {notPem} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", Refused(options with { TlsCaFile = notPem }));
        Assert.StartsWith($"Usine:Nats:NkeySeedFile: {noSeed} holds no NKey user seed", Refused(options with { NkeySeedFile = noSeed }), StringComparison.Ordinal);
        Assert.StartsWith($"Usine:Nats:CredentialsFile: {notPem} is not a NATS credentials file", Refused(options with { CredentialsFile = notPem }), StringComparison.Ordinal);
        Assert.StartsWith("Usine:Nats:TlsCertFile is set without Usine:Nats:TlsKeyFile", Refused(options with { TlsCertFile = notPem }), StringComparison.Ordinal);
        Assert.StartsWith("Usine:Nats:TlsCertFile and TlsKeyFile:", Refused(options with { TlsCertFile = notPem, TlsKeyFile = notPem }), StringComparison.Ordinal);

        var secret = (options with { User = "usine", Password = "pass-of-the-test", Token = "token-of-the-test" }).ToString();
        Assert.Contains("User = usine", secret, StringComparison.Ordinal);
        Assert.DoesNotContain("pass-of-the-test", secret, StringComparison.Ordinal);
        Assert.DoesNotContain("token-of-the-test", secret, StringComparison.Ordinal);

        // A password written into a URL does not print either.
        var inUrl = options with { Urls = "nats://usine:url-pass-of-the-test@127.0.0.1:4222, nats://127.0.0.1:4223" };
        Assert.Equal("nats://***@127.0.0.1:4222,nats://127.0.0.1:4223", inUrl.ShownUrls);
        Assert.DoesNotContain("url-pass-of-the-test", inUrl.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mutual_TLS_with_a_certificate_authority_made_by_the_test_connects_and_an_authority_that_did_not_sign_the_server_is_refused()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = Authority("Usine test CA", caKey, now);
        var caFile = Write("ca.pem", ca.ExportCertificatePem());
        var (serverCert, serverKey) = Issue(ca, caKey, "127.0.0.1", "1.3.6.1.5.5.7.3.1", now);
        var (clientCert, clientKey) = Issue(ca, caKey, "usine", "1.3.6.1.5.5.7.3.2", now);
        var server = await ServerAsync(
            $$"""tls { cert_file: "{{serverCert}}", key_file: "{{serverKey}}", ca_file: "{{caFile}}", verify: true }""",
            NatsOpts.Default with { TlsOpts = new NatsTlsOpts { CaFile = caFile, CertFile = clientCert, KeyFile = clientKey, Mode = TlsMode.Require } });

        await CommitsThroughAsync(server, "tls", new()
        {
            ["Usine__Nats__TlsCaFile"] = caFile,
            ["Usine__Nats__TlsCertFile"] = clientCert,
            ["Usine__Nats__TlsKeyFile"] = clientKey,
            ["Usine__Nats__TlsRequired"] = "true",
        });

        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = Authority("Another CA", otherKey, now);
        var otherFile = Write("other-ca.pem", other.ExportCertificatePem());
        var (exit, text) = await FailsAtStartAsync(server.Urls, new()
        {
            ["Usine__Nats__TlsCaFile"] = otherFile,
            ["Usine__Nats__TlsCertFile"] = clientCert,
            ["Usine__Nats__TlsKeyFile"] = clientKey,
        });
        Assert.Equal(2, exit);
        Assert.Contains("the TLS handshake with", text, StringComparison.Ordinal);
        Assert.Contains("check Usine:Nats:TlsCaFile", text, StringComparison.Ordinal);
    }

    private static X509Certificate2 Authority(string name, ECDsa key, DateTimeOffset now)
    {
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(now.AddHours(-1), now.AddDays(1));
    }

    /// <summary>A certificate signed by <paramref name="ca"/> for <paramref name="name"/> with one extended key usage; the PEM files of it and its key.</summary>
    private (string Cert, string Key) Issue(X509Certificate2 ca, ECDsa caKey, string name, string usage, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(name, out var ip))
        {
            san.AddIpAddress(ip);
        }

        san.AddDnsName(name == "127.0.0.1" ? "localhost" : name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var issued = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddHours(-1), now.AddDays(1), RandomNumberGenerator.GetBytes(12));
        var file = name.Replace('.', '-');
        return (Write(file + ".pem", issued.ExportCertificatePem()), Write(file + "-key.pem", key.ExportPkcs8PrivateKeyPem()));
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }
}
