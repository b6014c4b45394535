using Usine.Avatars;

namespace Usine.Tests.Storage;

/// <summary>What the engine reports about batches handed to it and not yet committed.</summary>
public sealed class EngineLagTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-lag-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private GatedStore _store = null!;
    private IngestEngine _engine = null!;
    private readonly List<(string Source, IngestResult Result, DateTime Oldest, DateTime CommittedAt)> _observed = [];

    public async Task InitializeAsync()
    {
        _store = new GatedStore(new DuckDbStore(new DuckDbStoreOptions { DataDirectory = _dir, MemoryLimit = "256MB" }).Commit);
        _engine = new IngestEngine(TestDefinitions.Load(), _store, time: _time) { Observer = new Recorder(_observed) };
        await _engine.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        _store.Release.TrySetResult();
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_batch_is_pending_from_its_oldest_message_until_its_commit_ends()
    {
        var received = _time.GetUtcNow().UtcDateTime;
        _time.Advance(TimeSpan.FromSeconds(2));
        var messages = new[]
        {
            new RawMessage(1, received.AddSeconds(1), Encoding.UTF8.GetBytes(TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12))),
            new RawMessage(2, received, Encoding.UTF8.GetBytes(TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", "2026-11-26T08:16:00Z", 13))),
        };
        Assert.Empty(_engine.OldestPending());

        var ingest = _engine.IngestAsync(new IngestBatch { SourceId = "line1", StreamId = "test:line1", Messages = messages }, CancellationToken.None);
        await _store.Entered.Task.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(received, Assert.Single(_engine.OldestPending(), p => p.Key == "line1").Value);
        Assert.Empty(_observed);

        _time.Advance(TimeSpan.FromSeconds(3));
        _store.Release.TrySetResult();
        var result = await ingest.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(2, result.Stored);
        Assert.Empty(_engine.OldestPending());
        var seen = Assert.Single(_observed);
        Assert.Equal("line1", seen.Source);
        Assert.Equal(received, seen.Oldest);
        Assert.Equal(TimeSpan.FromSeconds(5), seen.CommittedAt - seen.Oldest);
    }

    private sealed class Recorder(List<(string, IngestResult, DateTime, DateTime)> seen) : IIngestObserver
    {
        public void Committed(Sources.SourceDefinition source, IngestResult result, long bytes, DateTime oldestReceivedAt, DateTime committedAt)
        {
            lock (seen)
            {
                seen.Add((source.Id, result, oldestReceivedAt, committedAt));
            }
        }
    }
}
