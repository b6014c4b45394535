using System.Text.Json;
using Usine.Ingestion;
using Usine.Pipeline;

namespace Usine.Connectors.Testing;

/// <summary>
/// An ingestor that keeps committed messages in memory, with a checkpoint per stream like the real store. It can
/// hold every ingest (a slow store), or fail the held ones as a crash of the process would, and it notes every
/// (stream, position) committed twice: a connector that does not resume after its checkpoint shows there.
/// </summary>
/// <remarks>Messages carry <c>{"n": N}</c>; N is the message's identity across redeliveries.</remarks>
public sealed class ConformanceStore : IIngestor
{
    private readonly Lock _lock = new();
    private readonly List<(string Stream, long Position, int N)> _committed = [];
    private readonly HashSet<(string Stream, long Position)> _positions = [];
    private readonly List<string> _violations = [];
    private readonly Dictionary<string, long> _checkpoints = new(StringComparer.Ordinal);
    private readonly List<(Func<bool> Condition, TaskCompletionSource Signal)> _waiters = [];
    private TaskCompletionSource? _hold;
    private bool _dead;
    private int _commitsBeforeHold = -1;
    private int _attempts;
    private int _inFlight;
    private int _maxInFlight;

    /// <summary>The N of every committed message, in commit order, redeliveries included.</summary>
    public IReadOnlyList<int> Committed
    {
        get
        {
            lock (_lock)
            {
                return [.. _committed.Select(c => c.N)];
            }
        }
    }

    /// <summary>Positions committed twice in the same stream, as "stream:position".</summary>
    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_lock)
            {
                return [.. _violations];
            }
        }
    }

    public int Attempts => Volatile.Read(ref _attempts);

    /// <summary>Most ingests waiting at the same time.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Every ingest from now on waits until <see cref="Release"/> or <see cref="Crash"/>.</summary>
    public void Hold() => HoldAfter(0);

    /// <summary>The next <paramref name="commits"/> ingests commit, the ones after wait.</summary>
    public void HoldAfter(int commits)
    {
        lock (_lock)
        {
            _commitsBeforeHold = commits;
            _hold ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void Release()
    {
        lock (_lock)
        {
            _commitsBeforeHold = -1;
            _hold?.TrySetResult();
            _hold = null;
        }
    }

    /// <summary>The held ingests, and every one after them until <see cref="Revive"/>, fail as if the process died before they committed.</summary>
    public void Crash()
    {
        lock (_lock)
        {
            _dead = true;
            _commitsBeforeHold = -1;
            _hold?.TrySetException(Died());
            _hold = null;
        }
    }

    /// <summary>The store of the restarted process: ingests commit again.</summary>
    public void Revive()
    {
        lock (_lock)
        {
            _dead = false;
        }
    }

    private static InvalidOperationException Died() => new("the process died before this batch was committed");

    public Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_checkpoints.TryGetValue(streamId, out var c) ? c : (long?)null);
        }
    }

    public async Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken)
    {
        Task? hold = null;
        lock (_lock)
        {
            _attempts++;
            _inFlight++;
            _maxInFlight = Math.Max(_maxInFlight, _inFlight);
            if (_dead)
            {
                _inFlight--;
                throw Died();
            }

            if (_commitsBeforeHold == 0)
            {
                hold = _hold?.Task;
            }
            else if (_commitsBeforeHold > 0)
            {
                _commitsBeforeHold--;
            }

            Notify();
        }

        try
        {
            if (hold is not null)
            {
                await hold.WaitAsync(cancellationToken);
            }

            lock (_lock)
            {
                foreach (var m in batch.Messages)
                {
                    if (!_positions.Add((batch.StreamId, m.Position)))
                    {
                        _violations.Add($"{batch.StreamId}:{m.Position}");
                    }

                    _committed.Add((batch.StreamId, m.Position, N(m)));
                }

                var checkpoint = batch.Checkpoint ?? batch.Messages[^1].Position;
                _checkpoints[batch.StreamId] = Math.Max(checkpoint, _checkpoints.GetValueOrDefault(batch.StreamId));
                Notify();
                return new IngestResult(batch.Messages.Count, batch.Messages.Count, 0, 0, checkpoint);
            }
        }
        finally
        {
            lock (_lock)
            {
                _inFlight--;
            }
        }
    }

    private static int N(RawMessage m) => JsonDocument.Parse(m.Payload).RootElement.GetProperty("n").GetInt32();

    public Task WaitForCommittedAsync(int count, string expectation) =>
        WaitAsync(() => _committed.Count >= count, $"{count} committed messages: {expectation}");

    public Task WaitForAttemptsAsync(int count, string expectation) =>
        WaitAsync(() => _attempts >= count, $"{count} ingest attempts: {expectation}");

    private async Task WaitAsync(Func<bool> condition, string expectation)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (condition())
            {
                return;
            }

            _waiters.Add((condition, signal));
        }

        try
        {
            await signal.Task.WaitAsync(ConnectorConformance.Timeout);
        }
        catch (TimeoutException)
        {
            lock (_lock)
            {
                throw new TimeoutException($"expected {expectation} within {ConnectorConformance.Timeout}, but got {_attempts} attempts and {_committed.Count} committed messages ({string.Join(" ", _committed.Select(c => c.N))})");
            }
        }
    }

    private void Notify()
    {
        for (var i = _waiters.Count - 1; i >= 0; i--)
        {
            if (_waiters[i].Condition())
            {
                _waiters[i].Signal.TrySetResult();
                _waiters.RemoveAt(i);
            }
        }
    }
}
