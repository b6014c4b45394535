using Usine.Ingestion;
using Usine.Pipeline;

namespace Usine.Connectors.Mqtt.Tests;

/// <summary>
/// An ingestor that keeps committed batches in memory. It can fail the next attempts with a transient
/// error, or hold every ingest until released, to see what the connector does meanwhile.
/// </summary>
internal sealed class RecordingIngestor : IIngestor
{
    private readonly Lock _lock = new();
    private readonly List<IngestBatch> _attempts = [];
    private readonly List<IngestBatch> _committed = [];
    private readonly List<(Func<bool> Condition, TaskCompletionSource Signal)> _waiters = [];
    private int _failuresLeft;
    private long? _checkpoint;
    private TaskCompletionSource? _hold;

    public RecordingIngestor(long? checkpoint = null) => _checkpoint = checkpoint;

    public IReadOnlyList<IngestBatch> Attempts
    {
        get
        {
            lock (_lock)
            {
                return [.. _attempts];
            }
        }
    }

    public IReadOnlyList<RawMessage> Committed
    {
        get
        {
            lock (_lock)
            {
                return [.. _committed.SelectMany(b => b.Messages)];
            }
        }
    }

    /// <summary>The next <paramref name="times"/> attempts throw a transient <see cref="UsineException"/>.</summary>
    public void FailNext(int times)
    {
        lock (_lock)
        {
            _failuresLeft = times;
        }
    }

    /// <summary>Every ingest from now on waits until <see cref="Release"/> (or its cancellation).</summary>
    public void Hold()
    {
        lock (_lock)
        {
            _hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void Release()
    {
        lock (_lock)
        {
            _hold?.TrySetResult();
            _hold = null;
        }
    }

    public Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(_checkpoint);
        }
    }

    public async Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken)
    {
        Task? hold;
        lock (_lock)
        {
            _attempts.Add(batch);
            Notify();
            if (_failuresLeft > 0)
            {
                _failuresLeft--;
                throw new UsineException("the store is unavailable", isTransient: true);
            }

            hold = _hold?.Task;
        }

        if (hold is not null)
        {
            await hold.WaitAsync(cancellationToken);
        }

        lock (_lock)
        {
            _committed.Add(batch);
            _checkpoint = batch.Checkpoint ?? batch.Messages[^1].Position;
            Notify();
            return new IngestResult(batch.Messages.Count, batch.Messages.Count, 0, 0, _checkpoint.Value);
        }
    }

    /// <summary>Completes once <paramref name="count"/> messages are committed; the timeout message says what arrived.</summary>
    public Task WaitForCommittedAsync(int count, string expectation, TimeSpan? timeout = null) =>
        WaitAsync(() => _committed.Sum(b => b.Messages.Count) >= count, $"{count} committed messages: {expectation}", timeout);

    /// <summary>Completes once <paramref name="count"/> ingest attempts were made.</summary>
    public Task WaitForAttemptsAsync(int count, string expectation, TimeSpan? timeout = null) =>
        WaitAsync(() => _attempts.Count >= count, $"{count} ingest attempts: {expectation}", timeout);

    private async Task WaitAsync(Func<bool> condition, string expectation, TimeSpan? timeout)
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

        var limit = timeout ?? TestTimeouts.Default;
        try
        {
            await signal.Task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            lock (_lock)
            {
                throw new TimeoutException(
                    $"expected {expectation} within {limit}, but got {_attempts.Count} attempts and {_committed.Sum(b => b.Messages.Count)} committed messages " +
                    $"(payloads: {string.Join(" ", _committed.SelectMany(b => b.Messages).Select(m => System.Text.Encoding.UTF8.GetString(m.Payload.Span)))})");
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
