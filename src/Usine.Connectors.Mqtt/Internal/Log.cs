using Microsoft.Extensions.Logging;

namespace Usine.Connectors.Mqtt.Internal;

/// <summary>Log events of the embedded broker and the publisher (2040-2099); the source connector keeps its own (2000-2039).</summary>
internal static partial class Log
{
    // Embedded broker: 2040-2059.
    [LoggerMessage(2040, LogLevel.Information, "Embedded MQTT broker listening on {Address}:{Port}")]
    public static partial void BrokerStarted(this ILogger logger, string address, int port);

    [LoggerMessage(2041, LogLevel.Information, "Embedded MQTT broker on port {Port} stopped")]
    public static partial void BrokerStopped(this ILogger logger, int port);

    [LoggerMessage(2042, LogLevel.Warning, "Embedded MQTT broker dropped a message on {Topic} for client {ClientId}: its queue is full ({Max} messages); {Dropped} dropped so far")]
    public static partial void BrokerDropped(this ILogger logger, string clientId, string topic, int max, long dropped);

    // Publisher: 2060-2079.
    [LoggerMessage(2060, LogLevel.Information, "MQTT publisher {ClientId} connected to {Broker}")]
    public static partial void PublisherConnected(this ILogger logger, string clientId, string broker);

    [LoggerMessage(2061, LogLevel.Warning, "MQTT publisher {ClientId} could not connect to {Broker} (attempt {Attempt}); next attempt in {Delay}")]
    public static partial void PublisherConnectFailed(this ILogger logger, Exception exception, string clientId, string broker, int attempt, TimeSpan delay);

    [LoggerMessage(2062, LogLevel.Warning, "MQTT publisher {ClientId}: publish to {Topic} failed; reconnecting and publishing again")]
    public static partial void PublisherRetry(this ILogger logger, Exception exception, string clientId, string topic);
}
