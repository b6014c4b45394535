using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Usine.Connectors.Sparkplug.Tests;

internal static class TestTimeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    /// <summary>Polls <paramref name="condition"/> until it holds; the timeout says what was expected and what was seen.</summary>
    public static async Task Eventually(Func<bool> condition, string expectation, Func<string>? seen = null)
    {
        var deadline = DateTime.UtcNow + Default;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"expected {expectation} within {Default}" + (seen is null ? "" : $"; saw {seen()}"));
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Polls an asynchronous <paramref name="condition"/> (an HTTP request) until it holds, as <see cref="Eventually"/> does.</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string expectation, Func<Task<string>>? seen = null)
    {
        var deadline = DateTime.UtcNow + Default;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"expected {expectation} within {Default}" + (seen is null ? "" : $"; saw {await seen()}"));
            }

            await Task.Delay(100);
        }
    }
}

/// <summary>
/// The mosquitto of <c>scripts/services.sh start</c> at <c>USINE_TEST_MQTT</c>, and the edge node script it installs
/// at <c>USINE_SPARKPLUG_EDGE</c>. Either missing fails the tests that need them, saying how to get them.
/// </summary>
public sealed class SparkplugServicesFixture : IAsyncLifetime
{
    public Uri Broker { get; } = new(Environment.GetEnvironmentVariable("USINE_TEST_MQTT") is { Length: > 0 } url ? url : "mqtt://127.0.0.1:18830");

    public string EdgeScript { get; } = Environment.GetEnvironmentVariable("USINE_SPARKPLUG_EDGE") is { Length: > 0 } path ? path : FindEdgeScript();

    public async Task InitializeAsync()
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await tcp.ConnectAsync(Broker.Host, Broker.Port, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            throw new InvalidOperationException($"no MQTT broker answers at {Broker} ({ex.Message}); run `scripts/services.sh start` first (or set USINE_TEST_MQTT)", ex);
        }

        if (!Directory.Exists(Path.Combine(Path.GetDirectoryName(EdgeScript)!, "node_modules", "sparkplug-client")))
        {
            throw new InvalidOperationException($"the edge node's npm packages are not installed beside {EdgeScript}; run `scripts/services.sh start`, which installs them");
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private static string FindEdgeScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "sparkplug-edge", "edge.js");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return "tests/sparkplug-edge/edge.js";
    }
}

[CollectionDefinition(Name)]
public sealed class SparkplugServicesCollection : ICollectionFixture<SparkplugServicesFixture>
{
    public const string Name = "sparkplug services";
}

/// <summary>
/// A real Sparkplug B edge node (sparkplug-client on node) against mosquitto: the test writes commands on its
/// stdin and reads the events it writes on its stdout.
/// </summary>
internal sealed class EdgeNodeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<JsonObject> _events = [];
    private readonly ITestOutputHelper _output;

    private EdgeNodeProcess(Process process, ITestOutputHelper output)
    {
        _process = process;
        _output = output;
    }

    public static EdgeNodeProcess Start(SparkplugServicesFixture services, string group, string edge, ITestOutputHelper output)
    {
        var info = new ProcessStartInfo("node")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(services.EdgeScript)!,
        };
        info.ArgumentList.Add(services.EdgeScript);
        info.ArgumentList.Add(services.Broker.ToString().TrimEnd('/'));
        info.ArgumentList.Add(group);
        info.ArgumentList.Add(edge);
        var process = Process.Start(info) ?? throw new InvalidOperationException("node did not start");
        var edgeNode = new EdgeNodeProcess(process, output);
        process.OutputDataReceived += (_, e) => edgeNode.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 } line)
            {
                Log($"edge {edge} stderr: {line}", output);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return edgeNode;
    }

    private static void Log(string line, ITestOutputHelper output)
    {
        try
        {
            output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // The test is over; its output is closed.
        }
    }

    private void OnLine(string? line)
    {
        if (string.IsNullOrWhiteSpace(line))
        {
            return;
        }

        Log("edge: " + line, _output);
        if (JsonNode.Parse(line) is JsonObject e)
        {
            lock (_events)
            {
                _events.Add(e);
            }
        }
    }

    /// <summary>The events so far of type <paramref name="name"/>.</summary>
    public IReadOnlyList<JsonObject> Events(string name)
    {
        lock (_events)
        {
            return [.. _events.Where(e => (string?)e["event"] == name)];
        }
    }

    /// <summary>The number of NCMDs asking for a rebirth the edge node received.</summary>
    public int RebirthRequests => Events("ncmd").Count(e => (bool?)e["rebirth"] == true);

    public Task WaitForAsync(string name, int count, string expectation) =>
        TestTimeouts.Eventually(() => Events(name).Count >= count, expectation, () => $"{Events(name).Count} '{name}' event(s)");

    public async Task SendAsync(object command)
    {
        await _process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(command));
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Kills the process: its connection drops without a word, so the broker publishes its will, the NDEATH.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }
}
