using Usine.Ingestion;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Tests.Connectors;

/// <summary>
/// A batch holds about as many records whatever the payloads carry: the runner counts each message by its weight
/// (the records it is expected to make, such as the metrics of a Sparkplug payload) against the batch size.
/// </summary>
public sealed class WeightedBatchTests
{
    [Fact]
    public async Task Messages_that_each_make_ten_records_are_cut_into_batches_of_batch_size_records_not_messages()
    {
        var ingestor = new BatchSizes();
        var connector = new Weighted(count: 40, weight: 10);
        var runner = new SourceRunner(connector, ingestor, new SourceRunnerOptions { BatchSize = 100, BatchWindow = TimeSpan.FromSeconds(5) });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        await runner.RunAsync(stop.Token);

        Assert.Equal([10, 10, 10, 10], ingestor.Sizes);
        Assert.Equal(40, connector.Acknowledged);
    }

    [Fact]
    public async Task Messages_of_weight_one_fill_a_batch_up_to_batch_size_messages_as_before()
    {
        var ingestor = new BatchSizes();
        var connector = new Weighted(count: 250, weight: 1);
        var runner = new SourceRunner(connector, ingestor, new SourceRunnerOptions { BatchSize = 100, BatchWindow = TimeSpan.FromSeconds(5) });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        await runner.RunAsync(stop.Token);

        Assert.Equal([100, 100, 50], ingestor.Sizes);
    }

    /// <summary>A bounded connector that writes all its messages at once, each of the given weight, then ends.</summary>
    private sealed class Weighted(int count, int weight) : ISourceConnector
    {
        private int _acknowledged;

        public int Acknowledged => Volatile.Read(ref _acknowledged);

        public SourceStream Stream { get; } = new("weighted", "test:weighted");

        public string Endpoint => "memory";

        public async Task ReceiveAsync(ReceiveContext context, CancellationToken cancellationToken)
        {
            context.Connected();
            for (var i = 1; i <= count; i++)
            {
                var raw = new RawMessage(i, DateTime.UtcNow, "{}"u8.ToArray(), null);
                await context.Messages.WriteAsync(new ReceivedMessage(raw, null, weight), cancellationToken);
            }
        }

        public ValueTask AcknowledgeAsync(IReadOnlyList<ReceivedMessage> committed, CancellationToken cancellationToken)
        {
            Interlocked.Add(ref _acknowledged, committed.Count);
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class BatchSizes : IIngestor
    {
        private readonly Lock _lock = new();
        private readonly List<int> _sizes = [];

        public List<int> Sizes
        {
            get
            {
                lock (_lock)
                {
                    return [.. _sizes];
                }
            }
        }

        public Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken)
        {
            lock (_lock)
            {
                _sizes.Add(batch.Messages.Count);
            }

            return Task.FromResult(new IngestResult(batch.Messages.Count, batch.Messages.Count, 0, 0, batch.Messages[^1].Position));
        }

        public Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken) => Task.FromResult<long?>(null);
    }
}
