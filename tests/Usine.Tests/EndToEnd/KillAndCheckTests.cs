using System.Diagnostics;
using System.Net.Http.Json;
using System.Net.Sockets;
using Usine.Connectors.Mqtt;
using Xunit.Abstractions;

namespace Usine.Tests.EndToEnd;

/// <summary>
/// The real server killed with SIGKILL several times during an MQTT stream (real mosquitto, QoS 1) and during a file
/// import, restarted each time, then an oracle over what it kept: no valid message lost, none stored twice, and the
/// dead letters exactly the malformed messages, by id.
/// </summary>
public sealed class KillAndCheckTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Kills = 3;
    private const int MalformedEvery = 23;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-kill-").FullName;
    private readonly List<Process> _processes = [];
    private readonly Uri _broker = new(Environment.GetEnvironmentVariable("USINE_TEST_MQTT") is { Length: > 0 } url ? url : "mqtt://127.0.0.1:18830");
    private readonly int _port = UsineProcess.FreePort();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private Process? _server;
    private HttpClient? _http;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _http?.Dispose();
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

    [Fact]
    public async Task An_mqtt_stream_survives_three_kills_with_nothing_lost_nothing_twice_and_every_malformed_message_a_dead_letter()
    {
        await RequireBrokerAsync();
        const int perRun = 1_500;
        var messages = CheckedMessages.Generate('m', perRun * (Kills + 1), MalformedEvery, bomEvery: 31);
        var root = $"usine-kill/{Guid.NewGuid():N}";
        await WriteConfigAsync($$"""
            sources:
              - id: stream
                plant: flins
                kind: mqtt
                topic: "{{root}}/+/checked"
                model: checked
                context: { station: "{station}" }
                settings: { broker: "mqtt://{{_broker.Host}}:{{_broker.Port}}", clientId: "usine-kill-{{Guid.NewGuid():N}}", batchSize: 200, batchMilliseconds: 20 }
            """);
        await StartAsync();
        await WaitForAsync(async () => (await SourceStateAsync("stream")).StartsWith("running", StringComparison.Ordinal), "the MQTT source to be subscribed", () => SourceStateAsync("stream"));

        // Each run of the server gets a slice of the stream; it is killed halfway through its slice, while the rest
        // is still being published, and the next run starts while the broker holds what was not acknowledged.
        await using var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = _broker });
        for (var run = 0; run <= Kills; run++)
        {
            var slice = messages.Skip(run * perRun).Take(perRun).ToList();
            var publishing = Task.Run(async () =>
            {
                foreach (var m in slice)
                {
                    await publisher.PublishAsync($"{root}/ST/checked", m.Payload);
                }
            });

            if (run < Kills)
            {
                var target = (run * perRun) + (perRun / 2);
                await KillWhenAsync("stream", target, messages.Count, $"the stream to commit {target} messages");
                output.WriteLine($"slice {run + 1} was {(publishing.IsCompleted ? "all" : "still being")} published at the kill");
                await publishing;
                await StartAsync();
            }
            else
            {
                await publishing;
            }
        }

        await WaitForAsync(async () => await AccountedAsync("stream") >= messages.Count,
            $"all {messages.Count} messages to be stored or dead letters", () => SourceStateAsync("stream"));
        await CheckAsync("stream", messages, atLeastOnce: true);
    }

    [Fact]
    public async Task A_file_import_survives_three_kills_with_nothing_lost_nothing_twice_and_every_malformed_line_a_dead_letter()
    {
        // The importer commits 25,000 lines at a time, and a poll may see two commits at once: each run is killed after
        // its first commit, so three kills leave at least 25,000 of the 175,000 lines to the last run.
        const int lines = 175_000;
        var messages = CheckedMessages.Generate('f', lines, MalformedEvery);
        await WriteConfigAsync("""
            sources:
              - id: files
                plant: flins
                kind: file
                path: drop
                model: checked
                context: { station: "{station}" }
            """);
        var drop = Path.Combine(_dir, "data", "drop");
        Directory.CreateDirectory(drop);
        await using (var file = File.Create(Path.Combine(drop, "checked.ndjson")))
        {
            foreach (var m in messages)
            {
                await file.WriteAsync(m.Payload);
                file.WriteByte((byte)'\n');
            }
        }

        await StartAsync();
        for (var kill = 1; kill <= Kills; kill++)
        {
            var committed = await CheckpointAsync("files");
            await KillWhenAsync("files", committed + 1, lines, $"the import to commit more than the {committed} lines of the runs before (kill {kill})");
            await StartAsync();
        }

        await WaitForAsync(() => Task.FromResult(File.Exists(Path.Combine(drop, "done", "checked.ndjson"))),
            "the file to be imported and moved to done/", () => SourceStateAsync("files"));
        Assert.Equal(lines, await CheckpointAsync("files"));
        Assert.Equal(lines, await UsineProcess.ScalarAsync(Http, "SELECT count(*) FROM raw_messages WHERE source_id = 'files'"));
        await CheckAsync("files", messages, atLeastOnce: false);
    }

    private HttpClient Http => _http ?? throw new InvalidOperationException("the server is not started");

    /// <summary>The oracle: the records are exactly the valid messages, once each; the dead letters exactly the malformed ones.</summary>
    private async Task CheckAsync(string sourceId, List<CheckedMessage> messages, bool atLeastOnce)
    {
        var valid = messages.Where(m => m.Malformed is null).ToList();
        var malformed = messages.Where(m => m.Malformed is not null).ToList();
        var stored = (await UsineProcess.TextAsync(Http, CheckedMessages.StoredIds(sourceId)) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);
        var dead = (await UsineProcess.TextAsync(Http, CheckedMessages.DeadLetterIds(sourceId)) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries);

        var kindOf = messages.ToDictionary(m => m.Id, m => m.Malformed ?? (m.Payload[0] == 0xEF ? "valid after a byte-order mark" : "valid"));
        string Describe(IEnumerable<string> ids) => string.Join("; ", ids.GroupBy(id => kindOf.GetValueOrDefault(id, "unknown id"))
            .Select(g => $"{g.Count()} {g.Key} (e.g. {string.Join(", ", g.Take(3))})"));

        var lost = valid.Select(m => m.Id).Except(stored).Except(dead).ToList();
        var storedTwice = stored.GroupBy(id => id).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        var storedMalformed = stored.Intersect(malformed.Select(m => m.Id)).ToList();
        var deadValid = dead.Intersect(valid.Select(m => m.Id)).ToList();
        var missingDead = malformed.Select(m => m.Id).Except(dead).ToList();
        var deadTwice = dead.GroupBy(id => id).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        output.WriteLine($"{_clock.Elapsed.TotalSeconds:0.0} s: {sourceId}: {messages.Count} messages, {valid.Count} valid, {malformed.Count} malformed; {stored.Length} records, {dead.Length} dead letters");

        // Over MQTT, a message committed but not yet acknowledged when the server died comes again: its record is
        // dropped as a duplicate by its key, but a malformed one is a second dead letter, at a new position, with the
        // same payload. Only such redeliveries may repeat a dead letter.
        var redelivered = atLeastOnce
            ? (await UsineProcess.TextAsync(Http, $"SELECT coalesce(string_agg(id, ','), '') FROM (SELECT {CheckedMessages.IdOfPayload} AS id FROM raw_messages WHERE source_id = '{sourceId}' GROUP BY 1 HAVING count(*) > 1)") ?? "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet()
            : [];
        var deadTwiceUnexplained = deadTwice.Where(id => !redelivered.Contains(id)).ToList();
        output.WriteLine($"{redelivered.Count} messages were delivered more than once; {deadTwice.Count} dead letters repeat, all of them redeliveries: {deadTwiceUnexplained.Count == 0}");

        var problems = new List<string>();
        void Expect(List<string> ids, string what)
        {
            if (ids.Count > 0)
            {
                problems.Add($"{ids.Count} {what}: {Describe(ids)}");
            }
        }

        Expect(lost, "valid messages lost (neither stored nor dead letters)");
        Expect(storedTwice, "messages stored twice");
        Expect(storedMalformed, "malformed messages stored as records instead of dead letters");
        Expect(missingDead, "malformed messages with no dead letter");
        Expect(deadValid, "valid messages made dead letters");
        Expect(deadTwiceUnexplained, "dead letters repeated without a redelivery");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        Assert.Equal(valid.Count, stored.Length);
    }

    private async Task WriteConfigAsync(string sources) =>
        await File.WriteAllTextAsync(Path.Combine(_dir, "usine.yaml"), CheckedMessages.Model + "\n" + sources);

    private async Task StartAsync()
    {
        _http?.Dispose();
        var url = $"http://127.0.0.1:{_port}";
        _server = UsineProcess.Start("serve", "--config", Path.Combine(_dir, "usine.yaml"), "--data", Path.Combine(_dir, "data"), "--urls", url);
        _processes.Add(_server);
        _http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        await UsineProcess.WaitHealthyAsync(_server, _http, TimeSpan.FromSeconds(60));
        output.WriteLine($"{_clock.Elapsed.TotalSeconds:0.0} s: started");
    }

    /// <summary>SIGKILL as soon as the source's checkpoint is seen at or past <paramref name="position"/>, and before <paramref name="limit"/>, where nothing is left to kill it during.</summary>
    private async Task KillWhenAsync(string sourceId, long position, long limit, string expectation)
    {
        var server = _server ?? throw new InvalidOperationException("the server is not started");
        long seen = 0;
        await WaitForAsync(async () =>
        {
            seen = await CheckpointAsync(sourceId);
            Assert.True(seen < limit, $"expected {expectation}, but the source committed everything ({seen}) first");
            return seen >= position;
        }, expectation, () => SourceStateAsync(sourceId));
        server.Kill(entireProcessTree: true);
        await server.WaitForExitAsync();
        output.WriteLine($"{_clock.Elapsed.TotalSeconds:0.0} s: killed with the checkpoint of '{sourceId}' seen at {seen}");
    }

    private Task<long> CheckpointAsync(string sourceId) =>
        UsineProcess.ScalarAsync(Http, $"SELECT coalesce(max(position), 0) FROM checkpoints WHERE source_id = '{sourceId}'");

    /// <summary>Records and dead letters of the source, by distinct id.</summary>
    private async Task<long> AccountedAsync(string sourceId) =>
        await UsineProcess.ScalarAsync(Http, $"SELECT count(DISTINCT id) FROM m_checked WHERE source_id = '{sourceId}'")
        + await UsineProcess.ScalarAsync(Http, $"SELECT count(DISTINCT {CheckedMessages.IdOfPayload}) FROM dead_letters WHERE source_id = '{sourceId}'");

    private async Task<string> SourceStateAsync(string sourceId)
    {
        var source = await Http.GetFromJsonAsync<JsonElement>($"/api/sources/{sourceId}");
        var error = source.TryGetProperty("lastError", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        return source.GetProperty("state").GetString() + (error is null ? "" : $" ({error})");
    }

    /// <summary>Polls until <paramref name="condition"/> holds; past the deadline, fails saying what was expected and the source's state.</summary>
    private async Task WaitForAsync(Func<Task<bool>> condition, string expectation, Func<Task<string>>? state = null)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (!await condition())
        {
            if (_server is { HasExited: true } s)
            {
                throw new InvalidOperationException($"usine serve exited with code {s.ExitCode} while waiting for {expectation}: {UsineProcess.ErrorOutput(s)}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"expected {expectation} within {Deadline}; the source is {(state is null ? "?" : await state())}");
            }

            await Task.Delay(5);
        }
    }

    private async Task RequireBrokerAsync()
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await tcp.ConnectAsync(_broker.Host, _broker.Port, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            throw new InvalidOperationException($"no MQTT broker answers at {_broker} ({ex.Message}); run `scripts/services.sh start` first (CI starts it)", ex);
        }
    }
}
