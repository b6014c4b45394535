using Usine.Sources;

namespace Usine.Connectors.Testing;

/// <summary>
/// The contract every connector keeps on the <see cref="SourceRunner"/>, against its real peer: a message is
/// acknowledged only once committed; after a crash the source resumes after its checkpoint, losing nothing and
/// committing nothing twice; it comes back by itself after its peer restarts; and a slow store holds it back
/// instead of letting it buffer without bound. A connector's test project inherits this class and says how to
/// make a source, start it, send through its peer and restart the peer.
/// </summary>
/// <remarks>Messages are <c>{"n": N}</c>; an implementation starts its runner with <see cref="BatchSize"/> and <see cref="BufferCapacity"/>.</remarks>
public abstract class ConnectorConformance
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Messages per batch the implementation's runner cuts.</summary>
    protected const int BatchSize = 4;

    /// <summary>The capacity of the implementation's runner buffer (at most; a peer that limits itself, as MQTT's receive maximum, may stay below).</summary>
    protected const int BufferCapacity = 8;

    /// <summary>
    /// Whether what one <see cref="SendAsync"/> gives is read only once what the previous one gave is acknowledged
    /// (a drop folder moves each file away before it takes the next).
    /// </summary>
    protected virtual bool ReadsEachSendAfterThePreviousIsAcknowledged => false;

    /// <summary>A source of the kind, with its own stream and place at the peer, so tests never see each other's messages.</summary>
    protected abstract SourceDefinition NewSource();

    /// <summary>A new connector of <paramref name="source"/> on a new runner into <paramref name="store"/>, as after a restart of the process.</summary>
    protected abstract SourceRunner Start(SourceDefinition source, ConformanceStore store);

    /// <summary>The peer offers messages N = <paramref name="from"/> .. <paramref name="from"/> + <paramref name="count"/> - 1, in order.</summary>
    protected abstract Task SendAsync(SourceDefinition source, int from, int count);

    /// <summary>Takes the peer away until <paramref name="running"/> noticed the loss, then brings it back.</summary>
    protected abstract Task RestartPeerAsync(SourceDefinition source, SourceRunner running);

    /// <summary>
    /// Messages the peer handed to the connector and still waits to have acknowledged, when the peer can tell
    /// (null otherwise: MQTT's broker limits it itself by the receive maximum): what a connector buffering on its
    /// own would show.
    /// </summary>
    protected virtual long? TakenFromPeer(SourceDefinition source) => null;

    [Fact]
    public async Task A_message_is_acknowledged_only_after_its_batch_is_committed()
    {
        var source = NewSource();
        var store = new ConformanceStore();
        store.Hold();
        await using (var first = await RunAsync(source, store))
        {
            await SendAsync(source, 0, 3);
            await store.WaitForAttemptsAsync(1, "the first batch, held by the store");
            store.Crash();
            await first.EndAsync();
            Assert.Equal(0, first.Runner.Acknowledged);
        }

        store.Revive();

        Assert.Empty(store.Committed);

        // Had any been acknowledged before its commit, the peer would not offer it again.
        await using var second = await RunAsync(source, store);
        await store.WaitForCommittedAsync(3, "the three messages, offered again since none was acknowledged");
        Assert.Equal([0, 1, 2], store.Committed.Order());
        Assert.Empty(store.Violations);
    }

    [Fact]
    public async Task After_a_crash_the_source_resumes_after_its_checkpoint_losing_nothing_and_committing_nothing_twice()
    {
        var source = NewSource();
        var store = new ConformanceStore();
        await using (var first = await RunAsync(source, store))
        {
            await SendAsync(source, 0, BatchSize);
            await store.WaitForCommittedAsync(BatchSize, "the first messages");
            await WaitUntilAsync(() => first.Runner.Acknowledged >= BatchSize, "the first messages to be acknowledged", first.Runner);

            // Three batches more: the first commits, the next is held and dies with the process.
            store.HoldAfter(1);
            var attempts = store.Attempts;
            await SendAsync(source, BatchSize, 3 * BatchSize);
            await store.WaitForAttemptsAsync(attempts + 2, "a batch committed and the next one held");
            store.Crash();
            await first.EndAsync();
        }

        store.Revive();

        await using var second = await RunAsync(source, store);
        await store.WaitForCommittedAsync(4 * BatchSize, "every message, the held ones offered again");
        Assert.Equal(Enumerable.Range(0, 4 * BatchSize), store.Committed.Order());
        Assert.Empty(store.Violations);
    }

    [Fact]
    public async Task The_source_comes_back_by_itself_after_its_peer_restarts()
    {
        var source = NewSource();
        var store = new ConformanceStore();
        await using var running = await RunAsync(source, store);
        await SendAsync(source, 0, 2);
        await store.WaitForCommittedAsync(2, "the messages sent before the restart");

        await RestartPeerAsync(source, running.Runner);
        await WaitUntilAsync(() => running.Runner.State == ConnectorState.Running && running.Runner.Reconnects >= 1, "the source to be back", running.Runner);
        await SendAsync(source, 2, 2);
        await store.WaitForCommittedAsync(4, "the messages sent after the restart");
        Assert.Equal([0, 1, 2, 3], store.Committed.Order());
        Assert.Empty(store.Violations);
    }

    [Fact]
    public async Task A_message_that_comes_while_a_batch_commits_goes_in_flight_beside_it()
    {
        var source = NewSource();
        var store = new ConformanceStore();
        store.Hold();
        await using var running = await RunAsync(source, store);
        await SendAsync(source, 0, 1);
        await store.WaitForAttemptsAsync(1, "the first message in flight");

        // The buffer was empty when the first batch left: the second must not wait for the first to commit,
        // unless the connector reads what one send gave only after the previous one is acknowledged.
        await SendAsync(source, 1, 1);
        if (ReadsEachSendAfterThePreviousIsAcknowledged)
        {
            store.Release();
        }

        await store.WaitForAttemptsAsync(2, "the second message in flight while the first still commits");
        store.Release();
        await store.WaitForCommittedAsync(2, "both messages once the store is fast again");
        Assert.Equal([0, 1], store.Committed.Order());
        Assert.Empty(store.Violations);
    }

    [Fact]
    public async Task A_slow_store_holds_the_source_back_instead_of_letting_it_buffer_without_bound()
    {
        const int count = 10 * BatchSize + 2 * BufferCapacity;
        var source = NewSource();
        var store = new ConformanceStore();
        store.Hold();
        await using var running = await RunAsync(source, store);
        var runner = running.Runner;
        await SendAsync(source, 0, count);
        await store.WaitForAttemptsAsync(2, "two batches in flight");

        // Two batches in flight and a full buffer at the most, whatever the peer has to give, for as long as the
        // store is slow: watched over many batch windows.
        var bound = 2 * BatchSize + BufferCapacity;
        var until = DateTime.UtcNow + 20 * runner.Options.BatchWindow;
        while (DateTime.UtcNow < until)
        {
            var taken = runner.Received + runner.Buffered;
            Assert.True(taken <= bound, $"the source took {taken} messages while the store held two batches; at most {bound} (two batches and the buffer) may wait");
            if (TakenFromPeer(source) is { } fromPeer)
            {
                // And the one message a connector holds while it waits for room in the buffer.
                Assert.True(fromPeer <= bound + 1, $"the connector took {fromPeer} messages from its peer while the store held two batches; at most {bound + 1} may wait");
            }

            Assert.Equal(2, store.Attempts);
            await Task.Yield();
        }

        Assert.Equal(2, store.MaxInFlight);
        store.Release();
        await store.WaitForCommittedAsync(count, "every message once the store is fast again");
        Assert.Equal(Enumerable.Range(0, count), store.Committed.Order());
        Assert.Empty(store.Violations);
    }

    private async Task<Running> RunAsync(SourceDefinition source, ConformanceStore store)
    {
        var running = new Running(Start(source, store));
        await WaitUntilAsync(() => running.Runner.State == ConnectorState.Running, "the source to be connected", running.Runner, running.Task);
        return running;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; the timeout says what was expected and where the runner is.</summary>
    protected static async Task WaitUntilAsync(Func<bool> condition, string expectation, SourceRunner runner, Task? run = null)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (run is { IsCompleted: true })
            {
                await run;
                throw new InvalidOperationException($"the runner stopped before {expectation}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"expected {expectation} within {Timeout}; the runner is {runner.State}, last error: {runner.LastError?.Message ?? "none"}");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>A runner running in the background, stopped like a host would.</summary>
    private sealed class Running : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();

        public Running(SourceRunner runner)
        {
            Runner = runner;
            Task = System.Threading.Tasks.Task.Run(() => runner.RunAsync(_stop.Token));
        }

        public SourceRunner Runner { get; }

        public Task Task { get; }

        /// <summary>Waits for a run that a crash of the store ends; it fails with the crash.</summary>
        public async Task EndAsync()
        {
            var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => Task.WaitAsync(Timeout));
            Assert.Contains("the process died", ex.Message, StringComparison.Ordinal);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await Task.WaitAsync(Timeout);
            }
            catch (InvalidOperationException)
            {
                // Ended by a crash the test asserted on.
            }

            _stop.Dispose();
        }
    }
}
