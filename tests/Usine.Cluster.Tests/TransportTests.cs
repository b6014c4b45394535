using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using Usine.Configuration;
using Usine.Ingestion;
using Usine.Pipeline;
using Usine.Transport.Nats;

namespace Usine.Cluster.Tests;

/// <summary>The JetStream transport on a real three-node cluster: capture publishes, processors share a durable consumer.</summary>
public sealed class TransportTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Yaml = """
        models:
          - name: reading
            version: 1
            time: ts
            fields:
              tag:   { type: string, required: true }
              ts:    { type: timestamp, required: true }
        sources:
          - id: line-1
            plant: flins
            kind: http
            model: reading
          - id: line-2
            plant: flins
            kind: http
            model: reading
        """;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly UsineDefinitions _definitions = DefinitionLoader.LoadText(Yaml, "cluster.yaml");
    private readonly List<NatsConnection> _connections = [];
    private NatsCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await NatsCluster.StartAsync(output);

    public async Task DisposeAsync()
    {
        foreach (var c in _connections)
        {
            await c.DisposeAsync();
        }

        await _cluster.DisposeAsync();
    }

    private NatsTransportOptions Options(string name) => new()
    {
        Urls = _cluster.Urls,
        Stream = "RAW_" + name,
        SubjectPrefix = "raw." + name,
        Consumer = "process-" + name,
        Replicas = 3,
        AckWait = TimeSpan.FromSeconds(2),
        MaxDeliver = 3,
        CommitAttempts = 1,
        FetchSize = 100,
    };

    private RawStream Connect(NatsTransportOptions options)
    {
        var nats = new NatsConnection(new NatsOpts { Url = options.Urls, Name = "usine-test" });
        _connections.Add(nats);
        return new RawStream(new NatsJSContext(nats), options);
    }

    private static IngestBatch Batch(string stream, long from, int count, Func<long, string>? payload = null) => new()
    {
        SourceId = "line-1",
        StreamId = stream,
        Messages = [.. Enumerable.Range(0, count).Select(i => from + i).Select(p => new RawMessage(p, new DateTime(2026, 12, 1, 8, 0, 0, DateTimeKind.Utc), Encoding.UTF8.GetBytes(payload?.Invoke(p) ?? $"{{\"n\":{p}}}"), "flins/line-1"))],
    };

    [Fact]
    public async Task A_batch_sent_twice_is_kept_once_and_the_stream_resumes_after_its_last_position()
    {
        var options = Options("twice");
        var publisher = new JetStreamPublisher(Connect(options), _definitions, NullLogger<JetStreamPublisher>.Instance);
        Assert.Null(await publisher.GetCheckpointAsync("mqtt:line-1", CancellationToken.None));

        var first = await publisher.IngestAsync(Batch("mqtt:line-1", 1, 50), CancellationToken.None);
        var again = await publisher.IngestAsync(Batch("mqtt:line-1", 1, 50), CancellationToken.None);
        await publisher.IngestAsync(Batch("mqtt:line-2", 1, 5), CancellationToken.None);

        Assert.Equal((50, 0), (first.Received, first.Duplicates));
        Assert.Equal(50, again.Duplicates);
        var stream = await Connect(options).EnsureStreamAsync(CancellationToken.None);
        Assert.Equal(55, (long)stream.Info.State.Messages);
        Assert.Equal(3, stream.Info.Config.NumReplicas);
        Assert.Equal(50, await publisher.GetCheckpointAsync("mqtt:line-1", CancellationToken.None));
        Assert.Equal(5, await publisher.GetCheckpointAsync("mqtt:line-2", CancellationToken.None));
    }

    [Fact]
    public async Task A_range_read_back_for_a_replay_holds_the_sources_messages_received_in_it_grouped_by_stream_in_position_order()
    {
        var options = Options("range");
        var publisher = new JetStreamPublisher(Connect(options), _definitions, NullLogger<JetStreamPublisher>.Instance);

        // Receive times a millisecond apart by position, from now: the stream's own times are now as well.
        var start = DateTime.UtcNow;
        IngestBatch Part(string source, string stream, long from, IReadOnlyList<string>? csv = null) => new()
        {
            SourceId = source,
            StreamId = stream,
            CsvHeader = csv,
            Messages = [.. Enumerable.Range(0, 50).Select(i => from + i).Select(p => new RawMessage(p, start.AddMilliseconds(p), Encoding.UTF8.GetBytes($"{{\"n\":{p}}}"), stream))],
        };

        // Two streams of line-1 interleaved, and line-2's messages in the same times.
        for (var from = 0; from < 300; from += 50)
        {
            await publisher.IngestAsync(Part("line-1", "a", from), CancellationToken.None);
            await publisher.IngestAsync(Part("line-1", "b", from, ["n"]), CancellationToken.None);
            await publisher.IngestAsync(Part("line-2", "c", from), CancellationToken.None);
        }

        var log = new JetStreamRawLog(Connect(options));
        // A stream that lost nothing holds everything received since it was made, by the first publish.
        var created = await log.FirstTimeAsync(CancellationToken.None);
        Assert.NotNull(created);
        Assert.InRange(created.Value, start, DateTime.UtcNow);

        var headers = new Dictionary<string, IReadOnlyList<string>>();
        var read = new List<RawZoneMessage>();
        await foreach (var m in log.ReadAsync("line-1", start.AddMilliseconds(100), start.AddMilliseconds(250), headers, CancellationToken.None))
        {
            read.Add(m);
        }

        Assert.All(read, m => Assert.Equal("line-1", m.SourceId));
        var runs = read.Select(m => m.StreamId).Where((id, i) => i == 0 || read[i - 1].StreamId != id).ToArray();
        Assert.Equal(["a", "b"], runs);
        foreach (var stream in runs)
        {
            Assert.Equal(Enumerable.Range(100, 150).Select(p => (long)p), read.Where(m => m.StreamId == stream).Select(m => m.Message.Position));
        }

        Assert.Equal(["n"], headers["b"]);
        Assert.False(headers.ContainsKey("a"));
        Assert.Equal("a", read[0].Message.Topic);

        // The replay's consumer is gone: the processors' is the only one the stream keeps.
        var js = new NatsJSContext(_connections[^1]);
        var consumers = new List<string>();
        await foreach (var name in js.ListConsumerNamesAsync(options.Stream))
        {
            consumers.Add(name);
        }

        Assert.Empty(consumers);
    }

    [Fact]
    public async Task Two_processors_share_the_stream_and_every_message_is_committed_and_acknowledged_once()
    {
        var options = Options("share");
        var publisher = new JetStreamPublisher(Connect(options), _definitions, NullLogger<JetStreamPublisher>.Instance);
        for (var s = 0; s < 4; s++)
        {
            await publisher.IngestAsync(Batch($"mqtt:s{s}", 1, 500), CancellationToken.None);
        }

        var engine = new RecordingEngine();
        using var stop = new CancellationTokenSource();
        var processors = Enumerable.Range(0, 2).Select(_ => new JetStreamProcessor(Connect(options), engine, NullLogger<JetStreamProcessor>.Instance)).ToArray();
        var runs = processors.Select(p => Task.Run(() => p.RunAsync(stop.Token))).ToArray();
        await WaitUntil(() => engine.Committed.Count == 2000, () => $"2000 messages committed, got {engine.Committed.Count}");
        var lag = await Connect(options).LagAsync(CancellationToken.None);
        await WaitUntil(() => Connect(options).LagAsync(CancellationToken.None).Result == (0, 0), () => "every message acknowledged");
        await stop.CancelAsync();
        await Task.WhenAll(runs);

        Assert.Equal(2000, engine.Committed.Distinct().Count());
        Assert.Equal(2000, processors.Sum(p => p.Processed));
        Assert.All(engine.Batches, b => Assert.Single(b.Messages.Select(m => m.Topic).Distinct()));
        output.WriteLine($"lag at the end: {lag}; processors took {string.Join(", ", processors.Select(p => p.Processed))}");
    }

    [Fact]
    public async Task Messages_a_processor_took_and_never_acknowledged_go_to_another_processor()
    {
        var options = Options("dies");
        var publisher = new JetStreamPublisher(Connect(options), _definitions, NullLogger<JetStreamPublisher>.Instance);
        await publisher.IngestAsync(Batch("mqtt:line-1", 1, 100), CancellationToken.None);

        // The first processor takes a batch and never commits it: it hangs, as a process that died would.
        var hanging = new RecordingEngine { Hang = true };
        using var stopFirst = new CancellationTokenSource();
        var first = Task.Run(() => new JetStreamProcessor(Connect(options), hanging, NullLogger<JetStreamProcessor>.Instance).RunAsync(stopFirst.Token));
        await WaitUntil(() => hanging.Attempts > 0, () => "the first processor to take messages");

        var engine = new RecordingEngine();
        using var stop = new CancellationTokenSource();
        var second = Task.Run(() => new JetStreamProcessor(Connect(options), engine, NullLogger<JetStreamProcessor>.Instance).RunAsync(stop.Token));
        await WaitUntil(() => engine.Committed.Distinct().Count() == 100, () => $"the second processor to commit all 100 messages once the acknowledgement wait passed, got {engine.Committed.Distinct().Count()}");
        await stop.CancelAsync();
        await stopFirst.CancelAsync();
        await Task.WhenAll(first, second);
        Assert.Empty(hanging.Committed);
    }

    [Fact]
    public async Task A_message_that_fails_at_every_delivery_is_given_up_as_a_dead_letter_and_the_others_are_committed()
    {
        var options = Options("poison");
        var publisher = new JetStreamPublisher(Connect(options), _definitions, NullLogger<JetStreamPublisher>.Instance);
        await publisher.IngestAsync(Batch("mqtt:good", 1, 20), CancellationToken.None);
        await publisher.IngestAsync(Batch("mqtt:poison", 1, 1, _ => "poison"), CancellationToken.None);

        var engine = new RecordingEngine { FailOn = "poison" };
        using var stop = new CancellationTokenSource();
        var processor = new JetStreamProcessor(Connect(options), engine, NullLogger<JetStreamProcessor>.Instance);
        var run = Task.Run(() => processor.RunAsync(stop.Token));
        await WaitUntil(() => engine.Quarantined.Count == 1, () => $"the poison message given up after {options.MaxDeliver} deliveries");
        await WaitUntil(() => Connect(options).LagAsync(CancellationToken.None).Result == (0, 0), () => "every message acknowledged");
        await stop.CancelAsync();
        await run;

        Assert.Equal(20, engine.Committed.Count);
        Assert.Equal(options.MaxDeliver - 1, engine.FailedAttempts);
        var (batch, reason) = engine.Quarantined.Single();
        Assert.Equal("mqtt:poison", batch.StreamId);
        Assert.Contains("given up after 3 deliveries", reason, StringComparison.Ordinal);
        Assert.Equal("poison", Encoding.UTF8.GetString(batch.Messages.Single().Payload.Span));
        Assert.Equal(1, processor.GivenUp);
    }

    [Fact]
    public async Task A_capture_and_a_processor_keep_going_while_a_node_of_the_cluster_is_stopped_and_started_again()
    {
        var options = Options("node");
        var publisher = new JetStreamPublisher(Connect(options), _definitions, NullLogger<JetStreamPublisher>.Instance);
        var engine = new RecordingEngine();
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => new JetStreamProcessor(Connect(options), engine, NullLogger<JetStreamProcessor>.Instance).RunAsync(stop.Token));

        long position = 1;
        async Task Send(int batches)
        {
            for (var b = 0; b < batches; b++)
            {
                await Retry(() => publisher.IngestAsync(Batch("mqtt:line-1", position, 100), CancellationToken.None));
                position += 100;
            }
        }

        await Send(5);
        await _cluster.StopNodeAsync(1);
        await Send(5);
        await _cluster.StartNodeAsync(1);
        await Send(5);
        await WaitUntil(() => engine.Committed.Distinct().Count() == 1500, () => $"1500 messages committed, got {engine.Committed.Distinct().Count()}");
        await stop.CancelAsync();
        await run;
    }

    [Fact]
    public async Task A_plants_edge_server_keeps_accepting_while_the_centre_is_away_and_forwards_everything_when_it_returns()
    {
        await using var centre = await NatsCluster.StartAsync(output, domain: "hub");
        await using var edge = await centre.StartEdgeAsync("plant1");

        // The plant's capture role writes to its edge server only; the centre's stream sources the edge stream.
        var plant = new NatsTransportOptions { Urls = edge.UrlOf(0), Stream = "USINE_EDGE", SubjectPrefix = "usine.edge.plant1", Discard = "new", MaxBytes = 256L << 20 };
        var central = new NatsTransportOptions { Urls = centre.Urls, Replicas = 3, EdgeDomains = "plant1", AckWait = TimeSpan.FromSeconds(5) };
        var publisher = new JetStreamPublisher(Connect(plant), _definitions, NullLogger<JetStreamPublisher>.Instance);
        var engine = new RecordingEngine();
        using var stop = new CancellationTokenSource();
        var run = Task.Run(() => new JetStreamProcessor(Connect(central), engine, NullLogger<JetStreamProcessor>.Instance).RunAsync(stop.Token));

        await publisher.IngestAsync(Batch("mqtt:line-1", 1, 1000), CancellationToken.None);
        await WaitUntil(() => engine.Committed.Distinct().Count() == 1000, () => $"the first 1000 messages forwarded and committed, got {engine.Committed.Distinct().Count()}");

        // The centre goes away entirely: the plant goes on accepting, into its edge stream.
        for (var i = 0; i < 3; i++)
        {
            await centre.StopNodeAsync(i);
        }

        for (var b = 0; b < 5; b++)
        {
            var r = await publisher.IngestAsync(Batch("mqtt:line-1", 1001 + b * 1000, 1000), CancellationToken.None);
            Assert.Equal(1000, r.Received);
        }

        Assert.Equal(1000, engine.Committed.Distinct().Count());
        await centre.StartNodeAsync(0, 1, 2);

        await WaitUntil(() => engine.Committed.Distinct().Count() == 6000, () => $"all 6000 messages committed once the centre returned, got {engine.Committed.Distinct().Count()}");
        await stop.CancelAsync();
        await run;
        Assert.Equal(6000, engine.Committed.Distinct().Count());
    }

    [Fact]
    public async Task A_full_edge_stream_refuses_new_messages_with_a_transient_error_and_keeps_what_it_holds()
    {
        // 64 KiB hold a few hundred of these messages: the rest is refused, not written over the oldest.
        var options = Options("full") with { Replicas = 1, Discard = "new", MaxBytes = 64 * 1024 };
        var stream = Connect(options);
        var publisher = new JetStreamPublisher(stream, _definitions, NullLogger<JetStreamPublisher>.Instance);
        long position = 1;
        UsineException? refused = null;
        while (refused is null && position < 100_000)
        {
            try
            {
                await publisher.IngestAsync(Batch("mqtt:line-1", position, 50), CancellationToken.None);
                position += 50;
            }
            catch (UsineException ex)
            {
                refused = ex;
            }
        }

        Assert.NotNull(refused);
        Assert.True(refused.IsTransient);
        output.WriteLine(refused.Message);
        var info = await stream.EnsureStreamAsync(CancellationToken.None);
        Assert.True((long)info.Info.State.Messages >= position - 1, $"the stream holds {info.Info.State.Messages} messages; {position - 1} were acknowledged");
        Assert.Equal(1ul, info.Info.State.FirstSeq);
    }

    // A publish in flight when a node stops may time out, and the stream takes a few seconds to elect a new leader
    // (longer on a loaded machine); the capture role's runner tries the batch again until it is stored, as here.
    private static async Task Retry(Func<Task> action)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            try
            {
                await action();
                return;
            }
            catch (UsineException ex) when (ex.IsTransient && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500);
            }
        }
    }

    private static async Task WaitUntil(Func<bool> condition, Func<string> expectation)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"expected {expectation()} within {Timeout}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>The engine's side as a processor sees it: records what each batch would commit.</summary>
    private sealed class RecordingEngine : IIngestor
    {
        public ConcurrentBag<string> Committed { get; } = [];

        public ConcurrentQueue<IngestBatch> Batches { get; } = [];

        public ConcurrentBag<(IngestBatch Batch, string Reason)> Quarantined { get; } = [];

        public bool Hang { get; init; }

        public string? FailOn { get; init; }

        public int Attempts => _attempts;

        public int FailedAttempts => _failed;

        private int _attempts;
        private int _failed;

        public async Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _attempts);
            if (Hang)
            {
                await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
            }

            if (batch.Quarantine is { } reason)
            {
                Quarantined.Add((batch, reason));
                return new IngestResult(batch.Messages.Count, 0, 0, batch.Messages.Count, 0);
            }

            if (FailOn is { } bad && batch.Messages.Any(m => Encoding.UTF8.GetString(m.Payload.Span) == bad))
            {
                Interlocked.Increment(ref _failed);
                throw new InvalidOperationException("this message breaks the pipeline");
            }

            Batches.Enqueue(batch);
            foreach (var m in batch.Messages)
            {
                Committed.Add($"{batch.StreamId}#{m.Position}");
            }

            return new IngestResult(batch.Messages.Count, batch.Messages.Count, 0, 0, batch.Messages[^1].Position);
        }

        public Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken) => Task.FromResult<long?>(null);
    }
}
