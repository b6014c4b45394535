using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

using Xunit.Abstractions;

namespace Usine.Connectors.Testing;

/// <summary>
/// The project's node-opcua test server (tests/opcua-server), started by a test on a free loopback port, which it
/// may kill and start again on the same port. Its counters follow the clock from the origin the test gives, so a
/// restarted server goes on counting as a machine would.
/// </summary>
public sealed class OpcUaServerProcess : IAsyncDisposable
{
    public const string UserName = "painter";
    public const string Password = "oven-secret";

    private readonly ITestOutputHelper _output;
    private readonly string[] _extraArguments;
    private Process? _process;

    private OpcUaServerProcess(int port, long origin, int periodMs, ITestOutputHelper output, string[] extraArguments)
    {
        Port = port;
        Origin = origin;
        PeriodMs = periodMs;
        _output = output;
        _extraArguments = extraArguments;
    }

    public int Port { get; }

    /// <summary>When the counters were at zero, in Unix milliseconds.</summary>
    public long Origin { get; }

    /// <summary>How often the counters go up, in milliseconds.</summary>
    public int PeriodMs { get; }

    public Uri Endpoint => new($"opc.tcp://127.0.0.1:{Port}/UA/Usine");

    /// <summary>Where the server's package is: USINE_OPCUA_SERVER_DIR (scripts/services.sh prints it), or tests/opcua-server of this checkout.</summary>
    public static string Directory
    {
        get
        {
            if (Environment.GetEnvironmentVariable("USINE_OPCUA_SERVER_DIR") is { Length: > 0 } configured)
            {
                return configured;
            }

            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tests", "opcua-server");
                if (File.Exists(Path.Combine(candidate, "server.js")))
                {
                    return candidate;
                }
            }

            throw new InvalidOperationException("tests/opcua-server not found; set USINE_OPCUA_SERVER_DIR (scripts/services.sh start prints it)");
        }
    }

    public static async Task<OpcUaServerProcess> StartAsync(ITestOutputHelper output, int periodMs = 200, params string[] extraArguments)
    {
        var server = new OpcUaServerProcess(FreePort(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), periodMs, output, extraArguments);
        await server.RestartAsync();
        return server;
    }

    /// <summary>Starts the server (again), on the same port, and waits until it listens.</summary>
    public async Task RestartAsync()
    {
        var directory = Directory;
        if (!System.IO.Directory.Exists(Path.Combine(directory, "node_modules", "node-opcua")))
        {
            throw new InvalidOperationException($"node-opcua is not installed in {directory}; run scripts/services.sh start (it runs npm install there)");
        }

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "server.js", "--port", Port.ToString(CultureInfo.InvariantCulture), "--origin", Origin.ToString(CultureInfo.InvariantCulture), "--period", PeriodMs.ToString(CultureInfo.InvariantCulture), "--user", $"{UserName}:{Password}" }.Concat(_extraArguments))
        {
            start.ArgumentList.Add(a);
        }

        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            Write("server: " + e.Data);
            if (e.Data.StartsWith("listening ", StringComparison.Ordinal))
            {
                listening.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null && !e.Data.Contains("NODE-OPCUA-W", StringComparison.Ordinal) && !e.Data.Contains("security-revert", StringComparison.Ordinal))
            {
                Write("server: " + e.Data);
            }
        };
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"the OPC UA test server exited with code {process.ExitCode} before listening"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await listening.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Kills the server at once, as a crash or a power cut would: no goodbye to its clients.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync();
        }
    }

    /// <summary>The counter value the server shows at <paramref name="at"/>.</summary>
    public long CounterAt(DateTime at) => (new DateTimeOffset(at).ToUnixTimeMilliseconds() - Origin) / PeriodMs;

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }

    private void Write(string line)
    {
        try
        {
            _output.WriteLine(line);
        }
        catch (InvalidOperationException)
        {
            // Written after the test finished.
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

