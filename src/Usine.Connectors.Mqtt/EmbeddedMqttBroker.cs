using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Server;
using Usine.Connectors.Mqtt.Internal;

namespace Usine.Connectors.Mqtt;

/// <summary>Settings of the in-process broker.</summary>
public sealed record EmbeddedMqttBrokerOptions
{
    /// <summary>TCP port; 0 picks a free one (see <see cref="EmbeddedMqttBroker.Port"/>). Default 1883.</summary>
    public int Port { get; init; } = 1883;

    /// <summary>Address to listen on. Default 127.0.0.1: open it to the plant network on purpose, not by default.</summary>
    public IPAddress BindAddress { get; init; } = IPAddress.Loopback;

    /// <summary>
    /// Messages queued per client (connected or with a persistent session) before the oldest is dropped;
    /// every drop is counted in <see cref="EmbeddedMqttBroker.DroppedMessages"/> and logged. Default 100000.
    /// </summary>
    public int MaxPendingMessagesPerClient { get; init; } = 100_000;

    public void Validate()
    {
        if (Port is < 0 or > 65535)
        {
            throw new ArgumentException($"{nameof(Port)} must be from 0 to 65535 (0 picks a free port), not {Port}");
        }

        if (BindAddress is null || BindAddress.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"{nameof(BindAddress)} must be an IPv4 or IPv6 address such as 127.0.0.1");
        }

        if (MaxPendingMessagesPerClient < 1)
        {
            throw new ArgumentException($"{nameof(MaxPendingMessagesPerClient)} must be at least 1, not {MaxPendingMessagesPerClient}");
        }
    }
}

/// <summary>
/// An MQTT 5 broker inside the Usine process (MQTTnet.Server), for <c>usine demo</c> and small edge sites
/// that have no broker of their own. Sessions are persistent, so connectors keep their QoS 1 guarantees.
/// </summary>
public sealed class EmbeddedMqttBroker : IAsyncDisposable
{
    private readonly EmbeddedMqttBrokerOptions _options;
    private readonly ILogger _logger;
    private MqttServer? _server;
    private long _dropped;

    public EmbeddedMqttBroker(EmbeddedMqttBrokerOptions? options = null, ILogger<EmbeddedMqttBroker>? logger = null)
    {
        _options = options ?? new EmbeddedMqttBrokerOptions();
        _options.Validate();
        _logger = logger ?? (ILogger)NullLogger.Instance;
        Port = _options.Port;
    }

    /// <summary>The port listened on; the one actually picked when the options asked for 0, once started.</summary>
    public int Port { get; private set; }

    /// <summary>The URL clients use: <c>mqtt://ADDRESS:PORT</c>.</summary>
    public Uri Address => new($"mqtt://{(_options.BindAddress.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{_options.BindAddress}]" : _options.BindAddress.ToString())}:{Port}");

    public bool IsRunning => _server?.IsStarted == true;

    /// <summary>Messages dropped because a client's queue was full.</summary>
    public long DroppedMessages => Interlocked.Read(ref _dropped);

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_server is not null)
        {
            throw new InvalidOperationException("the embedded broker is already started");
        }

        cancellationToken.ThrowIfCancellationRequested();

        // MQTTnet does not report the port it bound, so a free one is found first. Another process could
        // take it in between; StartAsync then fails with "address in use" and can be called again.
        var port = _options.Port == 0 ? FreePort(_options.BindAddress) : _options.Port;
        var builder = new MqttServerFactory().CreateServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointPort(port)
            .WithPersistentSessions()
            .WithMaxPendingMessagesPerClient(_options.MaxPendingMessagesPerClient)
            .WithPendingMessagesOverflowStrategy(MqttPendingMessagesOverflowStrategy.DropOldestQueuedMessage);
        builder = _options.BindAddress.AddressFamily == AddressFamily.InterNetworkV6
            ? builder.WithDefaultEndpointBoundIPV6Address(_options.BindAddress).WithDefaultEndpointBoundIPAddress(IPAddress.None)
            : builder.WithDefaultEndpointBoundIPAddress(_options.BindAddress).WithDefaultEndpointBoundIPV6Address(IPAddress.None);

        var server = new MqttServerFactory().CreateMqttServer(builder.Build());
        server.QueuedApplicationMessageOverwrittenAsync += e => Dropped(e.ReceiverClientId, (e.Packet as MQTTnet.Packets.MqttPublishPacket)?.Topic ?? "?");
        server.ApplicationMessageEnqueuedOrDroppedAsync += e => e.IsDropped ? Dropped(e.ReceiverClientId, e.ApplicationMessage.Topic) : Task.CompletedTask;
        try
        {
            await server.StartAsync();
        }
        catch
        {
            server.Dispose();
            throw;
        }

        _server = server;
        Port = port;
        _logger.BrokerStarted(_options.BindAddress.ToString(), port);
    }

    private Task Dropped(string clientId, string topic)
    {
        var dropped = Interlocked.Increment(ref _dropped);
        _logger.BrokerDropped(clientId, topic, _options.MaxPendingMessagesPerClient, dropped);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var server = Interlocked.Exchange(ref _server, null);
        if (server is null)
        {
            return;
        }

        try
        {
            await server.StopAsync(new MqttServerStopOptionsBuilder().Build()).WaitAsync(cancellationToken);
        }
        finally
        {
            server.Dispose();
            _logger.BrokerStopped(Port);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private static int FreePort(IPAddress address)
    {
        using var listener = new TcpListener(address, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
