using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Usine.Cluster.Tests;

/// <summary>A <c>usine serve</c> of the test's own, a real process on a free port, which the test may kill with SIGKILL.</summary>
public sealed class UsineProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private UsineProcess(Process process, string url, string name)
    {
        _process = process;
        Url = url;
        Name = name;
        Http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };
    }

    public string Url { get; }

    public string Name { get; }

    public HttpClient Http { get; }

    /// <summary>The last lines the process wrote, for a failure's message.</summary>
    public string Tail => string.Join("\n", _lines.TakeLast(30));

    /// <summary>Starts <c>usine serve</c> with <paramref name="args"/> and waits until it answers on /health.</summary>
    public static async Task<UsineProcess> StartAsync(string name, string config, string data, IEnumerable<string> args, IDictionary<string, string>? environment = null, ITestOutputHelper? output = null)
    {
        var url = $"http://127.0.0.1:{FreePort()}";
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "usine.dll"), "serve", "--config", config, "--data", data, "--urls", url, .. args])
        {
            start.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start usine");
        var usine = new UsineProcess(process, url, name);
        void Line(string? line)
        {
            if (line is null)
            {
                return;
            }

            usine._lines.Enqueue(line);
            while (usine._lines.Count > 200)
            {
                usine._lines.TryDequeue(out _);
            }

            try
            {
                output?.WriteLine($"{name}: {line}");
            }
            catch (InvalidOperationException)
            {
                // The test has ended.
            }
        }

        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{name} exited with {process.ExitCode} at start:\n{usine.Tail}");
            }

            try
            {
                using var r = await usine.Http.GetAsync("/health");
                if (r.IsSuccessStatusCode)
                {
                    return usine;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{name} did not answer on {url}/health within 90 s:\n{usine.Tail}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Kills the process at once (SIGKILL): nothing it held in memory is saved.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>A GET of the API, as JSON.</summary>
    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var r = await Http.GetAsync(path);
        var body = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"GET {path} on {Name} answered {(int)r.StatusCode}: {body}");
        }

        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>
    /// Pushes NDJSON to a source and fails unless it is accepted. A 503 says to send again (a fresh cluster still
    /// electing its stream's leader, a node away): the push is sent again for up to a minute, as a pusher does.
    /// </summary>
    public async Task PushAsync(string sourceId, string ndjson)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (true)
        {
            using var r = await Http.PostAsync($"/api/sources/{sourceId}/messages", new StringContent(ndjson, System.Text.Encoding.UTF8, "application/x-ndjson"));
            if (r.StatusCode == HttpStatusCode.ServiceUnavailable && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500);
                continue;
            }

            if (!r.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"push to {Name} answered {(int)r.StatusCode}: {await r.Content.ReadAsStringAsync()}");
            }

            return;
        }
    }

    /// <summary>One number from a SQL query on the API.</summary>
    public async Task<long> CountAsync(string sql)
    {
        using var r = await Http.PostAsync("/api/sql", new StringContent(JsonSerializer.Serialize(new { sql }), System.Text.Encoding.UTF8, "application/json"));
        var body = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"SQL on {Name} answered {(int)r.StatusCode}: {body}");
        }

        return JsonDocument.Parse(body).RootElement.GetProperty("rows")[0][0].GetInt64();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Gone already.
        }

        _process.Dispose();
        Http.Dispose();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
