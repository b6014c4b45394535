using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using Usine.Connectors.Mqtt.Internal;
using Usine.Sources;

namespace Usine.Connectors.Mqtt;

public sealed partial class MqttSourceConnector
{
    // Acknowledgements carry packet ids that only mean something on the connection that delivered the
    // message. The lock keeps an acknowledgement of an old connection from reaching a newer one, where
    // the same id may name another, still uncommitted, message.
    private readonly SemaphoreSlim _connectionLock = new(1, 1);
    private Connection? _current;

    /// <summary>One connection to the broker; messages remember which one delivered them.</summary>
    private sealed class Connection
    {
        private readonly TaskCompletionSource<Exception?> _lost = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool IsAlive => !_lost.Task.IsCompleted;

        public Task<Exception?> Lost => _lost.Task;

        public void MarkLost(Exception? reason) => _lost.TrySetResult(reason);
    }

    private async Task ConnectionLoopAsync(IMqttClient client, ReceiveContext context, CancellationToken ct)
    {
        var options = _settings.Broker.ApplyTo(new MqttClientOptionsBuilder())
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(_settings.ClientId)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)_options.SessionExpiry.TotalSeconds)
            .WithReceiveMaximum(_options.ReceiveMaximum)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(_options.ConnectTimeout);
        if (_settings.Username is not null)
        {
            options.WithCredentials(_settings.Username, _settings.Password);
        }

        var certificates = _settings.Tls is { } tls ? new BrokerCertificateCheck(tls, _settings.Broker, _time) : null;
        certificates?.Apply(options);

        var clientOptions = options.Build();
        var subscription = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(_settings.SubscriptionFilter).WithQualityOfServiceLevel(_settings.Qos))
            .Build();

        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            var connection = new Connection();
            await _connectionLock.WaitAsync(ct);
            _current = connection;
            _connectionLock.Release();

            certificates?.Reset();
            try
            {
                // Clean start false: a session the broker still holds is resumed, and the messages it kept
                // (queued while away, or delivered but never acknowledged) arrive right after the CONNACK.
                var connected = await client.ConnectAsync(clientOptions, ct);
                if (connected.ResultCode != MqttClientConnectResultCode.Success)
                {
                    throw new UsineException($"broker {_settings.Broker} refused the connection: {connected.ResultCode} {connected.ReasonString}", isTransient: true);
                }

                // Subscribing again on a resumed session is harmless and covers a broker that lost it.
                var subscribed = await client.SubscribeAsync(subscription, ct);
                foreach (var item in subscribed.Items)
                {
                    if (item.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2)
                    {
                        LogSubscriptionRefused(_logger, _source.Id, _settings.SubscriptionFilter, item.ResultCode.ToString());
                        throw new UsineException($"the broker refused the subscription of source '{_source.Id}' to '{_settings.SubscriptionFilter}': {item.ResultCode}; check the topic filter and the broker's access rules");
                    }
                }

                failures = 0;
                LogConnected(_logger, _source.Id, _settings.Broker.ToString(), connected.IsSessionPresent, _settings.SubscriptionFilter, (int)_settings.Qos);
                context.Connected();

                var reason = await connection.Lost.WaitAsync(ct);
                context.Disconnected(reason ?? new UsineException($"connection to {_settings.Broker} lost", isTransient: true));
                LogConnectionLost(_logger, reason, _source.Id, _settings.Broker.ToString(), reason?.Message ?? "closed by the broker");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (UsineException ex) when (!ex.IsTransient)
            {
                connection.MarkLost(ex);
                throw;
            }
            catch (Exception caught)
            {
                // A refused certificate surfaces as a bare "authentication failed"; say which check failed and why.
                var ex = certificates?.Explain(caught) is { } reason ? new UsineException(reason, isTransient: true, caught) : caught;
                failures++;
                connection.MarkLost(ex);
                if (client.IsConnected)
                {
                    await DisconnectAsync(client);
                }

                context.Disconnected(ex);
                var retryIn = Backoff.Delay(failures, _options.ReconnectMinBackoff, _options.ReconnectMaxBackoff);
                LogConnectFailed(_logger, ex, _source.Id, _settings.Broker.ToString(), failures, retryIn);
                if (!await DelayAsync(retryIn, ct))
                {
                    break;
                }

                continue;
            }

            // The connection was lost after it ran: come back quickly the first time.
            connection.MarkLost(null);
            if (!await DelayAsync(Backoff.Delay(1, _options.ReconnectMinBackoff, _options.ReconnectMaxBackoff), ct))
            {
                break;
            }
        }
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, _time, ct);
            return true;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return false;
        }
    }

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs e)
    {
        _current?.MarkLost(e.Exception ?? (e.ClientWasConnected ? new UsineException($"disconnected by {_settings.Broker}: {e.Reason} {e.ReasonString}", isTransient: true) : null));
        return Task.CompletedTask;
    }

    // Log events 2000-2039.
    [LoggerMessage(2000, LogLevel.Information, "MQTT source {SourceId} starting: broker {Broker}, client id {ClientId}, filter {Filter}, next position {Position}")]
    private static partial void LogStarting(ILogger logger, string sourceId, string broker, string clientId, string filter, long position);

    [LoggerMessage(2001, LogLevel.Information, "MQTT source {SourceId} connected to {Broker} (session present: {SessionPresent}) and subscribed to {Filter} with QoS {Qos}")]
    private static partial void LogConnected(ILogger logger, string sourceId, string broker, bool sessionPresent, string filter, int qos);

    [LoggerMessage(2002, LogLevel.Warning, "MQTT source {SourceId} could not connect to {Broker} (attempt {Attempt}); next attempt in {Delay}")]
    private static partial void LogConnectFailed(ILogger logger, Exception exception, string sourceId, string broker, int attempt, TimeSpan delay);

    [LoggerMessage(2003, LogLevel.Warning, "MQTT source {SourceId} lost its connection to {Broker}: {Reason}; unacknowledged messages stay with the broker")]
    private static partial void LogConnectionLost(ILogger logger, Exception? exception, string sourceId, string broker, string reason);

    [LoggerMessage(2004, LogLevel.Error, "MQTT source {SourceId}: the broker refused the subscription to {Filter}: {Reason}")]
    private static partial void LogSubscriptionRefused(ILogger logger, string sourceId, string filter, string reason);

    [LoggerMessage(2007, LogLevel.Information, "MQTT source {SourceId}: {Count} committed messages arrived on a connection that is gone, so they cannot be acknowledged; the broker redelivers them and the store drops the duplicates")]
    private static partial void LogAcknowledgeSkipped(ILogger logger, string sourceId, int count);

    [LoggerMessage(2008, LogLevel.Warning, "MQTT source {SourceId}: acknowledging a committed message failed; the broker will redeliver it")]
    private static partial void LogAcknowledgeFailed(ILogger logger, Exception exception, string sourceId);

    [LoggerMessage(2013, LogLevel.Warning, "MQTT source {SourceId}: INSECURE: insecureSkipVerify is set, so the certificate of {Broker} is NOT checked. Anyone on the network path can pose as the broker and read or forge this source's data. Set caFile to the CA that issued the broker's certificate and remove insecureSkipVerify")]
    private static partial void LogInsecureSkipVerify(ILogger logger, string sourceId, string broker);

    [LoggerMessage(2014, LogLevel.Information, "MQTT source {SourceId}: leaving the session cleanly failed; the broker notices the closed socket and keeps the session all the same")]
    private static partial void LogDisconnectFailed(ILogger logger, Exception exception, string sourceId);
}
