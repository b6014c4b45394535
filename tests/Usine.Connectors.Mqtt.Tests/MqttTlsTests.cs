using Usine.Operations;
using Usine.Sources;

namespace Usine.Connectors.Mqtt.Tests;

/// <summary>
/// Sources on a mosquitto of the test's own with TLS listeners whose certificates come from a plant CA made by
/// the test: server TLS, mutual TLS, and brokers whose certificate must be refused, each for a reason the job
/// states in words an operator can act on.
/// </summary>
public sealed class MqttTlsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string CaName = "Usine Test Plant CA";
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-tls-").FullName;
    private readonly Dictionary<string, int> _ports = [];
    private TestCertificates _certs = null!;
    private MosquittoProcess _mosquitto = null!;
    private string _caFile = "";

    public async Task InitializeAsync()
    {
        _certs = new TestCertificates(_dir, CaName);
        _caFile = _certs.WriteCa("plant-ca.pem");
        var good = _certs.IssueBroker("tls");
        var expired = _certs.IssueBroker("expired", notBefore: _certs.Now.AddDays(-10), notAfter: _certs.Now.AddDays(-1));
        var elsewhere = _certs.IssueBroker("elsewhere", dnsNames: ["broker.elsewhere.example"]);

        // Nothing listens on the CRL server's port: the revocation list cannot be fetched.
        var crl = _certs.IssueBroker("crl", crlUrl: $"http://127.0.0.1:{MosquittoProcess.FreePort()}/plant-ca.crl");

        var config = new List<string>();
        void Listener(string name, (string Cert, string Key) files, bool requireClientCertificate = false)
        {
            var port = MosquittoProcess.FreePort();
            _ports[name] = port;
            config.AddRange([$"listener {port} 127.0.0.1", $"certfile {files.Cert}", $"keyfile {files.Key}"]);
            if (requireClientCertificate)
            {
                config.AddRange([$"cafile {_caFile}", "require_certificate true"]);
            }
        }

        Listener("tls", good);
        Listener("mtls", good, requireClientCertificate: true);
        Listener("expired", expired);
        Listener("elsewhere", elsewhere);
        Listener("crl", crl);
        _mosquitto = await MosquittoProcess.StartAsync(output, config);
        foreach (var port in _ports.Values)
        {
            await MosquittoProcess.WaitForPortAsync(port);
        }
    }

    public async Task DisposeAsync()
    {
        await _mosquitto.DisposeAsync();
        _certs.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private SourceDefinition Source(string listener, string topic, Dictionary<string, string> settings) =>
        TestSources.Mqtt(new Uri($"mqtts://127.0.0.1:{_ports[listener]}"), topic, settings) with { Directory = _dir };

    private (SourceRunner Connector, TestOutputLogger<MqttSourceConnector> Log, Job Job) Connector(SourceDefinition source, RecordingIngestor ingestor)
    {
        var log = new TestOutputLogger<MqttSourceConnector>(output);
        var job = new JobRegistry().Stream(source.Id);
        return (TestSources.Runner(source, ingestor, TestSources.FastOptions, log, job), log, job);
    }

    private async Task PublishAsync(string topic, int count)
    {
        // Published on the plain listener of the same broker: what the test checks is the subscriber's side.
        await using var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = _mosquitto.Url }, new TestOutputLogger<MqttPublisher>(output));
        for (var i = 0; i < count; i++)
        {
            await publisher.PublishAsync(topic, TestSources.Payload(i));
        }
    }

    /// <summary>Runs a source that must not connect and returns the reason its job gives after the first attempt.</summary>
    private async Task<string> RefusalAsync(SourceDefinition source)
    {
        var (connector, log, job) = Connector(source, new RecordingIngestor());
        await using var running = new RunningConnector(connector);
        await log.WaitForEventAsync(2002, 1, "a failed connection attempt");
        Assert.Equal(JobState.Degraded, job.State);
        Assert.Equal(connector.LastError?.Message, job.LastError);
        Assert.NotEqual(ConnectorState.Running, connector.State);
        return job.LastError!;
    }

    [Fact]
    public async Task Server_TLS_with_the_plant_CA_in_caFile_stores_the_messages()
    {
        var root = TestSources.UniqueTopicRoot();
        var ingestor = new RecordingIngestor();
        var (connector, _, job) = Connector(Source("tls", root + "/#", new() { ["caFile"] = "plant-ca.pem" }), ingestor);
        await using var running = new RunningConnector(connector);
        await running.WaitUntilRunningAsync();

        await PublishAsync(root + "/oven1", 20);
        await ingestor.WaitForCommittedAsync(20, "the 20 messages published while the TLS connection is up");

        Assert.Equal(Enumerable.Range(0, 20), ingestor.Committed.Select(TestSources.N));
        Assert.Equal(JobState.Running, job.State);
        Assert.Null(connector.LastError);
    }

    [Fact]
    public async Task Mutual_TLS_with_certFile_and_an_encrypted_keyFile_whose_password_comes_from_the_environment_stores_the_messages()
    {
        var variable = "USINE_TEST_KEY_PASSWORD_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        Environment.SetEnvironmentVariable(variable, "paint-shop-2026");
        try
        {
            _certs.Issue("usine-client", "usine-arlon", server: false, password: "paint-shop-2026");
            var root = TestSources.UniqueTopicRoot();
            var ingestor = new RecordingIngestor();
            var settings = new Dictionary<string, string>
            {
                ["caFile"] = _caFile,
                ["certFile"] = "usine-client.pem",
                ["keyFile"] = "usine-client.key",
                ["keyPassword"] = "${" + variable + "}",
            };
            var (connector, _, _) = Connector(Source("mtls", root + "/#", settings), ingestor);
            await using var running = new RunningConnector(connector);
            await running.WaitUntilRunningAsync();

            await PublishAsync(root + "/oven2", 10);
            await ingestor.WaitForCommittedAsync(10, "the 10 messages published to the broker that requires client certificates");
            Assert.Equal(Enumerable.Range(0, 10), ingestor.Committed.Select(TestSources.N));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task A_broker_that_requires_a_client_certificate_refuses_a_source_without_one_and_the_job_says_to_set_certFile()
    {
        var reason = await RefusalAsync(Source("mtls", "a/#", new() { ["caFile"] = _caFile }));

        Assert.StartsWith($"TLS: mqtts://127.0.0.1:{_ports["mtls"]} closed the connection after its certificate was accepted", reason, StringComparison.Ordinal);
        Assert.EndsWith("if the broker requires client certificates, set certFile and keyFile", reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_broker_certificate_from_another_CA_is_refused_as_an_untrusted_issuer_named_by_its_subject()
    {
        using var other = _certs.MakeCa("Other Plant CA");
        var otherFile = Path.Combine(_dir, "other-ca.pem");
        await File.WriteAllTextAsync(otherFile, other.ExportCertificatePem());

        var reason = await RefusalAsync(Source("tls", "a/#", new() { ["caFile"] = "other-ca.pem" }));

        Assert.Equal(
            $"TLS: the certificate of mqtts://127.0.0.1:{_ports["tls"]} is refused: untrusted issuer 'CN={CaName}, O=Usine tests' of 'CN=broker.tls, O=Usine tests': "
            + $"it is not among caFile {otherFile} (which holds 'CN=Other Plant CA, O=Usine tests'); set caFile to the CA that issued the broker's certificate",
            reason);
    }

    [Fact]
    public async Task Without_caFile_a_broker_certificate_from_the_plant_CA_is_untrusted_and_insecureSkipVerify_connects_with_a_warning()
    {
        var reason = await RefusalAsync(Source("tls", "a/#", []));
        Assert.Contains($"untrusted issuer 'CN={CaName}, O=Usine tests'", reason, StringComparison.Ordinal);
        Assert.Contains("it is not among this machine's trusted CAs; set caFile", reason, StringComparison.Ordinal);

        var (connector, log, _) = Connector(Source("tls", "a/#", new() { ["insecureSkipVerify"] = "true" }), new RecordingIngestor());
        await using var running = new RunningConnector(connector);
        await log.WaitForEventAsync(2013, 1, "the warning that the broker's certificate is not checked");
        await running.WaitUntilRunningAsync();
    }

    [Fact]
    public async Task An_expired_broker_certificate_is_refused_saying_when_it_expired()
    {
        var reason = await RefusalAsync(Source("expired", "a/#", new() { ["caFile"] = _caFile }));

        var notAfter = _certs.Now.AddDays(-1).UtcDateTime.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(
            $"TLS: the certificate of mqtts://127.0.0.1:{_ports["expired"]} is refused: certificate 'CN=broker.expired, O=Usine tests' expired on {notAfter} UTC; the broker needs a renewed certificate",
            reason);
    }

    [Fact]
    public async Task A_broker_certificate_for_another_name_is_refused_as_a_name_mismatch_listing_the_names_it_is_for()
    {
        var reason = await RefusalAsync(Source("elsewhere", "a/#", new() { ["caFile"] = _caFile }));

        Assert.Equal(
            $"TLS: the certificate of mqtts://127.0.0.1:{_ports["elsewhere"]} is refused: name mismatch: the certificate is for 'broker.elsewhere.example', not '127.0.0.1'; "
            + "write the broker with one of those names, or have the certificate reissued for '127.0.0.1'",
            reason);
    }

    [Fact]
    public async Task Revocation_is_not_checked_by_default_and_online_checking_with_an_unreachable_CRL_server_says_so()
    {
        var root = TestSources.UniqueTopicRoot();
        var (connector, _, _) = Connector(Source("crl", root + "/#", new() { ["caFile"] = _caFile }), new RecordingIngestor());
        await using (var running = new RunningConnector(connector))
        {
            await running.WaitUntilRunningAsync();
        }

        var reason = await RefusalAsync(Source("crl", "a/#", new() { ["caFile"] = _caFile, ["revocation"] = "online" }));
        Assert.Equal(
            $"TLS: the certificate of mqtts://127.0.0.1:{_ports["crl"]} is refused: revocation unreachable: the revocation list of 'CN={CaName}, O=Usine tests' could not be fetched (revocation: online); "
            + "a plant network often has no route to the CRL server: use revocation: none or offline",
            reason);
    }

    [Fact]
    public void Certificate_files_are_checked_with_the_source_so_a_mistake_names_the_setting()
    {
        _certs.Issue("client", "usine-arlon", server: false);
        _certs.Issue("other-client", "usine-other", server: false);
        var validator = new MqttSettingsValidator();
        SourceSettingException Rejected(Dictionary<string, string> settings) =>
            Assert.Throws<SourceSettingException>(() => validator.Validate(Source("tls", "a/#", settings)));

        var source = Source("tls", "a/#", new() { ["caFile"] = "ca/plant.pem" });
        var missing = Assert.Throws<SourceSettingException>(() => validator.Validate(source));
        Assert.Equal(("caFile", $"source '{source.Id}': caFile {Path.Combine(_dir, "ca", "plant.pem")} does not exist (a relative path is read from {_dir}, the folder of the file that defines the source)"), (missing.Setting, missing.Message));

        var notPem = Rejected(new() { ["caFile"] = "client.key" });
        Assert.Equal("caFile", notPem.Setting);
        Assert.Contains("holds no certificate", notPem.Message, StringComparison.Ordinal);

        var wrongKey = Rejected(new() { ["certFile"] = "client.pem", ["keyFile"] = "other-client.key" });
        Assert.Equal("keyFile", wrongKey.Setting);
        Assert.Contains("check that it is the key of this certificate", wrongKey.Message, StringComparison.Ordinal);

        Assert.Equal("keyFile", Rejected(new() { ["keyFile"] = "client.key" }).Setting);
        Assert.Equal("insecureSkipVerify", Rejected(new() { ["caFile"] = _caFile, ["insecureSkipVerify"] = "true" }).Setting);
        Assert.Equal("insecureSkipVerify", Rejected(new() { ["insecureSkipVerify"] = "yes please" }).Setting);

        validator.Validate(Source("tls", "a/#", new() { ["caFile"] = "plant-ca.pem", ["certFile"] = "client.pem", ["keyFile"] = "client.key", ["revocation"] = "offline" }));
    }
}
