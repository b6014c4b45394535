using System.Diagnostics;
using System.Globalization;

namespace Usine.Tests.EndToEnd;

/// <summary>The real executable, killed with SIGKILL in the middle of an import, then restarted.</summary>
public sealed class CrashRecoveryTests : IAsyncLifetime
{
    private const int Lines = 500_000;
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-e2e-").FullName;
    private readonly List<Process> _processes = [];
    private string _config = "";
    private string _file = "";
    private int _bad;

    public async Task InitializeAsync()
    {
        _config = Path.Combine(_dir, "usine.yaml");
        await File.WriteAllTextAsync(_config, TestDefinitions.Yaml);
        _file = Path.Combine(_dir, "screwing.ndjson");
        var sb = new StringBuilder();
        var t0 = new DateTime(2026, 11, 1, 6, 0, 0, DateTimeKind.Utc);
        for (var i = 0; i < Lines; i++)
        {
            var vin = "VF1" + (i % 5000).ToString("D14", CultureInfo.InvariantCulture);
            var ts = t0.AddSeconds(i).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            if (i % 97 == 13)
            {
                _bad++;
                sb.Append(i % 2 == 0 ? "{\"VIN\": broken" : TestDefinitions.Screwing(vin, "ST" + (i % 20), ts, 999)).Append('\n');
            }
            else
            {
                sb.Append(TestDefinitions.Screwing(vin, "ST" + (i % 20), ts, 10 + (i % 50))).Append('\n');
            }
        }

        await File.WriteAllTextAsync(_file, sb.ToString());
    }

    public Task DisposeAsync()
    {
        foreach (var p in _processes)
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }

            p.Dispose();
        }

        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    private async Task<(Process Server, HttpClient Http, string Url)> StartServerAsync(int port)
    {
        var url = $"http://127.0.0.1:{port}";
        var server = UsineProcess.Start("serve", "--config", _config, "--data", Path.Combine(_dir, "data"), "--urls", url);
        _processes.Add(server);
        var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        await UsineProcess.WaitHealthyAsync(server, http, TimeSpan.FromSeconds(60));
        return (server, http, url);
    }

    [Fact]
    public async Task A_server_killed_mid_import_resumes_and_stores_every_valid_line_exactly_once()
    {
        var port = UsineProcess.FreePort();
        var (server, http, url) = await StartServerAsync(port);

        var import = UsineProcess.Start("import", _file, "--source", "line1", "--server", url);
        _processes.Add(import);

        // Kill once a first batch is committed and before the last one is.
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (await UsineProcess.ScalarAsync(http, "SELECT coalesce(max(position), 0) FROM checkpoints") == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the import committed nothing within 120 s");
            Assert.False(import.HasExited, $"the import ended before the kill: {UsineProcess.ErrorOutput(import)}");
            await Task.Delay(5);
        }

        server.Kill(entireProcessTree: true);
        await server.WaitForExitAsync();
        await import.WaitForExitAsync();
        Assert.NotEqual(0, import.ExitCode);
        http.Dispose();

        (server, http, url) = await StartServerAsync(port);
        var committed = await UsineProcess.ScalarAsync(http, "SELECT coalesce(max(position), 0) FROM checkpoints");
        Assert.True(committed is > 0 and < Lines, $"the kill was meant to land mid-import, but {committed} of {Lines} lines were committed");
        var resumed = await UsineProcess.RunAsync(TimeSpan.FromMinutes(5), "import", _file, "--source", "line1", "--server", url);
        Assert.True(resumed.ExitCode == 0, $"re-import failed ({resumed.ExitCode}): {resumed.Err}{resumed.Out}");

        var valid = Lines - _bad;
        Assert.Equal(valid, await UsineProcess.ScalarAsync(http, "SELECT count(*) FROM m_screwing"));
        Assert.Equal(valid, await UsineProcess.ScalarAsync(http, "SELECT count(DISTINCT raw_position) FROM m_screwing"));
        Assert.Equal(_bad, await UsineProcess.ScalarAsync(http, "SELECT count(*) FROM dead_letters"));
        Assert.Equal(_bad, await UsineProcess.ScalarAsync(http, "SELECT count(DISTINCT position) FROM dead_letters"));
        Assert.Equal(Lines, await UsineProcess.ScalarAsync(http, "SELECT count(*) FROM raw_messages"));
        Assert.Equal(Lines, await UsineProcess.ScalarAsync(http, "SELECT max(position) FROM checkpoints"));
        Assert.Equal(valid, await UsineProcess.ScalarAsync(http, "SELECT sum(n) FROM r_screwing_1h"));

        // A third import of the same file stores nothing.
        var again = await UsineProcess.RunAsync(TimeSpan.FromMinutes(5), "import", _file, "--source", "line1", "--server", url);
        Assert.True(again.ExitCode == 0, again.Err);
        Assert.Equal(valid, await UsineProcess.ScalarAsync(http, "SELECT count(*) FROM m_screwing"));
        Assert.Equal(_bad, await UsineProcess.ScalarAsync(http, "SELECT count(*) FROM dead_letters"));
        Assert.Equal(Lines, await UsineProcess.ScalarAsync(http, "SELECT count(*) FROM raw_messages"));
        http.Dispose();
    }

    [Fact]
    public async Task A_config_with_a_mistake_stops_the_start_naming_the_file_and_line()
    {
        var bad = Path.Combine(_dir, "bad.yaml");
        await File.WriteAllTextAsync(bad, TestDefinitions.Yaml.Replace("type: double, unit: Nm", "type: decimal, unit: Nm", StringComparison.Ordinal));

        var r = await UsineProcess.RunAsync(TimeSpan.FromMinutes(1), "serve", "--config", bad, "--data", Path.Combine(_dir, "d2"), "--urls", $"http://127.0.0.1:{UsineProcess.FreePort()}");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains("bad.yaml:11: type 'decimal' is not one of string, int, double, bool, timestamp", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_connector_setting_stops_the_start_with_one_line_naming_the_file_the_line_and_the_key_to_write()
    {
        var bad = Path.Combine(_dir, "bad-setting.yaml");
        await File.WriteAllTextAsync(bad, TestDefinitions.Yaml + "\n" + """
              - id: oven-mqtt
                plant: arlon
                kind: mqtt
                topic: "arlon/paint/+/oven"
                model: screwing
                settings:
                  broker: mqtts://broker.arlon.local:8883
                  cafile: plant-ca.pem

            """);
        var line = Array.IndexOf(File.ReadAllLines(bad), "      cafile: plant-ca.pem") + 1;

        var r = await UsineProcess.RunAsync(TimeSpan.FromMinutes(1), "serve", "--config", bad, "--data", Path.Combine(_dir, "d3"), "--urls", $"http://127.0.0.1:{UsineProcess.FreePort()}");

        Assert.Equal(1, r.ExitCode);
        var error = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith($"error: {bad}:{line}: source 'oven-mqtt': unknown setting 'cafile'; write 'caFile' (the mqtt settings are broker, ", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Importing_into_an_unknown_source_or_a_missing_file_exits_2_with_one_line()
    {
        var (_, http, url) = await StartServerAsync(UsineProcess.FreePort());

        var unknown = await UsineProcess.RunAsync(TimeSpan.FromMinutes(1), "import", _file, "--source", "nope", "--server", url);
        var missing = await UsineProcess.RunAsync(TimeSpan.FromMinutes(1), "import", Path.Combine(_dir, "none.csv"), "--source", "line1", "--server", url);
        var write = await UsineProcess.RunAsync(TimeSpan.FromMinutes(1), "sql", "DROP TABLE m_screwing", "--server", url);

        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no source with id 'nope'", unknown.Err, StringComparison.Ordinal);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("none.csv", missing.Err, StringComparison.Ordinal);
        Assert.Equal(2, write.ExitCode);
        Assert.Contains("only read-only SELECT", write.Err, StringComparison.Ordinal);
        Assert.Equal(0, await UsineProcess.ScalarAsync(http, "SELECT count(*) FROM m_screwing"));
        http.Dispose();
    }
}
