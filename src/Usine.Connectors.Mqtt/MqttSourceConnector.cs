using System.Buffers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using Usine.Connectors.Mqtt.Internal;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Connectors.Mqtt;

/// <summary>
/// The connector of one mqtt source, run by a <see cref="SourceRunner"/>: subscribes with QoS 1 on a persistent
/// MQTT 5 session, hands each message over with its position, and acknowledges it to the broker (PUBACK) only
/// when the runner says its batch is committed. A crash at any point therefore loses nothing: whatever was not
/// acknowledged is redelivered by the broker, and the store drops what it already holds.
/// </summary>
/// <remarks>
/// Backpressure: the broker sends at most <see cref="MqttConnectorOptions.ReceiveMaximum"/> unacknowledged
/// messages, and acknowledgements only follow commits, so a slow store slows the broker down instead of
/// filling memory; the rest waits in the broker's queue. The runner's buffer has that same capacity
/// (<see cref="RunnerOptions"/>), which only matters with a broker that ignores Receive Maximum: then the
/// client's dispatch loop waits instead of buffering more.
/// </remarks>
public sealed partial class MqttSourceConnector : ISourceConnector
{
    private readonly SourceDefinition _source;
    private readonly MqttConnectorOptions _options;
    private readonly MqttSourceSettings _settings;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private IMqttClient? _client;
    private long _nextPosition;

    public MqttSourceConnector(SourceDefinition source, MqttConnectorOptions? options = null, ILogger<MqttSourceConnector>? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _options = options ?? new MqttConnectorOptions();
        _options.Validate();
        _source = source;
        _settings = MqttSourceSettings.Parse(source, _options);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        Stream = new SourceStream(source.Id, "mqtt:" + source.Id);
        RunnerOptions = new SourceRunnerOptions
        {
            BatchSize = _settings.BatchSize,
            BatchWindow = _settings.BatchWindow,
            BufferCapacity = _options.ReceiveMaximum,
            RetryMinBackoff = _options.IngestRetryMinBackoff,
            RetryMaxBackoff = _options.IngestRetryMaxBackoff,
            DrainTimeout = _options.DrainTimeout,
        };
    }

    public string SourceId => _source.Id;

    /// <summary>The stream the positions belong to: <c>mqtt:SOURCE</c>.</summary>
    public SourceStream Stream { get; }

    public string StreamId => Stream.StreamId;

    public string Endpoint => _settings.Broker.ToString();

    /// <summary>How the runner batches this source: its batchSize and batchMilliseconds, a buffer of the receive maximum, the options' retries and drain.</summary>
    public SourceRunnerOptions RunnerOptions { get; }

    /// <summary>The client id the session is kept under.</summary>
    public string ClientId => _settings.ClientId;

    /// <summary>The filter subscribed to, including the <c>$share/GROUP/</c> prefix of a shared subscription.</summary>
    public string SubscriptionFilter => _settings.SubscriptionFilter;

    /// <summary>
    /// Connects, subscribes and hands messages over until <paramref name="cancellationToken"/> is cancelled,
    /// keeping the connection open for the last acknowledgements (<see cref="DisposeAsync"/> closes it). Lost
    /// connections are retried forever; it throws only when the broker refuses the subscription.
    /// </summary>
    public async Task ReceiveAsync(ReceiveContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_client is not null)
        {
            throw new InvalidOperationException("a connector receives once; create a new connector to run the source again");
        }

        _nextPosition = (await context.CheckpointAsync(cancellationToken) ?? 0) + 1;
        LogStarting(_logger, _source.Id, Endpoint, _settings.ClientId, _settings.SubscriptionFilter, _nextPosition);
        if (_settings.Tls is { InsecureSkipVerify: true })
        {
            LogInsecureSkipVerify(_logger, _source.Id, Endpoint);
        }

        var client = _client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e => OnMessageReceivedAsync(client, context, e, cancellationToken);
        client.DisconnectedAsync += OnDisconnectedAsync;
        await ConnectionLoopAsync(client, context, cancellationToken);
    }

    /// <summary>Acknowledges committed messages in the order they arrived, as MQTT requires, on the connection that delivered them.</summary>
    public async ValueTask AcknowledgeAsync(IReadOnlyList<ReceivedMessage> committed, CancellationToken cancellationToken)
    {
        var skipped = 0;
        var broken = false;
        await _connectionLock.WaitAsync(CancellationToken.None);
        try
        {
            foreach (var m in committed)
            {
                if (m.Handle is not Delivery d)
                {
                    continue; // QoS 0: nothing to acknowledge
                }

                if (broken || !ReferenceEquals(d.Connection, _current) || !d.Connection.IsAlive)
                {
                    skipped++;
                    continue;
                }

                try
                {
                    await d.Args.AcknowledgeAsync(CancellationToken.None);
                }
                catch (Exception ex)
                {
                    // The connection broke under us; the remaining acknowledgements would fail the same way.
                    LogAcknowledgeFailed(_logger, ex, _source.Id);
                    broken = true;
                    skipped++;
                }
            }
        }
        finally
        {
            _connectionLock.Release();
        }

        if (skipped > 0)
        {
            LogAcknowledgeSkipped(_logger, _source.Id, skipped);
        }
    }

    /// <summary>Leaves the session after the last acknowledgement: a ping makes sure the broker has them, then a normal disconnect keeps the session.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_client is { } client)
        {
            await DisconnectAsync(client);
            client.Dispose();
        }

        _settings.Tls?.Dispose();
        _connectionLock.Dispose();
    }

    /// <summary>A message as the client handed it over: what acknowledges it, and the connection it came on.</summary>
    private sealed record Delivery(MqttApplicationMessageReceivedEventArgs Args, Connection Connection);

    private async Task OnMessageReceivedAsync(IMqttClient client, ReceiveContext context, MqttApplicationMessageReceivedEventArgs e, CancellationToken stopping)
    {
        // Acknowledged once committed, never here.
        e.AutoAcknowledge = false;
        var message = e.ApplicationMessage;
        var payload = message.Payload.IsEmpty ? [] : message.Payload.ToArray(); // the client reuses its buffers
        var raw = new RawMessage(_nextPosition++, _time.GetUtcNow().UtcDateTime, payload, message.Topic);
        var received = new ReceivedMessage(raw, message.QualityOfServiceLevel == MQTTnet.Protocol.MqttQualityOfServiceLevel.AtMostOnce ? null : new Delivery(e, _current!));
        var writer = context.Messages;
        if (writer.TryWrite(received))
        {
            return;
        }

        // Full: only with a broker that ignores Receive Maximum. Wait for room, but give up when stopping
        // or when the connection dies, because the client waits for this handler before it reports the
        // loss. A message given up is not acknowledged, so the broker delivers it again.
        try
        {
            while (!writer.TryWrite(received))
            {
                using var recheck = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                recheck.CancelAfter(TimeSpan.FromSeconds(1));
                try
                {
                    if (!await writer.WaitToWriteAsync(recheck.Token))
                    {
                        return;
                    }
                }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                {
                    if (!client.IsConnected)
                    {
                        return;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

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
            LogDisconnectFailed(_logger, ex, _source.Id);
        }
    }
}
