namespace Usine.Tests.EndToEnd;

/// <summary>The README's run command: <c>usine demo</c>, as a real process.</summary>
public sealed class DemoTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-demo-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The <c>usine ...</c> lines of the README's tour, without their comments, split into arguments.</summary>
    private static List<string[]> TourCommands()
    {
        var readme = File.ReadAllText(Path.Combine(RepoRoot.Path, "README.md"));
        var start = readme.IndexOf("## A short tour", StringComparison.Ordinal);
        var block = readme.IndexOf("```sh", start, StringComparison.Ordinal) + 5;
        var end = readme.IndexOf("```", block, StringComparison.Ordinal);
        var commands = new List<string[]>();
        foreach (var raw in readme[block..end].Split('\n'))
        {
            var line = raw.Trim();
            if (!line.StartsWith("usine ", StringComparison.Ordinal))
            {
                continue;
            }

            var args = new List<string>();
            var current = new System.Text.StringBuilder();
            var quoted = false;
            foreach (var c in line["usine ".Length..])
            {
                if (c == '"')
                {
                    quoted = !quoted;
                }
                else if (c == '#' && !quoted)
                {
                    break;
                }
                else if (c == ' ' && !quoted)
                {
                    if (current.Length > 0)
                    {
                        args.Add(current.ToString());
                        current.Clear();
                    }
                }
                else
                {
                    current.Append(c);
                }
            }

            if (current.Length > 0)
            {
                args.Add(current.ToString());
            }

            commands.Add([.. args]);
        }

        return commands;
    }

    [Fact]
    public async Task The_demo_fills_records_avatars_and_dead_letters_from_mqtt_and_the_file_drop()
    {
        var url = $"http://127.0.0.1:{UsineProcess.FreePort()}";
        using var demo = UsineProcess.Start("demo", "--data", Path.Combine(_dir, "d"), "--urls", url, "--mqtt-port", UsineProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture), "--rate", "1000");
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(url) };
            await UsineProcess.WaitHealthyAsync(demo, http, TimeSpan.FromSeconds(60));

            // Wait until every kind of output has appeared: records of the MQTT models and of the energy file drop,
            // avatars, and dead letters of the deliberately bad messages.
            var deadline = DateTime.UtcNow.AddSeconds(90);
            JsonElement status;
            while (true)
            {
                status = JsonDocument.Parse(await http.GetStringAsync("/api/status")).RootElement.Clone();
                var records = status.GetProperty("records");
                if (records.GetProperty("screwing").GetInt64() > 0 && records.GetProperty("machine_state").GetInt64() > 0
                    && records.GetProperty("process_value").GetInt64() > 0 && records.GetProperty("energy").GetInt64() > 0
                    && status.GetProperty("deadLetters").GetProperty("open").GetInt64() > 0)
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, $"the demo did not produce every kind of data within 90 s: {status}");
                Assert.False(demo.HasExited, $"the demo exited: {UsineProcess.ErrorOutput(demo)}");
                await Task.Delay(200);
            }

            Assert.Equal(["douai", "flins", "valladolid"], status.GetProperty("plants").EnumerateArray().Select(p => p.GetString()));
            Assert.True(status.GetProperty("avatars").GetInt64() > 50, $"few avatars: {status}");
            Assert.All(status.GetProperty("sources").EnumerateArray().Where(s => s.GetProperty("kind").GetString() == "mqtt"),
                s => Assert.Equal("running", s.GetProperty("state").GetString()));

            // The demo's plants work shifts, and its machines carry their state as an attribute.
            var shifts = JsonDocument.Parse(await http.GetStringAsync("/api/models/screwing/aggregate?bucket=shift")).RootElement;
            Assert.Contains(shifts.GetProperty("buckets").EnumerateArray(), b => b.GetProperty("shift").GetString() is "morning" or "afternoon" or "night" or "day" or "evening");
            var machines = JsonDocument.Parse(await http.GetStringAsync("/api/avatars?type=machine&limit=1000")).RootElement;
            var state = machines.EnumerateArray().Select(m => m.GetProperty("attributes")).First(a => a.TryGetProperty("state", out _)).GetProperty("state").GetString();
            var inState = JsonDocument.Parse(await http.GetStringAsync($"/api/avatars?type=machine&attr.state={state}")).RootElement;
            Assert.NotEmpty(inState.EnumerateArray());

            // The README's tour runs against this demo: every command in it must work as written.
            var tour = TourCommands();
            Assert.True(tour.Count >= 10, $"the README's tour has {tour.Count} usine commands; was it moved?");
            foreach (var command in tour)
            {
                var (exit, output, error) = await UsineProcess.RunInAsync(_dir, TimeSpan.FromSeconds(60), [.. command, "--server", url]);
                Assert.True(exit == 0, $"usine {string.Join(' ', command)} exited {exit}: {error}{output}");
            }

            // The tour's export wrote a Parquet file of the NOK screwing results: DuckDB reads it back.
            var export = Path.Combine(_dir, "nok.parquet");
            Assert.True(File.Exists(export), "usine export did not write nok.parquet");
            using (var conn = new DuckDB.NET.Data.DuckDBConnection("Data Source=:memory:"))
            {
                conn.Open();
                using var cmd = conn.CreateCommand();
                cmd.CommandText = $"SELECT count(*), count(*) FILTER (WHERE status <> 'NOK') FROM read_parquet('{export}')";
                using var r = cmd.ExecuteReader();
                r.Read();
                Assert.Equal(0L, r.GetInt64(1));
            }
        }
        finally
        {
            demo.Kill(entireProcessTree: true);
            await demo.WaitForExitAsync();
        }
    }
}
