using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Usine.Connectors.Mqtt.Tests;

/// <summary>A mosquitto of a test's own, on a free loopback port, that the test may kill and start again.</summary>
internal sealed class MosquittoProcess : IAsyncDisposable
{
    private readonly string _directory;
    private readonly string _config;
    private readonly ITestOutputHelper _output;
    private Process? _process;

    private MosquittoProcess(int port, string directory, ITestOutputHelper output)
    {
        Port = port;
        _directory = directory;
        _config = Path.Combine(directory, "mosquitto.conf");
        _output = output;
    }

    public int Port { get; }

    public Uri Url => new($"mqtt://127.0.0.1:{Port}");

    /// <param name="moreConfig">Lines added to the configuration, such as more listeners (mosquitto reads their files at start).</param>
    public static async Task<MosquittoProcess> StartAsync(ITestOutputHelper output, IEnumerable<string>? moreConfig = null)
    {
        var directory = Directory.CreateTempSubdirectory("usine-mosquitto-").FullName;
        var broker = new MosquittoProcess(FreePort(), directory, output);

        // No persistence: a restart forgets sessions and subscriptions, like a broker replaced by a new one.
        var lines = new List<string>
        {
            $"listener {broker.Port} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            "max_inflight_messages 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        };
        if (Environment.IsPrivilegedProcess)
        {
            lines.Add("user root"); // mosquitto otherwise tries to switch to a 'mosquitto' user
        }

        lines.AddRange(moreConfig ?? []);
        File.WriteAllLines(broker._config, lines);
        broker.Launch();

        // A test that starts a connector at once must not see a refused first attempt.
        await WaitForPortAsync(broker.Port);
        return broker;
    }

    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException("mosquitto is not running");
        process.Kill();
        await process.WaitForExitAsync().WaitAsync(TestTimeouts.Default);
        process.Dispose();
        _process = null;
    }

    public async Task RestartAsync()
    {
        Launch();
        await WaitForPortAsync(Port);
    }

    /// <summary>Completes once something accepts connections on 127.0.0.1:<paramref name="port"/>; the timeout says which port.</summary>
    public static async Task WaitForPortAsync(int port)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Default;
        while (true)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
            catch (SocketException ex)
            {
                throw new TimeoutException($"expected mosquitto to listen on 127.0.0.1:{port} within {TestTimeouts.Default}: {ex.Message}", ex);
            }
        }
    }

    private void Launch()
    {
        var process = new Process
        {
            StartInfo = new ProcessStartInfo(MosquittoFixture.MosquittoExecutable(), ["-c", _config])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            },
        };
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _process = process;
    }

    private void Write(string? line)
    {
        if (line is null)
        {
            return;
        }

        try
        {
            _output.WriteLine($"mosquitto:{Port}: {line}");
        }
        catch (InvalidOperationException)
        {
            // Output after the test finished.
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await KillAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }
}
