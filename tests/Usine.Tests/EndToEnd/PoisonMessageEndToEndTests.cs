using Usine.Connectors.Mqtt;
using Usine.Tests.Api;
using Usine.Tests.Pipeline;

namespace Usine.Tests.EndToEnd;

/// <summary>
/// One bad message among many, through each way data comes in: an HTTP push, a file import and a real MQTT
/// broker. A custom step throws for one message and another holds an unpaired surrogate escape; both become dead
/// letters, every other message is stored, and the source keeps running.
/// </summary>
public sealed class PoisonMessageEndToEndTests : IAsyncLifetime
{
    private const int Count = 300;
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-poison-").FullName;
    private readonly string _topic = $"usine-test/{Guid.NewGuid():N}";
    private readonly Uri _broker = new(Environment.GetEnvironmentVariable("USINE_TEST_MQTT") is { Length: > 0 } url ? url : "mqtt://127.0.0.1:18830");
    private ServerHarness _server = null!;

    public async Task InitializeAsync()
    {
        var yaml = TestDefinitions.Yaml + $$"""

              - id: mqtt-line
                plant: flins
                kind: mqtt
                topic: "{{_topic}}/+"
                model: screwing
                context: { shop: assembly, line: L1, station: "{station}" }
                map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
                settings: { broker: "{{_broker}}" }
            """;
        _server = await ServerHarness.StartAsync(_dir, yaml, null, o => o with { StartConnectors = true, EvaluateAlerts = false },
            steps: [new PoisonMessageTests.ThrowOn("ST666")]);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Count messages, numbered in their event time; one throws in the custom step, one cannot be read as text.</summary>
    private static List<string> Batch(int offset)
    {
        var lines = new List<string>();
        for (var i = 0; i < Count; i++)
        {
            var station = i == 100 ? "ST666" : "ST" + (i % 7 * 10 + 10).ToString("000", System.Globalization.CultureInfo.InvariantCulture);
            var time = new DateTime(2026, 11, 26, 6, 0, 0, DateTimeKind.Utc).AddSeconds(offset + i).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
            var line = TestDefinitions.Screwing(TestDefinitions.Vin1, station, time, 10 + (i % 50));
            lines.Add(i == 200 ? line.Replace("\"status\":\"OK\"", "\"status\":\"sur-\\ud800x\"", StringComparison.Ordinal) : line);
        }

        return lines;
    }

    private async Task<(long Records, string[] DeadLetters)> Outcome(string source)
    {
        var records = (await _server.Scalar($"SELECT count(*) FROM m_screwing WHERE source_id = '{source}'")).GetInt64();
        var dead = await _server.Post("/api/sql", new { sql = $"SELECT stage || ': ' || reason FROM dead_letters WHERE source_id = '{source}' ORDER BY position" });
        return (records, [.. dead.GetProperty("rows").EnumerateArray().Select(r => r[0].GetString()!)]);
    }

    private static void OnlyThePoisonIsDead((long Records, string[] DeadLetters) outcome, long expectedRecords)
    {
        Assert.Equal(expectedRecords, outcome.Records);
        Assert.Equal(2, outcome.DeadLetters.Length);
        Assert.StartsWith("step: step 'throw-on-ST666' failed: station ST666 is cursed", outcome.DeadLetters[0], StringComparison.Ordinal);
        Assert.StartsWith("decode: invalid JSON: the text at $.result.status holds an unpaired surrogate escape", outcome.DeadLetters[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_http_push_stores_every_message_but_the_poisoned_ones_and_answers_200()
    {
        var pushed = await _server.Push("line1", string.Join('\n', Batch(0)));

        Assert.Equal(Count - 2, pushed.GetProperty("stored").GetInt32());
        Assert.Equal(2, pushed.GetProperty("deadLetters").GetInt32());
        OnlyThePoisonIsDead(await Outcome("line1"), Count - 2);

        // The same source takes the next push as usual.
        var next = await _server.Push("line1", TestDefinitions.Screwing(TestDefinitions.Vin2, "ST010", "2026-11-26T09:00:00Z", 12));
        Assert.Equal(1, next.GetProperty("stored").GetInt32());
    }

    [Fact]
    public async Task A_file_import_stores_every_line_but_the_poisoned_ones()
    {
        var r = await _server.Http.PostAsync("/api/sources/line1/import?name=shift.ndjson", new StringContent(string.Join('\n', Batch(1000)) + "\n", Encoding.UTF8, "application/x-ndjson"));
        var body = await ServerHarness.Json(r, HttpStatusCode.OK);

        Assert.Equal(Count - 2, body.GetProperty("stored").GetInt32());
        OnlyThePoisonIsDead(await Outcome("line1"), Count - 2);
    }

    [Fact]
    public async Task An_mqtt_source_dead_letters_the_poisoned_messages_and_keeps_running()
    {
        var source = _server.Platform.Definitions.Sources["mqtt-line"];
        await WaitFor(() => _server.Platform.SourceState(source).State == "running", "the MQTT source to subscribe");

        await using var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = _broker });
        foreach (var line in Batch(2000))
        {
            await publisher.PublishAsync(_topic + "/screwing", Encoding.UTF8.GetBytes(line), CancellationToken.None);
        }

        await WaitFor(async () => (await Outcome("mqtt-line")).Records == Count - 2, $"{Count - 2} records from MQTT");
        OnlyThePoisonIsDead(await Outcome("mqtt-line"), Count - 2);
        Assert.Equal(("running", null), _server.Platform.SourceState(source));

        // And it goes on: the next message is stored as well.
        await publisher.PublishAsync(_topic + "/screwing", Encoding.UTF8.GetBytes(TestDefinitions.Screwing(TestDefinitions.Vin2, "ST010", "2026-11-26T09:00:00Z", 12)), CancellationToken.None);
        await WaitFor(async () => (await Outcome("mqtt-line")).Records == Count - 1, "the message after the poisoned ones");
    }

    private static Task WaitFor(Func<bool> condition, string what) => WaitFor(() => Task.FromResult(condition()), what);

    private static async Task WaitFor(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"waited 30 s for {what}");
            await Task.Delay(50);
        }
    }
}
