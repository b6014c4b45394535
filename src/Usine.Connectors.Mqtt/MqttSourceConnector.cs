using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using Usine.Connectors.Mqtt.Internal;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Sources;

namespace Usine.Connectors.Mqtt;

/// <summary>
/// Streams one mqtt source into an <see cref="IIngestor"/>: subscribes with QoS 1 on a persistent MQTT 5
/// session, batches what arrives, and acknowledges each message to the broker only once the batch holding
/// it is committed. A crash at any point therefore loses nothing: whatever was not acknowledged is
/// redelivered by the broker, and the store drops what it already holds.
/// </summary>
/// <remarks>
/// Backpressure: the broker sends at most <see cref="MqttConnectorOptions.ReceiveMaximum"/> unacknowledged
/// messages, and acknowledgements only follow commits, so a slow store slows the broker down instead of
/// filling memory; the rest waits in the broker's queue. The buffer between the MQTT client and the batcher
/// is a bounded channel of that same capacity whose full mode is Wait, which only matters with a broker
/// that ignores Receive Maximum: then the client's dispatch loop waits instead of buffering more.
/// </remarks>
public sealed partial class MqttSourceConnector
{
    private readonly SourceDefinition _source;
    private readonly IIngestor _ingestor;
    private readonly MqttConnectorOptions _options;
    private readonly MqttSourceSettings _settings;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<Pending> _buffer;

    private int _state = (int)MqttConnectorState.Connecting;
    private int _started;
    private long _received;
    private long _ingested;
    private long _acknowledged;
    private long _reconnects;
    private long _ingestRetries;
    private long _nextPosition;
    private volatile Exception? _lastError;
    private readonly Job? _job;

    /// <param name="job">The source's stream job, kept up to date with the connection's state and the counts of every committed batch.</param>
    public MqttSourceConnector(SourceDefinition source, IIngestor ingestor, MqttConnectorOptions? options = null, ILogger<MqttSourceConnector>? logger = null, TimeProvider? time = null, Job? job = null)
    {
        _job = job;
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(ingestor);
        _options = options ?? new MqttConnectorOptions();
        _options.Validate();
        _source = source;
        _ingestor = ingestor;
        _settings = MqttSourceSettings.Parse(source, _options);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _buffer = Channel.CreateBounded<Pending>(new BoundedChannelOptions(_options.ReceiveMaximum)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
    }

    public string SourceId => _source.Id;

    /// <summary>The stream the positions belong to: <c>mqtt:SOURCE</c>.</summary>
    public string StreamId => "mqtt:" + _source.Id;

    /// <summary>The client id the session is kept under.</summary>
    public string ClientId => _settings.ClientId;

    /// <summary>The filter subscribed to, including the <c>$share/GROUP/</c> prefix of a shared subscription.</summary>
    public string SubscriptionFilter => _settings.SubscriptionFilter;

    public MqttConnectorState State => (MqttConnectorState)Volatile.Read(ref _state);

    /// <summary>The last error met (connection, subscription or ingest), kept after recovery so it can be shown.</summary>
    public Exception? LastError => _lastError;

    /// <summary>Messages handed over by the broker, redeliveries included.</summary>
    public long Received => Interlocked.Read(ref _received);

    /// <summary>Messages committed by the ingestor.</summary>
    public long Ingested => Interlocked.Read(ref _ingested);

    /// <summary>Committed messages released to the broker (QoS 0 messages need no acknowledgement and are counted here too).</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Connections re-established after a loss.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>Batches ingested again after a transient failure.</summary>
    public long IngestRetries => Interlocked.Read(ref _ingestRetries);

    /// <summary>Raised on every change of <see cref="State"/>, on the connector's own thread: keep handlers short.</summary>
    public event EventHandler<MqttConnectorStateChangedEventArgs>? StateChanged;

    /// <summary>
    /// Connects, subscribes and ingests until <paramref name="cancellationToken"/> is cancelled, then finishes
    /// the batch in hand (within <see cref="MqttConnectorOptions.DrainTimeout"/>), disconnects keeping the
    /// session, and returns. Lost connections are retried forever; it throws only when retrying cannot help
    /// (the broker refuses the subscription, the ingestor rejects a batch), leaving <see cref="State"/> Failed.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("RunAsync may be called once per connector; create a new connector to run the source again");
        }

        SetState(MqttConnectorState.Connecting);
        long? checkpoint;
        try
        {
            checkpoint = await ReadCheckpointAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            SetState(MqttConnectorState.Stopped);
            return;
        }
        catch (Exception ex)
        {
            _lastError = ex;
            SetState(MqttConnectorState.Failed);
            throw;
        }

        _nextPosition = (checkpoint ?? 0) + 1;
        _logger.Starting(_source.Id, _settings.Broker.ToString(), _settings.ClientId, _settings.SubscriptionFilter, _nextPosition);
        if (_settings.Tls is { InsecureSkipVerify: true })
        {
            _logger.InsecureSkipVerify(_source.Id, _settings.Broker.ToString());
        }

        using var client = new MqttClientFactory().CreateMqttClient();
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var drain = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        client.ApplicationMessageReceivedAsync += e => OnMessageReceivedAsync(client, e, stopping.Token);
        client.DisconnectedAsync += OnDisconnectedAsync;

        var batching = Task.Run(() => BatchLoopAsync(drain.Token), CancellationToken.None);

        // A batch loop that fails (a rejected batch) must also end the connection loop.
        _ = batching.ContinueWith(static (_, s) => ((CancellationTokenSource)s!).Cancel(), stopping, CancellationToken.None, TaskContinuationOptions.NotOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

        Exception? failure = null;
        try
        {
            await ConnectionLoopAsync(client, stopping.Token);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        // Stop taking messages, commit and acknowledge those already buffered, then leave the session.
        await stopping.CancelAsync();
        _buffer.Writer.TryComplete();
        drain.CancelAfter(_options.DrainTimeout);
        try
        {
            await batching;
        }
        catch (OperationCanceledException) when (drain.IsCancellationRequested)
        {
            _logger.DrainTimedOut(_source.Id, _options.DrainTimeout);
        }
        catch (Exception ex)
        {
            failure ??= ex;
        }

        await DisconnectAsync(client);
        _settings.Tls?.Dispose();
        _logger.Stopped(_source.Id, Received, Acknowledged, Reconnects);
        if (failure is not null)
        {
            _lastError = failure;
            SetState(MqttConnectorState.Failed);
            ExceptionDispatchInfo.Throw(failure);
        }

        SetState(MqttConnectorState.Stopped);
    }

    private async Task<long?> ReadCheckpointAsync(CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await _ingestor.GetCheckpointAsync(StreamId, ct);
            }
            catch (Exception ex) when (IsTransient(ex))
            {
                _lastError = ex;
                var delay = Backoff.Delay(attempt, _options.IngestRetryMinBackoff, _options.IngestRetryMaxBackoff);
                _logger.CheckpointRetry(ex, _source.Id, StreamId, attempt, delay);
                await Task.Delay(delay, _time, ct);
            }
        }
    }

    private static bool IsTransient(Exception ex) =>
        ex is UsineException { IsTransient: true } or TimeoutException;

    private async Task DisconnectAsync(IMqttClient client)
    {
        if (!client.IsConnected)
        {
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(_options.ConnectTimeout, _time);

            // A broker answers a ping after it has read everything sent before it, so once the answer is
            // in, the last acknowledgements are known to the broker. Without this barrier a broker that
            // lags behind its socket (MQTTnet's, under load) may drop them when the connection closes or
            // is taken over by the next run, and redeliver messages that were already committed.
            await client.PingAsync(timeout.Token);

            // A normal disconnect keeps the session: the expiry interval sent on connect still applies.
            var options = new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build();
            await client.DisconnectAsync(options, timeout.Token);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The broker notices the closed socket just as well; the session survives either way.
            _lastError ??= ex;
        }
    }

    /// <summary>
    /// The job's view of the connector: connected is running (the platform marks it idle when no traffic
    /// comes), a first connection attempt is idle until it fails, trying to get back after a failure or a
    /// loss is degraded with the error as reason, failed is failed and stopped is stopped.
    /// </summary>
    private void UpdateJob(MqttConnectorState state)
    {
        if (_job is null)
        {
            return;
        }

        var error = _lastError?.Message;
        switch (state)
        {
            case MqttConnectorState.Running:
                _job.SetState(JobState.Running, $"connected to {_settings.Broker}");
                break;
            case MqttConnectorState.Connecting when error is null:
                _job.SetState(JobState.Idle, $"connecting to {_settings.Broker}");
                break;
            case MqttConnectorState.Connecting or MqttConnectorState.Reconnecting:
                _job.SetState(JobState.Degraded, error ?? $"connection to {_settings.Broker} lost");
                break;
            case MqttConnectorState.Retrying:
                _job.SetState(JobState.Degraded, $"batches cannot be committed, their messages stay unacknowledged with the broker: {error ?? "no error recorded"}");
                break;
            case MqttConnectorState.Failed:
                _job.SetState(JobState.Failed, error ?? "the connector failed");
                break;
            case MqttConnectorState.Stopped:
                _job.SetState(JobState.Stopped, "shut down");
                break;
        }
    }

    /// <summary>Moves to <paramref name="state"/> only from <paramref name="expected"/>, so that the batch loop never overwrites what the connection loop decided meanwhile.</summary>
    private bool TrySetState(MqttConnectorState expected, MqttConnectorState state)
    {
        if (Interlocked.CompareExchange(ref _state, (int)state, (int)expected) != (int)expected)
        {
            return false;
        }

        UpdateJob(state);
        RaiseStateChanged(expected, state);
        return true;
    }

    private void SetState(MqttConnectorState state)
    {
        var previous = (MqttConnectorState)Interlocked.Exchange(ref _state, (int)state);

        // Before the early return: another failed attempt in the same state still refreshes the job's last error.
        UpdateJob(state);
        if (previous != state)
        {
            RaiseStateChanged(previous, state);
        }
    }

    private void RaiseStateChanged(MqttConnectorState previous, MqttConnectorState state)
    {
        try
        {
            StateChanged?.Invoke(this, new MqttConnectorStateChangedEventArgs(previous, state));
        }
        catch (Exception ex)
        {
            _logger.StateHandlerFailed(ex, _source.Id);
        }
    }
}
