using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.Sockets;

namespace Usine.Tests.EndToEnd;

/// <summary>Runs the real <c>usine</c> executable (the build output of Usine.Cli) as a child process.</summary>
internal static class UsineProcess
{
    public static string Dll { get; } = Path.Combine(AppContext.BaseDirectory, "usine.dll");

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Process, System.Text.StringBuilder> Errors = [];

    /// <summary>What a process started with <see cref="Start(string[])"/> wrote to stderr so far.</summary>
    public static string ErrorOutput(Process p)
    {
        if (!Errors.TryGetValue(p, out var sb))
        {
            return "";
        }

        lock (sb)
        {
            return sb.ToString();
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Starts usine; its output is drained in the background (an undrained pipe would block it).</summary>
    public static Process Start(params string[] args) => Start(drain: true, args);

    private static Process Start(bool drain, string[] args, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null)
        {
            psi.WorkingDirectory = workingDirectory;
        }

        psi.ArgumentList.Add(Dll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start usine");
        if (drain)
        {
            var err = new System.Text.StringBuilder();
            p.ErrorDataReceived += (_, e) =>
            {
                lock (err)
                {
                    err.AppendLine(e.Data);
                }
            };
            p.OutputDataReceived += (_, _) => { };
            p.BeginErrorReadLine();
            p.BeginOutputReadLine();
            Errors.Add(p, err);
        }

        return p;
    }

    public static Task<(int ExitCode, string Out, string Err)> RunAsync(TimeSpan timeout, params string[] args) => RunInAsync(null, timeout, args);

    /// <summary>Runs a command to its end in <paramref name="workingDirectory"/> (default: the test's).</summary>
    public static async Task<(int ExitCode, string Out, string Err)> RunInAsync(string? workingDirectory, TimeSpan timeout, params string[] args)
    {
        using var p = Start(drain: false, args, workingDirectory);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"usine {string.Join(' ', args)} did not finish within {timeout}: {await stderr}");
        }

        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Waits until the server answers /health, or fails saying what the server printed.</summary>
    public static async Task WaitHealthyAsync(Process server, HttpClient http, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"usine serve exited with code {server.ExitCode}: {ErrorOutput(server)}");
            }

            try
            {
                using var r = await http.GetAsync("/health");
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"usine serve did not answer /health within {timeout}");
            }

            await Task.Delay(100);
        }
    }

    public static async Task<long> ScalarAsync(HttpClient http, string sql)
    {
        var v = await FirstCellAsync(http, sql);
        return v.ValueKind == JsonValueKind.Null ? 0 : v.GetInt64();
    }

    /// <summary>The first cell of a query's answer as text; null for SQL NULL.</summary>
    public static async Task<string?> TextAsync(HttpClient http, string sql)
    {
        var v = await FirstCellAsync(http, sql);
        return v.ValueKind == JsonValueKind.Null ? null : v.GetString();
    }

    private static async Task<JsonElement> FirstCellAsync(HttpClient http, string sql)
    {
        using var r = await http.PostAsJsonAsync("/api/sql", new { sql });
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, $"{sql} answered {(int)r.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("rows")[0][0].Clone();
    }
}
