using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Connectors.Mqtt;
using Usine.Tests.Api;

namespace Usine.Tests.Operations;

/// <summary>
/// The data directory on a real filesystem that fills up: a small tmpfs mounted for the test (the tests run as
/// root, here and in CI). While it is full, health, the sources, their jobs and an alert say so; once space
/// returns, everything recovers by itself and what was sent is stored once.
/// </summary>
public sealed class FullDiskTests : IAsyncLifetime
{
    private const string Topic = "fulldisk/cell-{0}/screwing";

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-fulldisk-").FullName;
    private string _data = null!;
    private bool _mounted;
    private EmbeddedMqttBroker _broker = null!;
    private PlatformServices _platform = null!;
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    private static string Yaml => TestDefinitions.Yaml[..TestDefinitions.Yaml.IndexOf("  - id: csv-line1", StringComparison.Ordinal)] + """
          - id: cells
            plant: flins
            kind: mqtt
            topic: fulldisk/+/screwing
            model: screwing
            context: { shop: assembly, line: L1, station: "{station}" }
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
            settings: { batchMilliseconds: 20 }
        """;

    public async Task InitializeAsync()
    {
        _data = Path.Combine(_dir, "data");
        Directory.CreateDirectory(_data);
        await Tmpfs.MountAsync(_data, megabytes: 48);
        _mounted = true;
        _broker = new EmbeddedMqttBroker(new EmbeddedMqttBrokerOptions { Port = 0 });
        await _broker.StartAsync(CancellationToken.None);
        var config = Path.Combine(_dir, "usine.yaml");
        await File.WriteAllTextAsync(config, Yaml);
        _app = ServerHarness.Build(new UsineOptions
        {
            ConfigPath = config,
            DataDirectory = _data,
            ArchiveTimeOfDay = null,
            JobCheckInterval = TimeSpan.FromMilliseconds(200),
            StoreProbeAfter = TimeSpan.FromSeconds(1),
            Alerting = new AlertEngineOptions { EvaluateEvery = TimeSpan.FromMilliseconds(200) },
        }, time: null, [new(UsineServer.MqttSection + ":DefaultBroker", _broker.Address.ToString())]);
        _http = await ServerHarness.ServeAsync(_app);
        _platform = new PlatformServices(_app.Services);
    }

    public async Task DisposeAsync()
    {
        _http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        if (_broker is not null)
        {
            await _broker.DisposeAsync();
        }

        if (_mounted)
        {
            await Tmpfs.UnmountAsync(_data);
        }

        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_full_data_directory_is_reported_by_health_sources_jobs_and_an_alert_until_space_returns_and_nothing_is_lost_or_doubled()
    {
        await WaitFor("the MQTT source connects", async () => (await Source("cells")).GetProperty("state").GetString() == "running");
        Assert.Equal(2, (await Push(Batch(0, 2))).GetProperty("stored").GetInt32());
        Assert.Equal("ok", (await Get("/health")).GetProperty("status").GetString());

        await using (var filler = FillDisk())
        {
            // A push is refused as not durable, saying why. Enough messages that their log entry cannot fit in what
            // is left of the log file's last page, which a full filesystem still lets the store write into.
            var refused = await _http.PostAsync("/api/sources/line1/messages", new StringContent(Batch(2, 50), Encoding.UTF8, "application/json"));
            var body = await refused.Content.ReadAsStringAsync();
            Assert.True(refused.StatusCode == HttpStatusCode.ServiceUnavailable, $"expected 503, got {(int)refused.StatusCode}: {body}");
            Assert.Contains("the data directory's filesystem is full", body, StringComparison.Ordinal);

            // Messages published now reach the connector, which cannot commit them and holds them unacknowledged.
            await using (var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = _broker.Address, ClientId = "fulldisk-cells" }))
            {
                for (var i = 0; i < 30; i++)
                {
                    await publisher.PublishAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, Topic, i % 3), Screwing(100 + i));
                }
            }

            await WaitFor("health turns degraded with the reason", async () => (await Get("/health")) is var h
                && h.GetProperty("status").GetString() == "degraded"
                && h.GetProperty("reasons").EnumerateArray().Any(r => r.GetString()!.Contains("the data directory's filesystem is full", StringComparison.Ordinal)));

            // Anyone may ask for health: it tells why, not where the data lives.
            var health = await (await _http.GetAsync("/health")).Content.ReadAsStringAsync();
            Assert.DoesNotContain(_data, health, StringComparison.Ordinal);
            Assert.Contains("DATA/usine.duckdb", health, StringComparison.Ordinal);
            await WaitFor("the pushed source and its job are degraded with the commit failure", async () => (await Source("line1")) is var s
                && s.GetProperty("state").GetString() == "degraded" && s.GetProperty("jobState").GetString() == "degraded"
                && s.GetProperty("lastError").GetString()!.Contains("filesystem is full", StringComparison.Ordinal));
            await WaitFor("the MQTT source retries, holding its messages, and says why", async () => (await Source("cells")) is var s
                && s.GetProperty("state").GetString() == "retrying" && s.GetProperty("jobState").GetString() == "degraded"
                && s.GetProperty("lastError").GetString()!.Contains("filesystem is full", StringComparison.Ordinal));
            Assert.Contains("filesystem is full", _platform.Jobs.Get("stream:line1")!.LastError, StringComparison.Ordinal);
            Assert.Contains("filesystem is full", _platform.Jobs.Get("stream:cells")!.LastError, StringComparison.Ordinal);
            await WaitFor("the store-failing alert fires", async () => (await Get("/api/alerts")).GetProperty("firing").EnumerateArray()
                .Any(a => a.GetProperty("rule").GetString() == "store-failing" && a.GetProperty("summary").GetString()!.Contains("filesystem is full", StringComparison.Ordinal)));
            var status = await Get("/api/status");
            Assert.Equal("degraded", status.GetProperty("store").GetProperty("status").GetString());
            Assert.Contains(status.GetProperty("store").GetProperty("failing").EnumerateArray(), f => f.GetProperty("source").GetString() == "cells");
        }

        // Space is back: the MQTT source commits what it held, the push goes through again, all recovers.
        Assert.Equal(2, (await Push(Batch(2, 2))).GetProperty("stored").GetInt32());
        await WaitFor("the MQTT source commits its 30 messages and runs again", async () => (await Source("cells")) is var s
            && s.GetProperty("state").GetString() == "running" && s.GetProperty("stored").GetInt64() == 30);
        await WaitFor("health is ok again", async () => (await Get("/health")).GetProperty("status").GetString() == "ok");
        await WaitFor("the alert resolves", async () => !(await Get("/api/alerts")).GetProperty("firing").EnumerateArray().Any(a => a.GetProperty("rule").GetString() == "store-failing"));
        var line1 = await Source("line1");
        Assert.Equal("ready", line1.GetProperty("state").GetString());
        Assert.Equal("running", line1.GetProperty("jobState").GetString());
        Assert.Contains((await Get("/api/alerts/history")).EnumerateArray(), e => e.GetProperty("rule").GetString() == "store-failing" && e.GetProperty("status").GetString() == "resolved");

        // Nothing lost, nothing twice: 4 pushed and 30 published records, each message landed once.
        Assert.Equal(34, (await Scalar("SELECT count(*) FROM m_screwing")).GetInt64());
        Assert.Equal(34, (await Scalar("SELECT count(*) FROM raw_messages")).GetInt64());
        Assert.Equal(34, (await Scalar("SELECT count(DISTINCT (stream_id, position)) FROM raw_messages")).GetInt64());
        foreach (var source in new[] { "line1", "cells" })
        {
            var reconcile = await Get($"/api/reconcile?source={source}");
            Assert.True(reconcile.GetProperty("consistent").GetBoolean(), $"{source} does not reconcile: {reconcile}");
        }
    }

    [Fact]
    public async Task Once_space_returns_a_probe_write_ends_the_failure_without_waiting_for_more_data()
    {
        await using (var filler = FillDisk())
        {
            // Enough messages that their log entry cannot fit in what is left of the log file's last page.
            var refused = await _http.PostAsync("/api/sources/line1/messages", new StringContent(Batch(0, 50), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            await WaitFor("health turns degraded", async () => (await Get("/health")).GetProperty("status").GetString() == "degraded");

            // Still full: the probe fails too, and the failure stays reported.
            await WaitFor("a probe is tried while the disk is full", () => Task.FromResult(DateTime.UtcNow - _platform.Engine.Commits.LastAttemptAt > TimeSpan.FromSeconds(2)));
            Assert.Equal("degraded", (await Get("/health")).GetProperty("status").GetString());
        }

        await WaitFor("a probe write ends the failure", async () => (await Get("/health")).GetProperty("status").GetString() == "ok");
        var line1 = await Source("line1");
        Assert.Equal("ready", line1.GetProperty("state").GetString());
        Assert.Equal("running", line1.GetProperty("jobState").GetString());
        Assert.Equal(0, (await Scalar("SELECT count(*) FROM m_screwing")).GetInt64());
    }

    private static string Screwing(int i) =>
        TestDefinitions.Screwing(TestDefinitions.Vin1, $"ST{i:000}", DateTime.UtcNow.AddMinutes(-10).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture), 10 + (i % 50));

    private static string Batch(int first, int count) => string.Join("\n", Enumerable.Range(first, count).Select(Screwing));

    private async Task<JsonElement> Push(string body) =>
        await ServerHarness.Json(await _http.PostAsync("/api/sources/line1/messages", new StringContent(body, Encoding.UTF8, "application/json")), HttpStatusCode.OK);

    private async Task<JsonElement> Get(string path) => await ServerHarness.Json(await _http.GetAsync(path), HttpStatusCode.OK);

    private Task<JsonElement> Source(string id) => Get("/api/sources/" + id);

    private async Task<JsonElement> Scalar(string sql)
    {
        var r = await ServerHarness.Json(await _http.PostAsync("/api/sql", new StringContent(JsonSerializer.Serialize(new { sql }), Encoding.UTF8, "application/json")), HttpStatusCode.OK);
        return r.GetProperty("rows")[0][0];
    }

    private static async Task WaitFor(string what, Func<Task<bool>> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"expected within 30 s: {what}");
            await Task.Delay(50);
        }
    }

    /// <summary>Fills the data directory's filesystem to the last byte; disposing it frees the space again.</summary>
    private FileFiller FillDisk() => new(Path.Combine(_data, "filler"));

    private sealed class FileFiller : IAsyncDisposable
    {
        private readonly string _path;

        public FileFiller(string path)
        {
            _path = path;
            using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None);
            foreach (var size in new[] { 1 << 20, 1 << 12, 1 })
            {
                var chunk = new byte[size];
                try
                {
                    while (true)
                    {
                        f.Write(chunk);
                    }
                }
                catch (IOException)
                {
                    // Full at this chunk size: go on with a smaller one, down to the last byte.
                }
            }

            var free = new DriveInfo(path).AvailableFreeSpace;
            Assert.True(free == 0, $"the tmpfs still has {free} bytes free after filling it");
        }

        public ValueTask DisposeAsync()
        {
            File.Delete(_path);
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>
/// A tmpfs mounted for a test, with the mount command as root runs it. Mounting needs root (or CAP_SYS_ADMIN);
/// the tests run as root here and in CI, so a refusal fails the test with the reason rather than skipping it.
/// </summary>
internal static class Tmpfs
{
    public static async Task MountAsync(string directory, int megabytes)
    {
        var (code, output) = await RunAsync("mount", "-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", directory);
        if (code != 0)
        {
            var ci = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? " (CI must run the tests as root)" : "";
            throw new InvalidOperationException($"mounting a {megabytes} MB tmpfs at {directory} failed (exit {code}: {output.Trim()}); "
                + $"the full-disk tests need to mount a small filesystem: run them as root{ci}");
        }
    }

    public static async Task UnmountAsync(string directory)
    {
        var (code, output) = await RunAsync("umount", directory);
        if (code != 0)
        {
            // Something still holds a file open: detach it now, the kernel frees it when the last file closes.
            (code, output) = await RunAsync("umount", "-l", directory);
            Assert.True(code == 0, $"unmounting the tmpfs at {directory} failed: {output}");
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string command, params string[] args)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        try
        {
            using var p = Process.Start(start)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            return (p.ExitCode, await stdout + await stderr);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, $"{command} could not be run: {ex.Message}");
        }
    }
}
