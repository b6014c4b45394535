using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Usine.Connectors.Mqtt.Internal;
using Usine.Connectors.Sparkplug.Internal;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Connectors.Sparkplug;

/// <summary>
/// The connector of one sparkplug source: Usine as a Sparkplug B 3.0 primary host application. It keeps its
/// STATE (a retained will saying offline, a retained birth saying online), follows the edge nodes through a
/// <see cref="SparkplugHost"/>, asks for rebirths with <c>Node Control/Rebirth</c> NCMDs, and hands each births,
/// data and deaths message over as one raw message that decodes alone (the <c>sparkplug</c> format).
/// </summary>
/// <remarks>
/// Like the mqtt connector it subscribes with QoS 1 on a persistent MQTT 5 session and acknowledges a message
/// only once its batch is committed, so what an edge node publishes with QoS 1 survives a crash of Usine. (The
/// specification asks a host for a clean session; a persistent one is what keeps acknowledgement after commit
/// meaningful, and <c>sessionExpirySeconds: 0</c> gives the clean behaviour.)
/// </remarks>
public sealed partial class SparkplugSourceConnector : ISourceConnector
{
    private readonly SourceDefinition _source;
    private readonly SparkplugSourceSettings _settings;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _connectionLock = new(1, 1);
    private readonly BrokerCertificateCheck? _certificates;
    private IMqttClient? _client;
    private long _nextPosition;
    private int _connection;
    private long _stateTimestamp;
    private volatile bool _leaving;
    private TaskCompletionSource<Exception?> _lost = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public SparkplugSourceConnector(SourceDefinition source, string defaultBroker = "mqtt://127.0.0.1:1883", ILogger<SparkplugSourceConnector>? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _settings = SparkplugSourceSettings.Parse(source, defaultBroker);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _certificates = _settings.Tls is { } tls ? new BrokerCertificateCheck(tls, _settings.Address, _time) : null;
        Host = new SparkplugHost(source.Id, _time, _logger) { ReorderTimeout = _settings.ReorderTimeout, RebirthRetry = _settings.RebirthRetry };
        Host.RebirthNeeded += (group, edge, reason) => _ = PublishRebirthAsync(group, edge);
        Stream = new SourceStream(source.Id, "sparkplug:" + source.Id);
        RunnerOptions = new SourceRunnerOptions
        {
            BatchSize = _settings.BatchSize,
            BatchWindow = _settings.BatchWindow,
            BufferCapacity = ushort.MaxValue,
        };
    }

    /// <summary>The host's view of the edge nodes: births, aliases, seq, online or not, and its counters.</summary>
    public SparkplugHost Host { get; }

    public SourceStream Stream { get; }

    public string Endpoint => _settings.Broker;

    /// <summary>How the runner batches this source: its batchSize and batchMilliseconds.</summary>
    public SourceRunnerOptions RunnerOptions { get; }

    /// <summary>The topic of the host's STATE.</summary>
    public string StateTopic => _settings.StateTopic;

    public async Task ReceiveAsync(ReceiveContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_client is not null)
        {
            throw new InvalidOperationException("a connector receives once; create a new connector to run the source again");
        }

        _nextPosition = (await context.CheckpointAsync(cancellationToken) ?? 0) + 1;
        var client = _client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e => OnMessageAsync(context, e, cancellationToken);
        client.DisconnectedAsync += e =>
        {
            _lost.TrySetResult(e.Exception ?? new UsineException($"disconnected from {_settings.Broker}: {e.Reason}", isTransient: true));
            return Task.CompletedTask;
        };

        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ConnectAsync(client, cancellationToken);
                failures = 0;
                context.Connected();
                var reason = await _lost.Task.WaitAsync(cancellationToken);
                context.Disconnected(reason ?? new UsineException($"connection to {_settings.Broker} lost", isTransient: true));
                LogConnectionLost(_logger, _source.Id, _settings.Broker, reason?.Message ?? "closed");
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (UsineException ex) when (!ex.IsTransient)
            {
                throw;
            }
            catch (Exception ex)
            {
                failures++;
                context.Disconnected(ex);
                LogConnectFailed(_logger, ex, _source.Id, _settings.Broker, failures);
            }

            try
            {
                await Task.Delay(Backoff.Delay(Math.Max(1, failures), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10)), _time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task ConnectAsync(IMqttClient client, CancellationToken ct)
    {
        await _connectionLock.WaitAsync(ct);
        try
        {
            _connection++;
            _lost = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);

            // One timestamp per session, the same in the will and the birth, so that an offline STATE of an
            // older session can be told from this one's.
            _stateTimestamp = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var options = _settings.Address.ApplyTo(new MqttClientOptionsBuilder())
                .WithProtocolVersion(MqttProtocolVersion.V500)
                .WithClientId(_settings.ClientId)
                .WithCleanStart(false)
                .WithSessionExpiryInterval(_settings.SessionExpirySeconds)
                .WithReceiveMaximum(ushort.MaxValue)
                .WithKeepAlivePeriod(TimeSpan.FromSeconds(15))
                .WithTimeout(TimeSpan.FromSeconds(10))
                .WithWillTopic(_settings.StateTopic)
                .WithWillPayload(State(online: false))
                .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithWillRetain(true);
            if (_settings.Username is not null)
            {
                options.WithCredentials(_settings.Username, _settings.Password);
            }

            _certificates?.Reset();
            _certificates?.Apply(options);
            MqttClientConnectResult connected;
            try
            {
                connected = await client.ConnectAsync(options.Build(), ct);
            }
            catch (Exception ex) when (_certificates?.Explain(ex) is { } why && !ct.IsCancellationRequested)
            {
                throw new UsineException(why, isTransient: true, ex);
            }

            if (connected.ResultCode != MqttClientConnectResultCode.Success)
            {
                throw new UsineException($"broker {_settings.Broker} refused the connection: {connected.ResultCode} {connected.ReasonString}", isTransient: true);
            }

            // Subscribe first, then say online: the specification's order, so no birth an edge node sends in answer is missed.
            var subscribe = new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(f => f.WithTopic(_settings.StateTopic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
            foreach (var group in _settings.Groups)
            {
                subscribe.WithTopicFilter(f => f.WithTopic($"{SparkplugTopic.Namespace}/{group}/#").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
            }

            var subscribed = await client.SubscribeAsync(subscribe.Build(), ct);
            foreach (var item in subscribed.Items)
            {
                if (item.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2)
                {
                    throw new UsineException($"the broker refused the subscription of source '{_source.Id}' to '{item.TopicFilter.Topic}': {item.ResultCode}; check the broker's access rules");
                }
            }

            await PublishStateAsync(client, ct);
            LogConnected(_logger, _source.Id, _settings.Broker, connected.IsSessionPresent, _settings.StateTopic, string.Join(", ", _settings.Groups));
        }
        finally
        {
            _connectionLock.Release();
        }
    }

    private byte[] State(bool online) =>
        Encoding.UTF8.GetBytes($"{{\"online\":{(online ? "true" : "false")},\"timestamp\":{_stateTimestamp.ToString(CultureInfo.InvariantCulture)}}}");

    private Task PublishStateAsync(IMqttClient client, CancellationToken ct) =>
        client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(_settings.StateTopic)
            .WithPayload(State(online: true))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag(true)
            .Build(), ct);

    private sealed record Delivery(MqttApplicationMessageReceivedEventArgs Args, int Connection);

    private async Task OnMessageAsync(ReceiveContext context, MqttApplicationMessageReceivedEventArgs e, CancellationToken stopping)
    {
        var message = e.ApplicationMessage;
        if (message.Topic == _settings.StateTopic)
        {
            await OnOwnStateAsync(message);
            return;
        }

        if (SparkplugTopic.TryParse(message.Topic) is not { } topic || topic.Type is SparkplugMessageType.NCMD or SparkplugMessageType.DCMD)
        {
            return; // commands (ours and other hosts'), and topics that are not Sparkplug's: acknowledged as they come
        }

        e.AutoAcknowledge = false;
        var stored = Host.Observe(topic, message.Payload.IsEmpty ? [] : message.Payload.ToArray(), out var metrics);
        var raw = new RawMessage(_nextPosition++, _time.GetUtcNow().UtcDateTime, stored, message.Topic);
        var handle = message.QualityOfServiceLevel == MqttQualityOfServiceLevel.AtMostOnce ? null : new Delivery(e, Volatile.Read(ref _connection));
        try
        {
            // Weighed by its metrics: batchSize counts the records a batch makes, whatever the payloads carry.
            await context.Messages.WriteAsync(new ReceivedMessage(raw, handle, Math.Max(1, metrics)), stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Not acknowledged: the broker delivers it again to the next run.
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
        }
    }

    /// <summary>Another client (or the broker, with an old will) said this host is offline while it is connected: say online again.</summary>
    private async Task OnOwnStateAsync(MqttApplicationMessage message)
    {
        bool online;
        try
        {
            using var doc = JsonDocument.Parse(message.Payload);
            online = doc.RootElement.TryGetProperty("online", out var o) && o.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            online = false;
        }

        if (online || _leaving || _client is not { IsConnected: true } client)
        {
            return;
        }

        LogStateRepublished(_logger, _source.Id, _settings.StateTopic);
        try
        {
            await PublishStateAsync(client, CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogPublishFailed(_logger, ex, _source.Id, _settings.StateTopic);
        }
    }

    /// <summary>The NCMD that asks an edge node for its births again: <c>Node Control/Rebirth = true</c>.</summary>
    public static byte[] RebirthPayload(DateTimeOffset now)
    {
        var ms = (ulong)now.ToUnixTimeMilliseconds();
        var payload = new SparkplugPayload { Timestamp = ms };
        payload.Metrics.Add(new SparkplugMetric { Name = "Node Control/Rebirth", Timestamp = ms, DataType = SparkplugDataType.Boolean }.SetBoolean(true));
        return SparkplugCodec.Write(payload);
    }

    private async Task PublishRebirthAsync(string group, string edge)
    {
        var topic = $"{SparkplugTopic.Namespace}/{group}/NCMD/{edge}";
        try
        {
            await Task.Yield();
            if (_client is not { IsConnected: true } client)
            {
                return;
            }

            await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(topic)
                .WithPayload(RebirthPayload(_time.GetUtcNow()))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce)
                .Build(), CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogPublishFailed(_logger, ex, _source.Id, topic);
        }
    }

    public async ValueTask AcknowledgeAsync(IReadOnlyList<ReceivedMessage> committed, CancellationToken cancellationToken)
    {
        await _connectionLock.WaitAsync(CancellationToken.None);
        try
        {
            foreach (var m in committed)
            {
                // A packet id only means something on the connection that delivered it; the broker redelivers the others.
                if (m.Handle is not Delivery d || d.Connection != _connection || _client is not { IsConnected: true })
                {
                    continue;
                }

                try
                {
                    await d.Args.AcknowledgeAsync(CancellationToken.None);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    LogAcknowledgeFailed(_logger, ex, _source.Id);
                    break;
                }
            }
        }
        finally
        {
            _connectionLock.Release();
        }
    }

    /// <summary>Leaves cleanly: the STATE says offline (the will is not sent on a normal disconnect), then the session is kept.</summary>
    public async ValueTask DisposeAsync()
    {
        _leaving = true;
        if (_client is { } client)
        {
            if (client.IsConnected)
            {
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    await client.PublishAsync(new MqttApplicationMessageBuilder()
                        .WithTopic(_settings.StateTopic)
                        .WithPayload(State(online: false))
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                        .WithRetainFlag(true)
                        .Build(), timeout.Token);
                    await client.PingAsync(timeout.Token);
                    await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), timeout.Token);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    LogPublishFailed(_logger, ex, _source.Id, _settings.StateTopic);
                }
            }

            client.Dispose();
        }

        Host.Dispose();
        _connectionLock.Dispose();
        _settings.Tls?.Dispose();
    }

    // Log events 2120-2139.
    [LoggerMessage(2220, LogLevel.Information, "Sparkplug source {SourceId} connected to {Broker} (session present: {SessionPresent}); STATE online on {StateTopic}, groups {Groups}")]
    private static partial void LogConnected(ILogger logger, string sourceId, string broker, bool sessionPresent, string stateTopic, string groups);

    [LoggerMessage(2221, LogLevel.Warning, "Sparkplug source {SourceId} could not connect to {Broker} (attempt {Attempt})")]
    private static partial void LogConnectFailed(ILogger logger, Exception exception, string sourceId, string broker, int attempt);

    [LoggerMessage(2222, LogLevel.Warning, "Sparkplug source {SourceId} lost its connection to {Broker}: {Reason}; unacknowledged messages stay with the broker")]
    private static partial void LogConnectionLost(ILogger logger, string sourceId, string broker, string reason);

    [LoggerMessage(2223, LogLevel.Warning, "Sparkplug source {SourceId}: its STATE on {StateTopic} says offline while it is connected; publishing online again")]
    private static partial void LogStateRepublished(ILogger logger, string sourceId, string stateTopic);

    [LoggerMessage(2224, LogLevel.Warning, "Sparkplug source {SourceId}: publishing on {Topic} failed")]
    private static partial void LogPublishFailed(ILogger logger, Exception exception, string sourceId, string topic);

    [LoggerMessage(2225, LogLevel.Warning, "Sparkplug source {SourceId}: acknowledging a committed message failed; the broker will redeliver it")]
    private static partial void LogAcknowledgeFailed(ILogger logger, Exception exception, string sourceId);
}
