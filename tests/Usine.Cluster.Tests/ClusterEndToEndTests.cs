using System.Globalization;
using System.Text;
using Npgsql;
using Usine.Connectors.Mqtt;

namespace Usine.Cluster.Tests;

/// <summary>
/// The cluster's contract end to end, on real servers: an MQTT capture role, two processors and an API role on a
/// three-node NATS cluster and PostgreSQL. During the run one processor is killed with SIGKILL five times and a
/// NATS node is stopped and started again; afterwards records and dead letters account for every message sent,
/// none twice.
/// </summary>
public sealed class ClusterEndToEndTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Total = 300_000;
    private const int Chunks = 30;

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-cluster-").FullName;
    private readonly string _schema = "cluster_" + Guid.NewGuid().ToString("N")[..10];
    private readonly string _topic = "usine-cluster/" + Guid.NewGuid().ToString("N")[..10];
    private readonly List<UsineProcess> _processes = [];
    private NatsCluster _nats = null!;
    private string _config = null!;

    private static string Postgres => Environment.GetEnvironmentVariable("USINE_TEST_POSTGRES") is { Length: > 0 } c ? c
        : throw new InvalidOperationException("USINE_TEST_POSTGRES is not set: run the tests through scripts/test.sh, or eval \"$(scripts/services.sh start)\" first");

    private static Uri Mqtt => new(Environment.GetEnvironmentVariable("USINE_TEST_MQTT") is { Length: > 0 } m ? m
        : throw new InvalidOperationException("USINE_TEST_MQTT is not set: run the tests through scripts/test.sh"));

    public async Task InitializeAsync()
    {
        _nats = await NatsCluster.StartAsync(output);
        _config = Path.Combine(_dir, "usine.yaml");
        await File.WriteAllTextAsync(_config, $$"""
            models:
              - name: reading
                version: 1
                time: ts
                key: [tag, n]
                avatar: { type: machine, id: "{tag}" }
                fields:
                  tag:   { type: string, required: true }
                  n:     { type: int, required: true }
                  value: { type: double, required: true, min: 0 }
                  ts:    { type: timestamp, required: true }
                rollups:
                  - { bucket: 1h, by: [tag], measures: { value: [count, sum] } }
            sources:
              - id: line-1
                plant: flins
                kind: mqtt
                model: reading
                topic: "{{_topic}}/#"
                settings: { broker: "{{Mqtt}}", batchSize: 2000 }
            """);
    }

    public async Task DisposeAsync()
    {
        foreach (var p in _processes)
        {
            await p.DisposeAsync();
        }

        await _nats.DisposeAsync();
        await using (var db = NpgsqlDataSource.Create(Postgres))
        {
            await using var drop = db.CreateCommand($"DROP SCHEMA IF EXISTS {_schema} CASCADE");
            await drop.ExecuteNonQueryAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private async Task<UsineProcess> StartAsync(string name, string role, bool postgres)
    {
        var environment = new Dictionary<string, string>
        {
            ["Usine__Nats__AckWait"] = "00:00:05",
            ["Usine__Nats__Replicas"] = "3",
            ["Usine__Nats__FetchSize"] = "2000",
        };
        if (postgres)
        {
            environment["Usine__Store__Kind"] = "postgres";
            environment["Usine__Store__ConnectionString"] = Postgres;
            environment["Usine__Store__Schema"] = _schema;
        }

        var p = await UsineProcess.StartAsync(name, _config, Path.Combine(_dir, name), ["--role", role, "--nats", _nats.Urls], environment, output);
        _processes.Add(p);
        return p;
    }

    /// <summary>Message n: one in a hundred has a negative value, which the model refuses.</summary>
    private static string Message(int n) => string.Create(CultureInfo.InvariantCulture,
        $$"""{"tag":"m{{n % 7}}","n":{{n}},"value":{{(n % 100 == 42 ? -1 : n % 50)}},"ts":"2026-12-01T{{n / 3600 % 24:00}}:{{n / 60 % 60:00}}:{{n % 60:00}}Z"}""");

    [Fact]
    public async Task Every_message_is_a_record_or_a_dead_letter_once_through_processor_kills_and_a_nats_node_restart()
    {
        var api = await StartAsync("api", "api", postgres: true);
        var capture = await StartAsync("capture", "capture", postgres: false);
        var steady = await StartAsync("process-b", "process", postgres: true);
        var victim = await StartAsync("process-a", "process", postgres: true);
        var lags = new List<string>();

        await using (var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = Mqtt }))
        {
            var kills = 0;
            for (var chunk = 0; chunk < Chunks; chunk++)
            {
                var from = chunk * (Total / Chunks);
                for (var n = from; n < from + Total / Chunks; n++)
                {
                    await publisher.PublishAsync($"{_topic}/m{n % 7}", Encoding.UTF8.GetBytes(Message(n)));
                }

                if (chunk % 5 == 4 && kills < 5)
                {
                    // The processor dies at once, whatever it held, and a new one takes its place.
                    kills++;
                    await victim.KillAsync();
                    _processes.Remove(victim);
                    await victim.DisposeAsync();
                    victim = await StartAsync($"process-a{kills}", "process", postgres: true);
                }

                if (chunk == 12)
                {
                    await _nats.StopNodeAsync(2);
                }

                if (chunk == 18)
                {
                    await _nats.StartNodeAsync(2);
                }

                lags.Add(await LagAsync(api, chunk));
            }

            Assert.Equal(5, kills);
        }

        // Everything accounted for once the processors caught up.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        (long Records, long Distinct, long Sum, long Letters, long DistinctLetters) counts;
        while (true)
        {
            counts = await CountAsync();
            if (counts.Records + counts.Letters >= Total || DateTime.UtcNow > deadline)
            {
                break;
            }

            lags.Add(await LagAsync(api, -1));
            await Task.Delay(1000);
        }

        foreach (var line in lags)
        {
            output.WriteLine(line);
        }

        var bad = Enumerable.Range(0, Total).Count(n => n % 100 == 42);
        Assert.True(counts.Records + counts.Letters == Total,
            $"expected {Total} messages accounted for, got {counts.Records} records and {counts.Letters} dead letters; the capture role said:\n{capture.Tail}\nthe steady processor said:\n{steady.Tail}");
        Assert.Equal(Total - bad, counts.Records);
        Assert.Equal(Total - bad, counts.Distinct);
        Assert.Equal(Enumerable.Range(0, Total).Where(n => n % 100 != 42).Sum(n => (long)n), counts.Sum);
        Assert.Equal(bad, counts.Letters);
        Assert.Equal(bad, counts.DistinctLetters);

        // The rollups counted each record once, killed processors or not.
        Assert.Equal(Total - bad, await ScalarAsync($"SELECT sum(value_count) FROM {_schema}.r_reading_1h"));

        // Seven machines, each one avatar, whichever processor saw it first.
        Assert.Equal(7, await ScalarAsync($"SELECT count(*) FROM {_schema}.avatars WHERE type = 'machine'"));

        // The API role answers SQL on PostgreSQL.
        Assert.Equal(Total - bad, await api.CountAsync("SELECT count(*) FROM m_reading"));
    }

    private async Task<string> LagAsync(UsineProcess api, int chunk)
    {
        try
        {
            var status = await api.GetJsonAsync("/api/status");
            var c = status.GetProperty("cluster");
            return $"{DateTime.UtcNow:HH:mm:ss} chunk {chunk}: lag {c.GetProperty("lag")}, unacknowledged {c.GetProperty("unacknowledged")}, members {c.GetProperty("members").GetArrayLength()}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or KeyNotFoundException)
        {
            return $"{DateTime.UtcNow:HH:mm:ss} chunk {chunk}: status unavailable ({ex.Message})";
        }
    }

    private async Task<(long, long, long, long, long)> CountAsync()
    {
        await using var db = NpgsqlDataSource.Create(Postgres);
        await using var cmd = db.CreateCommand($"""
            SELECT (SELECT count(*) FROM {_schema}.m_reading), (SELECT count(DISTINCT n) FROM {_schema}.m_reading),
                   (SELECT coalesce(sum(n), 0) FROM {_schema}.m_reading),
                   (SELECT count(*) FROM {_schema}.dead_letters), (SELECT count(DISTINCT payload) FROM {_schema}.dead_letters)
            """);
        try
        {
            await using var r = await cmd.ExecuteReaderAsync();
            await r.ReadAsync();
            return (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4));
        }
        catch (PostgresException ex) when (ex.SqlState == "42P01")
        {
            return (0, 0, 0, 0, 0); // the tables are made by the first processor
        }
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var db = NpgsqlDataSource.Create(Postgres);
        await using var cmd = db.CreateCommand(sql);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }
}
