using Usine.Avatars;
using Usine.Connectors.Files;
using static Usine.Tests.TestDefinitions;

namespace Usine.Tests.Storage;

/// <summary>The replay runner over the engine and the store, without HTTP: the contract other raw readers (the archive) rely on.</summary>
public sealed class ReplayModeTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-replaymode-").FullName;
    private DuckDbStore _store = null!;
    private IngestEngine _engine = null!;
    private UsineDefinitions _defs = null!;

    private static readonly DateTime From = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime To = new(2100, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    public async Task InitializeAsync()
    {
        _defs = DefinitionLoader.LoadText(Yaml.Replace("    kind: http\n", "    kind: http\n    maxPayloadBytes: 1000\n", StringComparison.Ordinal), "t.yaml");
        _store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(_dir, "data"), MemoryLimit = "256MB" });
        _engine = new IngestEngine(_defs, _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private string DeadLetterRows() => string.Join("\n", _store.Read(
        "SELECT id, stage, reason, status, attempts, payload_bytes, updated_at FROM dead_letters ORDER BY id",
        r => $"{r.GetInt64(0)} {r.GetString(1)} {r.GetString(2)} {r.GetString(3)} {r.GetInt32(4)} {r.GetInt64(5)} {r.GetDateTime(6):O}"));

    private static Task<IReadOnlyList<string>?> NoHeader(string source, string stream, CancellationToken ct) => Task.FromResult<IReadOnlyList<string>?>(null);

    [Fact]
    public async Task A_message_cut_at_the_size_limit_fails_for_the_same_reason_when_replayed_and_changes_nothing()
    {
        var huge = "{\"VIN\":\"" + new string('A', 50_000) + "\"}";
        var path = Path.Combine(_dir, "huge.ndjson");
        await File.WriteAllTextAsync(path, Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 12) + "\n" + huge + "\n", new UTF8Encoding(false));
        await new FileImporter(_engine, _store.RawZone, TimeProvider.System).ImportFileAsync(_defs.Sources["line1"], path, CancellationToken.None);
        var before = DeadLetterRows();
        var checkpoint = await _store.Commit.GetCheckpointAsync(Assert.Single(_store.Read("SELECT stream_id FROM checkpoints", r => r.GetString(0))), CancellationToken.None);

        var runner = new ReplayRunner(_engine) { BatchSize = 1 };
        var r = await runner.RunAsync(_store.RawZone.ReadRawAsync("line1", From, To, CancellationToken.None), IngestMode.Replay, NoHeader, null, CancellationToken.None);

        Assert.Equal((2L, 0L, 1L, 1L), (r.Read, r.Stored, r.Duplicates, r.Failed));
        Assert.Equal(new ReplayCounts(0, 1, 0, 0), r.DeadLetters);
        Assert.Equal(before, DeadLetterRows());
        Assert.Equal(2, _store.Count("SELECT count(*) FROM raw_messages"));
        Assert.Equal(checkpoint, await _store.Commit.GetCheckpointAsync(_store.Read("SELECT stream_id FROM checkpoints", x => x.GetString(0)).Single(), CancellationToken.None));

        // Retried on purpose, it is one more attempt, still for the size it had when received.
        var retry = await runner.RunAsync(_store.DeadLetters.ReadForReplayAsync(new DeadLetterFilter { Source = "line1" }, 5, false, CancellationToken.None),
            IngestMode.Retry, NoHeader, null, CancellationToken.None);
        Assert.Equal(new ReplayCounts(0, 0, 1, 0), retry.DeadLetters);
        var letter = Assert.Single(_store.DeadLetters.List(new DeadLetterFilter(), 10));
        Assert.Equal(2, letter.Attempts);
        Assert.Contains($"payload of {huge.Length} bytes is over the limit of 1000 bytes", letter.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_runner_refuses_the_live_mode()
    {
        var runner = new ReplayRunner(_engine);
        var ex = await Assert.ThrowsAsync<ArgumentException>(() =>
            runner.RunAsync(_store.RawZone.ReadRawAsync("line1", From, To, CancellationToken.None), IngestMode.Live, NoHeader, null, CancellationToken.None));
        Assert.StartsWith("a replay runs in mode replay or retry, never live", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replayed_batch_waiting_in_the_engine_is_not_counted_as_lag_or_pending_data()
    {
        await using var store = new GatedStore(new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(_dir, "gated"), MemoryLimit = "256MB" }).Commit);
        await using var engine = new IngestEngine(_defs, store);
        await engine.StartAsync(CancellationToken.None);
        var old = new DateTime(2026, 11, 1, 8, 0, 0, DateTimeKind.Utc);
        var message = new Usine.Pipeline.RawMessage(1, old, Encoding.UTF8.GetBytes(Screwing(Vin1, "ST040", "2026-11-01T08:00:00Z", 12)));

        var replay = engine.IngestAsync(new IngestBatch { SourceId = "line1", StreamId = "http:line1", Messages = [message], Mode = IngestMode.Replay }, CancellationToken.None);
        await store.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        (TimeSpan Age, long Pending) whileReplaying;
        try
        {
            whileReplaying = (engine.OldestPendingAge("line1"), engine.PendingMessages("line1"));
        }
        finally
        {
            // Released before asserting: a commit left waiting would keep the engine from stopping.
            store.Release.SetResult();
        }

        Assert.Equal((TimeSpan.Zero, 0L), whileReplaying);
        Assert.Equal(1, (await replay).Stored);

        // The same batch as new data is pending while it waits, which is what the lag signal is for.
        store.Reset();
        var live = engine.IngestAsync(new IngestBatch { SourceId = "line1", StreamId = "http:line1", Messages = [message with { Position = 2 }] }, CancellationToken.None);
        await store.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        long whileLive;
        try
        {
            whileLive = engine.PendingMessages("line1");
        }
        finally
        {
            store.Release.SetResult();
        }

        Assert.Equal(1, whileLive);
        await live;
    }
}
