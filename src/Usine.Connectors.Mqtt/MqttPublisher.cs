using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Usine.Connectors.Mqtt.Internal;
using Usine.Sources;

namespace Usine.Connectors.Mqtt;

/// <summary>Settings of an <see cref="MqttPublisher"/>.</summary>
public sealed record MqttPublisherOptions
{
    /// <summary>Broker URL, <c>mqtt://HOST:PORT</c> or <c>mqtts://HOST:PORT</c>. Default <c>mqtt://127.0.0.1:1883</c>.</summary>
    public Uri Broker { get; init; } = new("mqtt://127.0.0.1:1883");

    /// <summary>Client id. Default <c>usine-pub-</c> followed by a random suffix.</summary>
    public string? ClientId { get; init; }

    /// <summary>User name, if the broker asks for one. Default none.</summary>
    public string? Username { get; init; }

    /// <summary>Password of <see cref="Username"/>. Default none.</summary>
    public string? Password { get; init; }

    /// <summary>First wait after a failed connection attempt; doubles up to <see cref="ReconnectMaxBackoff"/>. Default 1 s.</summary>
    public TimeSpan ReconnectMinBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between two connection attempts. Default 30 s.</summary>
    public TimeSpan ReconnectMaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait for the broker to answer a connect or acknowledge a publish. Default 10 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    public void Validate()
    {
        _ = BrokerAddress.Parse(Broker, $"{nameof(MqttPublisherOptions)}.{nameof(Broker)}");
        if (ReconnectMinBackoff <= TimeSpan.Zero || ReconnectMaxBackoff < ReconnectMinBackoff)
        {
            throw new ArgumentException($"{nameof(ReconnectMinBackoff)} must be positive and not longer than {nameof(ReconnectMaxBackoff)} ({ReconnectMinBackoff} / {ReconnectMaxBackoff})");
        }

        if (Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(Timeout)} must be positive, not {Timeout}");
        }
    }
}

/// <summary>
/// Publishes payloads with QoS 1 and waits for the broker's acknowledgement, connecting (and reconnecting
/// after a loss) on demand. Safe to call from many tasks at once; concurrent publishes are pipelined on
/// the one connection. A publish interrupted by a lost connection is sent again, so a message may reach
/// the broker twice but is never silently lost.
/// </summary>
public sealed class MqttPublisher : IAsyncDisposable
{
    private readonly MqttPublisherOptions _options;
    private readonly BrokerAddress _broker;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IMqttClient _client;
    private readonly MqttClientOptions _clientOptions;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private long _published;
    private int _disposed;

    public MqttPublisher(MqttPublisherOptions? options = null, ILogger<MqttPublisher>? logger = null, TimeProvider? time = null)
    {
        _options = options ?? new MqttPublisherOptions();
        _options.Validate();
        _broker = BrokerAddress.Parse(_options.Broker, $"{nameof(MqttPublisherOptions)}.{nameof(MqttPublisherOptions.Broker)}");
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        ClientId = string.IsNullOrWhiteSpace(_options.ClientId) ? $"usine-pub-{Guid.NewGuid():N}" : _options.ClientId;
        var builder = _broker.ApplyTo(new MqttClientOptionsBuilder())
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(ClientId)
            .WithCleanStart(true)
            .WithTimeout(_options.Timeout);
        if (!string.IsNullOrEmpty(_options.Username))
        {
            builder.WithCredentials(_options.Username, _options.Password);
        }

        _clientOptions = builder.Build();
        _client = new MqttClientFactory().CreateMqttClient();
    }

    public string ClientId { get; }

    public bool IsConnected => _client.IsConnected;

    /// <summary>Messages the broker acknowledged.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Connects now instead of at the first publish, retrying with backoff until cancelled.</summary>
    public Task ConnectAsync(CancellationToken cancellationToken = default) => EnsureConnectedAsync(cancellationToken);

    /// <summary>Publishes a text payload (JSON, typically) as UTF-8 with QoS 1; returns once the broker acknowledged it.</summary>
    public Task PublishAsync(string topic, string payload, CancellationToken cancellationToken = default) =>
        PublishAsync(topic, Encoding.UTF8.GetBytes(payload), cancellationToken);

    /// <summary>Publishes the bytes with QoS 1; returns once the broker acknowledged them.</summary>
    public async Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayloadSegment(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();

        while (true)
        {
            await EnsureConnectedAsync(cancellationToken);
            MqttClientPublishResult result;
            try
            {
                result = await _client.PublishAsync(message, cancellationToken);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && !_client.IsConnected)
            {
                // The connection went away before the acknowledgement: send it again on the next one.
                _logger.PublisherRetry(ex, ClientId, topic);
                continue;
            }

            if (!result.IsSuccess)
            {
                // A refusal (not authorized, bad topic) will not change by retrying.
                throw new UsineException($"broker {_broker} refused a publish to '{topic}': {result.ReasonCode} {result.ReasonString}");
            }

            Interlocked.Increment(ref _published);
            return;
        }
    }

    private async Task EnsureConnectedAsync(CancellationToken ct)
    {
        if (_client.IsConnected)
        {
            return;
        }

        await _connectLock.WaitAsync(ct);
        try
        {
            for (var attempt = 1; !_client.IsConnected; attempt++)
            {
                try
                {
                    var result = await _client.ConnectAsync(_clientOptions, ct);
                    if (result.ResultCode != MqttClientConnectResultCode.Success)
                    {
                        throw new UsineException($"broker {_broker} refused the connection: {result.ResultCode} {result.ReasonString}", isTransient: true);
                    }

                    _logger.PublisherConnected(ClientId, _broker.ToString());
                }
                catch (Exception ex) when (!ct.IsCancellationRequested)
                {
                    var delay = Backoff.Delay(attempt, _options.ReconnectMinBackoff, _options.ReconnectMaxBackoff);
                    _logger.PublisherConnectFailed(ex, ClientId, _broker.ToString(), attempt, delay);
                    await Task.Delay(delay, _time, ct);
                }
            }
        }
        finally
        {
            _connectLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_client.IsConnected)
        {
            try
            {
                using var timeout = new CancellationTokenSource(_options.Timeout, _time);
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), timeout.Token);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Closing the socket is enough; the broker forgets a clean-start session on its own.
            }
        }

        _client.Dispose();
        _connectLock.Dispose();
    }
}
