using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Usine.Cluster.Tests;

/// <summary>
/// The roles of <c>usine serve</c> as separate processes on a real three-node NATS cluster: what a capture role
/// accepts is committed by a process role, which may be killed with SIGKILL and started again.
/// </summary>
public sealed class RolesTests(ITestOutputHelper output) : IAsyncLifetime
{
    /// <summary>A model of readings (one in a hundred refused) and an HTTP push source, line-1, at flins.</summary>
    internal const string Yaml = """
        models:
          - name: reading
            version: 1
            time: ts
            key: [tag, n]
            fields:
              tag:   { type: string, required: true }
              n:     { type: int, required: true }
              value: { type: double, required: true, min: 0 }
              ts:    { type: timestamp, required: true }
        sources:
          - id: line-1
            plant: flins
            kind: http
            model: reading
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-roles-").FullName;
    private readonly List<UsineProcess> _processes = [];
    private NatsCluster _cluster = null!;
    private string _config = null!;

    public async Task InitializeAsync()
    {
        _cluster = await NatsCluster.StartAsync(output);
        _config = Path.Combine(_dir, "usine.yaml");
        await File.WriteAllTextAsync(_config, Yaml);
    }

    public async Task DisposeAsync()
    {
        foreach (var p in _processes)
        {
            await p.DisposeAsync();
        }

        await _cluster.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<UsineProcess> StartAsync(string name, string role, string data)
    {
        var p = await UsineProcess.StartAsync(name, _config, Path.Combine(_dir, data), ["--role", role, "--nats", _cluster.Urls],
            new Dictionary<string, string> { ["Usine__Nats__AckWait"] = "00:00:03", ["Usine__Nats__Replicas"] = "3" }, output);
        _processes.Add(p);
        return p;
    }

    /// <summary>Message n: one in a hundred has a negative value, which the model refuses.</summary>
    private static string Message(int n) => string.Create(CultureInfo.InvariantCulture,
        $$"""{"tag":"t{{n % 7}}","n":{{n}},"value":{{(n % 100 == 42 ? -1 : n % 50)}},"ts":"2026-12-01T08:{{n / 1000 % 60:00}}:{{n % 60:00}}Z"}""");

    [Fact]
    public async Task What_a_capture_role_accepts_is_committed_once_by_a_process_role_killed_and_started_again()
    {
        var capture = await StartAsync("capture", "capture,api", "capture");
        var process = await StartAsync("process", "process,api", "process");
        const int total = 20_000;
        const int perPush = 500;
        var sent = 0;
        var killed = false;
        while (sent < total)
        {
            await capture.PushAsync("line-1", string.Join("\n", Enumerable.Range(sent, perPush).Select(Message)));
            sent += perPush;

            // Half way, the processor dies at once, whatever it held, and comes back.
            if (!killed && sent >= total / 2)
            {
                killed = true;
                await process.KillAsync();
                _processes.Remove(process);
                await process.DisposeAsync();
                process = await StartAsync("process-again", "process,api", "process");
            }
        }

        var bad = Enumerable.Range(0, total).Count(n => n % 100 == 42);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        long records = 0;
        List<long> letters = [];
        while (DateTime.UtcNow < deadline)
        {
            records = await process.CountAsync("SELECT count(*) FROM m_reading");
            letters = [.. (await process.GetJsonAsync("/api/deadletters?source=line-1&limit=100000")).EnumerateArray().Select(d => d.GetProperty("position").GetInt64())];
            if (records + letters.Count >= total)
            {
                break;
            }

            await Task.Delay(500);
        }

        Assert.True(records + letters.Count == total, $"expected {total} messages accounted for, got {records} records and {letters.Count} dead letters; the processor said:\n{process.Tail}");
        Assert.Equal(total - bad, records);
        Assert.Equal(bad, letters.Distinct().Count());
        Assert.Equal(total - bad, await process.CountAsync("SELECT count(DISTINCT n) FROM m_reading"));
        Assert.Equal(Enumerable.Range(0, total).Where(n => n % 100 != 42).Sum(n => (long)n), await process.CountAsync("SELECT sum(n) FROM m_reading"));

        var status = await capture.GetJsonAsync("/api/status");
        output.WriteLine(status.GetProperty("cluster").ToString());
        Assert.Equal("capture,api", status.GetProperty("cluster").GetProperty("roles").GetString());

        // usine status names every process of the cluster with its roles, and the processors' lag.
        var deadline2 = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        string text;
        while (true)
        {
            text = await RunCliAsync("status", "--server", capture.Url);
            if (text.Contains("process,api", StringComparison.Ordinal) && text.Contains("capture,api", StringComparison.Ordinal) && text.Contains("lag 0 to deliver", StringComparison.Ordinal))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline2, $"expected usine status to list both roles with no lag; it printed:\n{text}");
            await Task.Delay(500);
        }

        output.WriteLine(text);
    }

    private static async Task<string> RunCliAsync(params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "usine.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(start)!;
        var text = await p.StandardOutput.ReadToEndAsync();
        var error = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return text + error;
    }

    [Fact]
    public async Task A_role_other_than_all_without_nats_fails_at_start_saying_what_to_set()
    {
        var url = $"http://127.0.0.1:{UsineProcess.FreePort()}";
        var start = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "usine.dll"), "serve", "--config", _config, "--data", Path.Combine(_dir, "alone"), "--urls", url, "--role", "process"])
        {
            start.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(start)!;
        var error = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.Equal(2, p.ExitCode);
        Assert.Contains("--nats", error, StringComparison.Ordinal);

        start.ArgumentList[^1] = "procesor";
        using var q = System.Diagnostics.Process.Start(start)!;
        var error2 = await q.StandardError.ReadToEndAsync();
        await q.WaitForExitAsync();
        Assert.NotEqual(0, q.ExitCode);
        Assert.Contains("'procesor' is not a role", error2, StringComparison.Ordinal);
    }
}
