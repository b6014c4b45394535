using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MQTTnet;
using MQTTnet.Protocol;
using Usine.Connectors.Mqtt.Tests;
using Usine.Operations;

namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>
/// The host on a TLS listener of a mosquitto of the test's own, whose certificate comes from a plant CA the test
/// makes, as an mqtt source would be: with that CA in caFile it stores what an edge node publishes; with another
/// CA it does not connect, and its job says why.
/// </summary>
public sealed class SparkplugTlsTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string CaName = "Usine Sparkplug Test CA";
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-sparkplug-tls-").FullName;
    private TestCertificates _certs = null!;
    private Process _mosquitto = null!;
    private string _caFile = "";
    private int _plainPort;
    private int _tlsPort;

    public async Task InitializeAsync()
    {
        _certs = new TestCertificates(_dir, CaName);
        _caFile = _certs.WriteCa("plant-ca.pem");
        var broker = _certs.IssueBroker("tls");
        (_plainPort, _tlsPort) = (FreePort(), FreePort());
        var config = Path.Combine(_dir, "mosquitto.conf");
        await File.WriteAllLinesAsync(config,
        [
            $"listener {_plainPort} 127.0.0.1", "allow_anonymous true", "persistence false", "log_dest stderr",
            $"listener {_tlsPort} 127.0.0.1", $"certfile {broker.Cert}", $"keyfile {broker.Key}",
            .. Environment.IsPrivilegedProcess ? ["user root"] : Array.Empty<string>(),
        ]);
        var executable = new[] { "/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("mosquitto is not installed; run `scripts/services.sh start`, which installs it");
        _mosquitto = Process.Start(new ProcessStartInfo(executable, ["-c", config]) { RedirectStandardError = true, UseShellExecute = false })!;
        _mosquitto.ErrorDataReceived += (_, e) => Write(e.Data);
        _mosquitto.BeginErrorReadLine();
        foreach (var port in new[] { _plainPort, _tlsPort })
        {
            await TestTimeouts.Eventually(() => Listening(port), $"mosquitto to listen on 127.0.0.1:{port}");
        }
    }

    public async Task DisposeAsync()
    {
        _mosquitto.Kill();
        await _mosquitto.WaitForExitAsync();
        _mosquitto.Dispose();
        _certs.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool Listening(int port)
    {
        try
        {
            using var tcp = new TcpClient();
            tcp.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private void Write(string? line)
    {
        try
        {
            if (line is not null)
            {
                output.WriteLine("mosquitto: " + line);
            }
        }
        catch (InvalidOperationException)
        {
            // Output after the test finished.
        }
    }

    [Fact]
    public async Task Over_mqtts_with_the_plant_CA_in_caFile_the_host_stores_the_births_and_data_of_an_edge_node()
    {
        await using var platform = new SparkplugPlatform(new Uri($"mqtts://127.0.0.1:{_tlsPort}"), output, $", caFile: \"{_caFile}\"");
        await platform.StartAsync();

        // The edge node publishes on the plain listener of the same broker: what is checked is the host's connection.
        var client = new MqttClientFactory().CreateMqttClient();
        await using var edge = new EdgeConnection(client);
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", _plainPort).WithClientId("edge-" + platform.Group).Build());
        var birth = new SparkplugPayload { Timestamp = 1_800_000_000_000, Seq = 0 };
        birth.Metrics.Add(new SparkplugMetric { Name = "bdSeq", DataType = SparkplugDataType.UInt64 }.SetLong(0));
        birth.Metrics.Add(new SparkplugMetric { Name = "temp", Alias = 1, DataType = SparkplugDataType.Double }.SetDouble(20));
        var data = new SparkplugPayload { Timestamp = 1_800_000_001_000, Seq = 1 };
        data.Metrics.Add(new SparkplugMetric { Alias = 1 }.SetDouble(21.5));
        await Publish(client, $"spBv1.0/{platform.Group}/NBIRTH/E1", birth);
        await Publish(client, $"spBv1.0/{platform.Group}/NDATA/E1", data);

        await TestTimeouts.Eventually(() => platform.Records().Count >= 2, "the birth and the data to be stored over TLS", () => string.Join(", ", platform.Records()));
        Assert.Equal(["temp=20", "temp=21.5"], platform.Records());
        Assert.Equal(JobState.Running, platform.Job.State);
    }

    [Fact]
    public async Task A_broker_certificate_from_another_CA_keeps_the_host_away_and_its_job_says_which_CA_to_set()
    {
        using var other = _certs.MakeCa("Other Plant CA");
        var otherFile = Path.Combine(_dir, "other-ca.pem");
        await File.WriteAllTextAsync(otherFile, other.ExportCertificatePem());
        await using var platform = new SparkplugPlatform(new Uri($"mqtts://127.0.0.1:{_tlsPort}"), output, $", caFile: \"{otherFile}\"");
        var source = platform.Definitions.Sources["body-welds"];
        await platform.Engine.StartAsync(CancellationToken.None);
        await using var connector = new SparkplugSourceConnector(source);
        var job = new JobRegistry().Stream(source.Id);
        var runner = new SourceRunner(connector, platform.Engine, connector.RunnerOptions, job);
        using var stop = new CancellationTokenSource();
        var run = runner.RunAsync(stop.Token);

        await TestTimeouts.Eventually(() => job.LastError is not null, "the first connection attempt to fail", () => job.State.ToString());
        Assert.StartsWith($"TLS: the certificate of mqtts://127.0.0.1:{_tlsPort} is refused: untrusted issuer 'CN={CaName}, O=Usine tests'", job.LastError, StringComparison.Ordinal);
        Assert.Contains($"set caFile to the CA that issued the broker's certificate", job.LastError, StringComparison.Ordinal);
        Assert.NotEqual(ConnectorState.Running, runner.State);

        await stop.CancelAsync();
        try
        {
            await run;
        }
        catch (OperationCanceledException)
        {
            // It ends by cancellation.
        }
    }

    private static Task Publish(IMqttClient client, string topic, SparkplugPayload payload) =>
        client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(SparkplugCodec.Write(payload).ToArray())
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

    private sealed class EdgeConnection(IMqttClient client) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            if (client.IsConnected)
            {
                await client.DisconnectAsync();
            }

            client.Dispose();
        }
    }
}
