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
                        _logger.SubscriptionRefused(_source.Id, _settings.SubscriptionFilter, item.ResultCode.ToString());
                        throw new UsineException($"the broker refused the subscription of source '{_source.Id}' to '{_settings.SubscriptionFilter}': {item.ResultCode}; check the topic filter and the broker's access rules");
                    }
                }

                failures = 0;
                _logger.Connected(_source.Id, _settings.Broker.ToString(), connected.IsSessionPresent, _settings.SubscriptionFilter, (int)_settings.Qos);
                context.Connected();

                var reason = await connection.Lost.WaitAsync(ct);
                context.Disconnected(reason ?? new UsineException($"connection to {_settings.Broker} lost", isTransient: true));
                _logger.ConnectionLost(reason, _source.Id, _settings.Broker.ToString(), reason?.Message ?? "closed by the broker");
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
                _logger.ConnectFailed(ex, _source.Id, _settings.Broker.ToString(), failures, retryIn);
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
}
