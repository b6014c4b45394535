using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Ingestion;
using Usine.Internal;
using Usine.Operations;
using Usine.Pipeline;

namespace Usine.Sources;

/// <summary>
/// Runs one <see cref="ISourceConnector"/> into an <see cref="IIngestor"/>: cuts what it receives into batches
/// (full, or as old as the batch window), keeps two batches in flight so that the engine processes one while
/// the store commits the other, and hands each batch back to the connector for acknowledgement only once it
/// is committed, oldest first. A batch whose commit fails transiently is tried again unchanged, with backoff,
/// while its messages stay unacknowledged; the connector resumes after the stream's checkpoint; the job of
/// the source and the counters follow every state change and every committed batch. Every source kind runs
/// through it: MQTT, file drops and imports, HTTP pushes.
/// </summary>
/// <remarks>
/// Backpressure: the connector writes into a bounded buffer (<see cref="SourceRunnerOptions.EffectiveBufferCapacity"/>,
/// full mode Wait) and at most two batches are in flight, so a slow store makes the connector wait instead of
/// filling memory; a connector whose peer waits for acknowledgements (MQTT) therefore slows its peer down.
/// </remarks>
public sealed class SourceRunner : ILiveSource
{
    private readonly ISourceConnector _connector;
    private readonly IIngestor _ingestor;
    private readonly SourceRunnerOptions _options;
    private readonly Job? _job;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<ReceivedMessage> _buffer;

    /// <summary>The marker <see cref="ReceiveContext.FlushAsync"/> writes: the batch in hand ships at once.</summary>
    internal static readonly ReceivedMessage Flush = new(default, new object());

    private int _state = (int)ConnectorState.Connecting;
    private int _started;
    private int _everConnected;
    private long _received;
    private long _committed;
    private long _acknowledged;
    private long _reconnects;
    private long _retries;
    private long _stored;
    private long _duplicates;
    private long _deadLetters;
    private volatile Exception? _lastError;

    /// <param name="job">The job to keep up to date: the stream job of a live source, or the job of a bounded run (see <see cref="SourceRunnerOptions.SetsJobState"/>).</param>
    public SourceRunner(ISourceConnector connector, IIngestor ingestor, SourceRunnerOptions? options = null, Job? job = null, ILogger<SourceRunner>? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(connector);
        ArgumentNullException.ThrowIfNull(ingestor);
        _options = options ?? SourceRunnerOptions.Default;
        _options.Validate();
        _connector = connector;
        _ingestor = ingestor;
        _job = job;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _buffer = Channel.CreateBounded<ReceivedMessage>(new BoundedChannelOptions(_options.EffectiveBufferCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });
    }

    public ISourceConnector Connector => _connector;

    /// <summary>How it batches, retries and stops.</summary>
    public SourceRunnerOptions Options => _options;

    /// <summary>Messages the connector handed over that wait for a batch; never more than the buffer's capacity.</summary>
    public int Buffered => _buffer.Reader.Count;

    public ConnectorState State => (ConnectorState)Volatile.Read(ref _state);

    /// <summary>The last error met (connection, checkpoint or commit), kept after recovery so it can be shown.</summary>
    public Exception? LastError => _lastError;

    /// <summary>Messages taken from the connector, redeliveries included.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Messages in committed batches.</summary>
    public long Committed => Interlocked.Read(ref _committed);

    /// <summary>Committed messages handed back to the connector to acknowledge.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Connections re-established after a loss.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>Batches (or checkpoint reads) tried again after a transient failure.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>What the committed batches became so far.</summary>
    public SourceRunTotals Totals => new(Committed, Interlocked.Read(ref _stored), Interlocked.Read(ref _duplicates), Interlocked.Read(ref _deadLetters));

    /// <summary>Raised on every change of <see cref="State"/>, on the runner's or the connector's thread: keep handlers short.</summary>
    public event EventHandler<ConnectorStateChangedEventArgs>? StateChanged;

    /// <summary>
    /// Receives and ingests until <paramref name="cancellationToken"/> is cancelled or the connector's input ends,
    /// then commits and acknowledges what it already took (within <see cref="SourceRunnerOptions.DrainTimeout"/>
    /// when cancelled), lets the connector close, and returns what was committed. It throws only when retrying
    /// cannot help (the connector gives up, a batch is rejected, or a commit fails and retries are off), leaving
    /// <see cref="State"/> Failed. A cancelled run returns normally; a bounded caller checks its token.
    /// </summary>
    public async Task<SourceRunTotals> RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("RunAsync may be called once per runner; create a new runner to run the source again");
        }

        SetState(ConnectorState.Connecting);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var drain = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        var context = new ReceiveContext(this, _buffer.Writer);
        var batching = Task.Run(() => BatchLoopAsync(drain.Token), CancellationToken.None);

        // A batch loop that fails (a rejected batch) must also stop the connector.
        _ = batching.ContinueWith(static (_, s) => ((CancellationTokenSource)s!).Cancel(), stopping, CancellationToken.None, TaskContinuationOptions.NotOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

        Exception? failure = null;
        try
        {
            await Task.Run(() => _connector.ReceiveAsync(context, stopping.Token), CancellationToken.None);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Stopped, or the batch loop failed: its error is the one that counts.
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        // Take no more messages; commit and acknowledge those already taken, then let the connector close.
        await stopping.CancelAsync();
        _buffer.Writer.TryComplete();
        if (cancellationToken.IsCancellationRequested)
        {
            drain.CancelAfter(_options.DrainTimeout);
        }

        try
        {
            await batching;
        }
        catch (OperationCanceledException) when (drain.IsCancellationRequested)
        {
            _logger.DrainTimedOut(_connector.Stream.SourceId, _options.DrainTimeout);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        await _connector.DisposeAsync();
        _logger.RunnerStopped(_connector.Stream.SourceId, Received, Acknowledged, Reconnects);
        if (failure is not null)
        {
            _lastError = failure;
            SetState(ConnectorState.Failed);
            ExceptionDispatchInfo.Throw(failure);
        }

        SetState(ConnectorState.Stopped);
        return Totals;
    }

    Task ILiveSource.RunAsync(CancellationToken cancellationToken) => RunAsync(cancellationToken);

    /// <summary>The state, lower case (running, connecting, reconnecting, retrying...), and the last error.</summary>
    public (string State, string? LastError) Status => (State.ToString().ToLowerInvariant(), _lastError?.Message);

    /// <summary>True: a commit that fails puts the runner in <see cref="ConnectorState.Retrying"/>, which its job shows.</summary>
    public bool ReportsCommitFailures => true;

    internal async Task<long?> ReadCheckpointAsync(CancellationToken ct)
    {
        var stream = _connector.Stream;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await _ingestor.GetCheckpointAsync(stream.StreamId, ct);
            }
            catch (Exception ex) when (_options.RetryTransientFaults && IsTransient(ex))
            {
                _lastError = ex;
                Interlocked.Increment(ref _retries);
                var delay = Backoff.Delay(attempt, _options.RetryMinBackoff, _options.RetryMaxBackoff);
                _logger.CheckpointRetry(ex, stream.SourceId, stream.StreamId, attempt, delay);
                await Task.Delay(delay, _time, ct);
            }
        }
    }

    internal void OnConnected()
    {
        if (Interlocked.Exchange(ref _everConnected, 1) != 0)
        {
            Interlocked.Increment(ref _reconnects);
        }

        SetState(ConnectorState.Running);
    }

    internal void OnDisconnected(Exception reason)
    {
        _lastError = reason;
        SetState(Volatile.Read(ref _everConnected) != 0 ? ConnectorState.Reconnecting : ConnectorState.Connecting);
    }

    private static bool IsTransient(Exception ex) =>
        ex is UsineException { IsTransient: true } or TimeoutException;

    private async Task BatchLoopAsync(CancellationToken drain)
    {
        var reader = _buffer.Reader;
        var inflight = new Queue<(Task Ingest, List<ReceivedMessage> Batch)>();
        var size = _options.BatchSize;
        while (true)
        {
            if (!reader.TryPeek(out _))
            {
                // Nothing waiting: acknowledge what is in flight as it commits, so that a quiet stream is acknowledged,
                // and go on as soon as a message comes, so that a slow store still has its second batch.
                var more = reader.WaitToReadAsync(drain).AsTask();
                while (inflight.Count > 0 && !more.IsCompleted)
                {
                    var oldest = inflight.Peek().Ingest;
                    await Task.WhenAny(oldest, more);
                    if (oldest.IsCompleted)
                    {
                        await CompleteOldestAsync(inflight);
                    }
                }

                if (!more.IsCompletedSuccessfully || !more.Result)
                {
                    // Stopping: what is in flight is committed and acknowledged first.
                    while (inflight.Count > 0)
                    {
                        await CompleteOldestAsync(inflight);
                    }

                    if (!await more)
                    {
                        return;
                    }
                }
            }

            var batch = new List<ReceivedMessage>(Math.Min(size, 4096));
            var flushed = false;
            long weight = 0;
            while (weight < size && reader.TryRead(out var item))
            {
                if (ReferenceEquals(item.Handle, Flush.Handle))
                {
                    flushed = true;
                    break;
                }

                batch.Add(item);
                weight += Math.Max(1, item.Weight);
            }

            if (!flushed && weight < size)
            {
                await FillUntilWindowClosesAsync(reader, batch, weight, drain);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            Interlocked.Add(ref _received, batch.Count);
            var messages = new RawMessage[batch.Count];
            for (var i = 0; i < batch.Count; i++)
            {
                messages[i] = batch[i].Message;
            }

            var stream = _connector.Stream;
            var ingest = new IngestBatch { SourceId = stream.SourceId, StreamId = stream.StreamId, Messages = messages, CsvHeader = stream.CsvHeader };
            inflight.Enqueue((IngestUntilCommittedAsync(ingest, drain), batch));
            while (inflight.Count > 1)
            {
                await CompleteOldestAsync(inflight);
            }
        }
    }

    private async Task CompleteOldestAsync(Queue<(Task Ingest, List<ReceivedMessage> Batch)> inflight)
    {
        var (ingest, batch) = inflight.Dequeue();
        await ingest;
        await _connector.AcknowledgeAsync(batch, CancellationToken.None);
        Interlocked.Add(ref _acknowledged, batch.Count);
    }

    private async Task FillUntilWindowClosesAsync(ChannelReader<ReceivedMessage> reader, List<ReceivedMessage> batch, long weight, CancellationToken drain)
    {
        using var window = new CancellationTokenSource(_options.BatchWindow, _time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(window.Token, drain);
        try
        {
            while (weight < _options.BatchSize)
            {
                if (reader.TryRead(out var item))
                {
                    if (ReferenceEquals(item.Handle, Flush.Handle))
                    {
                        return; // the connector asked to ship what there is
                    }

                    batch.Add(item);
                    weight += Math.Max(1, item.Weight);
                }
                else if (!await reader.WaitToReadAsync(either.Token))
                {
                    return; // stopping: the buffer is complete and empty
                }
            }
        }
        catch (OperationCanceledException) when (!drain.IsCancellationRequested)
        {
            // The window closed: ship what there is.
        }
    }

    private async Task IngestUntilCommittedAsync(IngestBatch batch, CancellationToken drain)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var result = await _ingestor.IngestAsync(batch, drain);
                Interlocked.Add(ref _committed, batch.Messages.Count);
                Interlocked.Add(ref _stored, result.Stored);
                Interlocked.Add(ref _duplicates, result.Duplicates);
                Interlocked.Add(ref _deadLetters, result.DeadLetters);
                _job?.Record(result);
                TrySetState(ConnectorState.Retrying, ConnectorState.Running);
                return;
            }
            catch (OperationCanceledException) when (drain.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (_options.RetryTransientFaults && IsTransient(ex))
            {
                // The same batch, same positions: the store keeps the first commit if one got through.
                _lastError = ex;
                Interlocked.Increment(ref _retries);
                if (!TrySetState(ConnectorState.Running, ConnectorState.Retrying) && State == ConnectorState.Retrying)
                {
                    // Still retrying: the job's last error follows the latest failure.
                    UpdateJob(ConnectorState.Retrying);
                }

                var delay = Backoff.Delay(attempt, _options.RetryMinBackoff, _options.RetryMaxBackoff);
                _logger.IngestRetry(ex, batch.SourceId, batch.Messages.Count, attempt, delay);
                await Task.Delay(delay, _time, drain);
            }
            catch (Exception ex)
            {
                _lastError = ex;
                _logger.IngestFailed(ex, batch.SourceId, batch.Messages.Count);
                throw;
            }
        }
    }

    /// <summary>
    /// The job's view of the run: connected is running (the platform marks it idle when no traffic comes), a
    /// first connection attempt is idle until it fails, trying to get back after a failure or a loss is degraded
    /// with the error as reason, failed is failed and stopped is stopped.
    /// </summary>
    private void UpdateJob(ConnectorState state)
    {
        if (_job is null || !_options.SetsJobState)
        {
            return;
        }

        var error = _lastError?.Message;
        var endpoint = _connector.Endpoint;
        switch (state)
        {
            case ConnectorState.Running:
                _job.SetState(JobState.Running, $"connected to {endpoint}");
                break;
            case ConnectorState.Connecting when error is null:
                _job.SetState(JobState.Idle, $"connecting to {endpoint}");
                break;
            case ConnectorState.Connecting or ConnectorState.Reconnecting:
                _job.SetState(JobState.Degraded, error ?? $"connection to {endpoint} lost");
                break;
            case ConnectorState.Retrying:
                _job.SetState(JobState.Degraded, $"batches cannot be committed, their messages stay unacknowledged with {endpoint}: {error ?? "no error recorded"}");
                break;
            case ConnectorState.Failed:
                _job.SetState(JobState.Failed, error ?? "the connector failed");
                break;
            case ConnectorState.Stopped:
                _job.SetState(JobState.Stopped, "shut down");
                break;
        }
    }

    /// <summary>Moves to <paramref name="state"/> only from <paramref name="expected"/>, so that the batch loop never overwrites what the connector decided meanwhile.</summary>
    private bool TrySetState(ConnectorState expected, ConnectorState state)
    {
        if (Interlocked.CompareExchange(ref _state, (int)state, (int)expected) != (int)expected)
        {
            return false;
        }

        UpdateJob(state);
        RaiseStateChanged(expected, state);
        return true;
    }

    private void SetState(ConnectorState state)
    {
        var previous = (ConnectorState)Interlocked.Exchange(ref _state, (int)state);

        // Before the early return: another failed attempt in the same state still refreshes the job's last error.
        UpdateJob(state);
        if (previous != state)
        {
            RaiseStateChanged(previous, state);
        }
    }

    private void RaiseStateChanged(ConnectorState previous, ConnectorState state)
    {
        try
        {
            StateChanged?.Invoke(this, new ConnectorStateChangedEventArgs(previous, state));
        }
        catch (Exception ex)
        {
            _logger.StateHandlerFailed(ex, _connector.Stream.SourceId);
        }
    }
}
