using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Usine.Cluster.Tests;

/// <summary>
/// A three-node nats-server cluster with JetStream of a test's own, on free loopback ports, from the Debian
/// package (scripts/services.sh installs it and exports USINE_NATS_SERVER). A node can be stopped and started
/// again; its JetStream files stay.
/// </summary>
public sealed class NatsCluster : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("usine-nats-").FullName;
    private readonly Process?[] _nodes = new Process?[3];
    private readonly int[] _ports = [FreePort(), FreePort(), FreePort()];
    private readonly int[] _routes = [FreePort(), FreePort(), FreePort()];
    private readonly int[] _leafs = [FreePort(), FreePort(), FreePort()];
    private readonly ITestOutputHelper? _output;
    private readonly string? _domain;
    private NatsOpts _client = NatsOpts.Default;
    private bool _single;

    private NatsCluster(ITestOutputHelper? output, string? domain)
    {
        _output = output;
        _domain = domain;
    }

    /// <summary>The leaf-node URLs edge servers connect to, when the cluster has a JetStream domain.</summary>
    public IEnumerable<string> LeafUrls => _leafs.Select(p => $"nats-leaf://127.0.0.1:{p}");

    /// <summary>Every node's client URL, comma-separated, as Usine:Nats:Urls takes them.</summary>
    public string Urls => _single ? UrlOf(0) : string.Join(",", _ports.Select(p => $"nats://127.0.0.1:{p}"));

    public static string ServerPath => Environment.GetEnvironmentVariable("USINE_NATS_SERVER") is { Length: > 0 } path ? path : "nats-server";

    /// <param name="domain">A JetStream domain, and a leaf-node listener on every node for edge servers.</param>
    public static async Task<NatsCluster> StartAsync(ITestOutputHelper? output = null, string? domain = null)
    {
        var cluster = new NatsCluster(output, domain);
        for (var i = 0; i < 3; i++)
        {
            cluster.WriteConfig(i);
            cluster.Launch(i);
        }

        await cluster.WaitForJetStreamAsync();
        return cluster;
    }

    private void WriteConfig(int i)
    {
        var routes = string.Join(", ", _routes.Select(r => $"\"nats-route://127.0.0.1:{r}\""));
        File.WriteAllText(Path.Combine(_directory, $"n{i}.conf"), $$"""
            server_name: n{{i}}
            listen: 127.0.0.1:{{_ports[i]}}
            jetstream {
              store_dir: "{{Path.Combine(_directory, $"n{i}")}}"
              max_memory_store: 64MB
              max_file_store: 4GB
              {{(_domain is null ? "" : "domain: " + _domain)}}
            }
            cluster {
              name: usine-test
              listen: 127.0.0.1:{{_routes[i]}}
              routes: [{{routes}}]
            }
            {{(_domain is null ? "" : $"leafnodes {{ listen: 127.0.0.1:{_leafs[i]} }}")}}
            """);
    }

    private void Launch(int i)
    {
        var info = new ProcessStartInfo(ServerPath, ["-c", Path.Combine(_directory, $"n{i}.conf")])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {ServerPath}");
        process.ErrorDataReceived += (_, e) => Log(i, e.Data);
        process.OutputDataReceived += (_, e) => Log(i, e.Data);
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        _nodes[i] = process;
    }

    private void Log(int node, string? line)
    {
        if (line is not null && (line.Contains("[ERR]", StringComparison.Ordinal) || line.Contains("[WRN]", StringComparison.Ordinal)))
        {
            try
            {
                _output?.WriteLine($"nats n{node}: {line}");
            }
            catch (InvalidOperationException)
            {
                // The test has ended.
            }
        }
    }

    /// <summary>
    /// One node with JetStream and <paramref name="settings"/> in its configuration (an <c>authorization</c> or a
    /// <c>tls</c> block); <paramref name="client"/> is how the fixture itself connects to see that it is up.
    /// </summary>
    public static async Task<NatsCluster> StartSingleAsync(string settings, NatsOpts client, ITestOutputHelper? output = null)
    {
        var server = new NatsCluster(output, null) { _client = client, _single = true };
        File.WriteAllText(Path.Combine(server._directory, "n0.conf"), $$"""
            server_name: single
            listen: 127.0.0.1:{{server._ports[0]}}
            jetstream {
              store_dir: "{{Path.Combine(server._directory, "n0")}}"
              max_memory_store: 64MB
              max_file_store: 1GB
            }
            {{settings}}
            """);
        server.Launch(0);
        await server.WaitForJetStreamAsync(0);
        return server;
    }

    /// <summary>Starts a plant's edge server: one node with JetStream in domain <paramref name="domain"/>, a leaf node of this cluster.</summary>
    public async Task<NatsCluster> StartEdgeAsync(string domain)
    {
        var edge = new NatsCluster(_output, domain);
        var remotes = string.Join(", ", LeafUrls.Select(u => $"\"{u}\""));
        File.WriteAllText(Path.Combine(edge._directory, "n0.conf"), $$"""
            server_name: edge-{{domain}}
            listen: 127.0.0.1:{{edge._ports[0]}}
            jetstream {
              store_dir: "{{Path.Combine(edge._directory, "n0")}}"
              max_memory_store: 64MB
              max_file_store: 1GB
              domain: {{domain}}
            }
            leafnodes {
              remotes: [ { urls: [{{remotes}}] } ]
            }
            """);
        edge.Launch(0);
        await edge.WaitForJetStreamAsync(0);
        return edge;
    }

    /// <summary>The client URL of node <paramref name="i"/>.</summary>
    public string UrlOf(int i) => $"nats://127.0.0.1:{_ports[i]}";

    /// <summary>Stops node <paramref name="i"/> at once, as a machine that goes away.</summary>
    public async Task StopNodeAsync(int i)
    {
        var process = _nodes[i] ?? throw new InvalidOperationException($"node n{i} is not running");
        process.Kill();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        process.Dispose();
        _nodes[i] = null;
    }

    /// <summary>Starts nodes again, on their ports and files, and waits until each serves JetStream.</summary>
    public async Task StartNodeAsync(params int[] nodes)
    {
        foreach (var i in nodes)
        {
            Launch(i);
        }

        await WaitForJetStreamAsync();
    }

    /// <summary>Waits until JetStream answers on every running node (a meta leader is elected).</summary>
    public async Task WaitForJetStreamAsync(int? only = null)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        for (var i = 0; i < 3; i++)
        {
            if (_nodes[i] is null || (only is { } o && o != i))
            {
                continue;
            }

            while (true)
            {
                try
                {
                    await using var nats = new NatsConnection(_client with { Url = $"nats://127.0.0.1:{_ports[i]}", ConnectTimeout = TimeSpan.FromSeconds(2) });
                    await nats.ConnectAsync();
                    var js = new NatsJSContext(nats);
                    using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                    await js.GetAccountInfoAsync(cts.Token);
                    break;
                }
                catch (Exception ex) when (DateTime.UtcNow < deadline && ex is NatsException or OperationCanceledException or TimeoutException or SocketException)
                {
                    await Task.Delay(200);
                }
                catch (Exception ex)
                {
                    throw new TimeoutException($"JetStream did not answer on node n{i} (127.0.0.1:{_ports[i]}) within 60 s: {ex.Message}", ex);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < 3; i++)
        {
            if (_nodes[i] is { } p)
            {
                try
                {
                    p.Kill();
                    await p.WaitForExitAsync();
                }
                catch (InvalidOperationException)
                {
                    // Exited already.
                }

                p.Dispose();
            }
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held; the temporary folder is cleaned later.
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
