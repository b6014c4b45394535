using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Npgsql;

namespace Usine.Cluster.Tests;

/// <summary>
/// Replay by time range in a cluster, on a real three-node NATS cluster and PostgreSQL: the raw messages are read
/// back from the JetStream stream while it holds the range, and from the store's raw zone when it no longer does.
/// </summary>
public sealed partial class ReplayTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int InRange = 3_000;
    private const int After = 1_000;

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-replay-").FullName;
    private readonly string _schema = "replay_" + Guid.NewGuid().ToString("N")[..10];
    private NatsCluster _nats = null!;
    private UsineProcess _usine = null!;

    private static string Postgres => Environment.GetEnvironmentVariable("USINE_TEST_POSTGRES") is { Length: > 0 } c ? c
        : throw new InvalidOperationException("USINE_TEST_POSTGRES is not set: run the tests through scripts/test.sh, or eval \"$(scripts/services.sh start)\" first");

    public async Task InitializeAsync()
    {
        _nats = await NatsCluster.StartAsync(output);
        var config = Path.Combine(_dir, "usine.yaml");
        await File.WriteAllTextAsync(config, RolesTests.Yaml);
        _usine = await UsineProcess.StartAsync("usine", config, Path.Combine(_dir, "data"), ["--role", "all", "--nats", _nats.Urls], new Dictionary<string, string>
        {
            ["Usine__Nats__Replicas"] = "3",
            ["Usine__Store__Kind"] = "postgres",
            ["Usine__Store__ConnectionString"] = Postgres,
            ["Usine__Store__Schema"] = _schema,
        }, output);
    }

    public async Task DisposeAsync()
    {
        await _usine.DisposeAsync();
        await _nats.DisposeAsync();
        await using (var db = NpgsqlDataSource.Create(Postgres))
        {
            await using var drop = db.CreateCommand($"DROP SCHEMA IF EXISTS {_schema} CASCADE");
            await drop.ExecuteNonQueryAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Message n: one in a hundred has a negative value, which the model refuses.</summary>
    private static string Message(int n) => string.Create(CultureInfo.InvariantCulture,
        $$"""{"tag":"t{{n % 7}}","n":{{n}},"value":{{(n % 100 == 42 ? -1 : n % 50)}},"ts":"2026-12-01T08:{{n / 60 % 60:00}}:{{n % 60:00}}Z"}""");

    private static bool Bad(int n) => n % 100 == 42;

    /// <summary>The records the test deletes behind the store's back: one in ten, none of them bad.</summary>
    private static bool Deleted(int n) => n % 10 == 3;

    private async Task PushAsync(int from, int count)
    {
        for (var start = from; start < from + count; start += 500)
        {
            await _usine.PushAsync("line-1", string.Join("\n", Enumerable.Range(start, 500).Select(Message)));
        }
    }

    private async Task<int> SqlAsync(string sql)
    {
        await using var db = NpgsqlDataSource.Create(Postgres);
        await using var cmd = db.CreateCommand(sql.Replace("{schema}", _schema, StringComparison.Ordinal));
        return await cmd.ExecuteNonQueryAsync();
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> ReplayAsync(DateTime from, DateTime to)
    {
        var request = JsonSerializer.Serialize(new { source = "line-1", from = from.ToString("O", CultureInfo.InvariantCulture), to = to.ToString("O", CultureInfo.InvariantCulture) });
        using var r = await _usine.Http.PostAsync("/api/replay", new StringContent(request, Encoding.UTF8, "application/json"));
        var text = await r.Content.ReadAsStringAsync();
        output.WriteLine($"replay {from:O} to {to:O}: {(int)r.StatusCode} {text}");
        return (r.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task A_range_the_stream_holds_is_replayed_from_JetStream_storing_what_was_deleted_once_and_a_range_it_no_longer_holds_is_said_so()
    {
        const int total = InRange + After;
        var t0 = DateTime.UtcNow;
        await PushAsync(0, InRange);
        var t1 = DateTime.UtcNow;
        await PushAsync(InRange, After);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        long records;
        long letters;
        while (true)
        {
            records = await _usine.CountAsync("SELECT count(*) FROM m_reading");
            letters = await _usine.CountAsync("SELECT count(*) FROM dead_letters");
            if (records + letters >= total)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"expected {total} messages committed within 60 s, got {records} records and {letters} dead letters:\n{_usine.Tail}");
            await Task.Delay(200);
        }

        var inRange = Enumerable.Range(0, InRange).ToArray();
        var bad = inRange.Count(Bad);
        var deleted = inRange.Count(Deleted);
        Assert.Equal(total - Enumerable.Range(0, total).Count(Bad), records);

        // 1. The range starts before the stream was made: the stream cannot hold all of it, the raw zone is read.
        Assert.Equal(Enumerable.Range(0, total).Count(Deleted), await SqlAsync("DELETE FROM {schema}.m_reading WHERE n % 10 = 3"));
        var (status, fallback) = await ReplayAsync(t0 - TimeSpan.FromHours(1), t1);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("raw", fallback.GetProperty("origin").GetString());
        Assert.Contains("the JetStream stream USINE_RAW holds the messages received from", fallback.GetProperty("note").GetString(), StringComparison.Ordinal);
        Assert.Contains("the store's raw zone was read instead", fallback.GetProperty("note").GetString(), StringComparison.Ordinal);
        Assert.Equal(InRange, fallback.GetProperty("read").GetInt64());
        Assert.Equal(deleted, fallback.GetProperty("stored").GetInt64());

        // 2. The raw zone is emptied and the same records deleted again: only the stream can give them back.
        Assert.Equal(deleted, await SqlAsync("DELETE FROM {schema}.m_reading WHERE n % 10 = 3 AND n < " + InRange));
        Assert.True(await SqlAsync("DELETE FROM {schema}.raw_messages") >= total);
        var (status2, replay) = await ReplayAsync(t0, t1);
        Assert.Equal(HttpStatusCode.OK, status2);
        Assert.Equal("jetstream", replay.GetProperty("origin").GetString());
        Assert.Equal(JsonValueKind.Null, replay.GetProperty("note").ValueKind);
        Assert.Equal(InRange, replay.GetProperty("read").GetInt64());
        Assert.Equal(deleted, replay.GetProperty("stored").GetInt64());
        Assert.Equal(InRange - bad - deleted, replay.GetProperty("duplicates").GetInt64());
        Assert.Equal(bad, replay.GetProperty("failed").GetInt64());
        Assert.Equal(0, replay.GetProperty("deadLettersNew").GetInt64());
        Assert.Equal(bad, replay.GetProperty("deadLettersUnchanged").GetInt64() + replay.GetProperty("deadLettersUpdated").GetInt64());

        // Every message is a record or a dead letter, once; the records outside the range were not touched.
        Assert.Equal(total - Enumerable.Range(0, total).Count(Bad) - Enumerable.Range(InRange, After).Count(Deleted), await _usine.CountAsync("SELECT count(*) FROM m_reading"));
        Assert.Equal(await _usine.CountAsync("SELECT count(*) FROM m_reading"), await _usine.CountAsync("SELECT count(DISTINCT n) FROM m_reading"));
        Assert.Equal(inRange.Where(n => !Bad(n)).Sum(n => (long)n), await _usine.CountAsync($"SELECT sum(n) FROM m_reading WHERE n < {InRange}"));
        Assert.Equal(letters, await _usine.CountAsync("SELECT count(*) FROM dead_letters"));

        var audit = (await _usine.GetJsonAsync("/api/audit?action=replay.range")).EnumerateArray().First();
        Assert.Equal("jetstream", audit.GetProperty("detail").GetProperty("origin").GetString());
        Assert.Equal(InRange, audit.GetProperty("detail").GetProperty("outcome").GetProperty("read").GetInt64());
        Assert.StartsWith($"partly failed: {bad} of {InRange}", audit.GetProperty("result").GetString(), StringComparison.Ordinal);

        // 3. The stream loses its oldest messages (as MaxAge does): the range now starts before what it holds, and
        // the raw zone has nothing either — the answer names the time from which the stream holds every message.
        await using (var nats = new NatsConnection(new NatsOpts { Url = _nats.Urls }))
        {
            var js = new NatsJSContext(nats);
            var stream = await js.GetStreamAsync("USINE_RAW");
            await stream.PurgeAsync(new StreamPurgeRequest { Seq = InRange / 2 });
        }

        var (status3, gone) = await ReplayAsync(t0, t1);
        Assert.Equal(HttpStatusCode.NotFound, status3);
        var detail = gone.GetProperty("error").GetString()!;
        Assert.Contains("the store's raw zone has none in the range", detail, StringComparison.Ordinal);
        var held = HeldFrom().Match(detail);
        Assert.True(held.Success, $"expected the answer to name the time from which the stream holds every message: {detail}");
        var from = DateTime.Parse(held.Groups[1].Value, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);
        Assert.InRange(from, t0, t1 + TimeSpan.FromMinutes(5));
    }

    [GeneratedRegex("USINE_RAW holds the messages received from (\\S+) on")]
    private static partial Regex HeldFrom();
}
