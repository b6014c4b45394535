using Microsoft.Extensions.Logging;

namespace Usine.Connectors.Mqtt.Internal;

/// <summary>Every log event of the MQTT connector, with its id in one place (2000-2099).</summary>
internal static partial class Log
{
    // Source connector: 2000-2039.
    [LoggerMessage(2000, LogLevel.Information, "MQTT source {SourceId} starting: broker {Broker}, client id {ClientId}, filter {Filter}, next position {Position}")]
    public static partial void Starting(this ILogger logger, string sourceId, string broker, string clientId, string filter, long position);

    [LoggerMessage(2001, LogLevel.Information, "MQTT source {SourceId} connected to {Broker} (session present: {SessionPresent}) and subscribed to {Filter} with QoS {Qos}")]
    public static partial void Connected(this ILogger logger, string sourceId, string broker, bool sessionPresent, string filter, int qos);

    [LoggerMessage(2002, LogLevel.Warning, "MQTT source {SourceId} could not connect to {Broker} (attempt {Attempt}); next attempt in {Delay}")]
    public static partial void ConnectFailed(this ILogger logger, Exception exception, string sourceId, string broker, int attempt, TimeSpan delay);

    [LoggerMessage(2003, LogLevel.Warning, "MQTT source {SourceId} lost its connection to {Broker}: {Reason}; unacknowledged messages stay with the broker")]
    public static partial void ConnectionLost(this ILogger logger, Exception? exception, string sourceId, string broker, string reason);

    [LoggerMessage(2004, LogLevel.Error, "MQTT source {SourceId}: the broker refused the subscription to {Filter}: {Reason}")]
    public static partial void SubscriptionRefused(this ILogger logger, string sourceId, string filter, string reason);

    [LoggerMessage(2007, LogLevel.Information, "MQTT source {SourceId}: {Count} committed messages arrived on a connection that is gone, so they cannot be acknowledged; the broker redelivers them and the store drops the duplicates")]
    public static partial void AcknowledgeSkipped(this ILogger logger, string sourceId, int count);

    [LoggerMessage(2008, LogLevel.Warning, "MQTT source {SourceId}: acknowledging a committed message failed; the broker will redeliver it")]
    public static partial void AcknowledgeFailed(this ILogger logger, Exception exception, string sourceId);

    [LoggerMessage(2013, LogLevel.Warning, "MQTT source {SourceId}: INSECURE: insecureSkipVerify is set, so the certificate of {Broker} is NOT checked. Anyone on the network path can pose as the broker and read or forge this source's data. Set caFile to the CA that issued the broker's certificate and remove insecureSkipVerify")]
    public static partial void InsecureSkipVerify(this ILogger logger, string sourceId, string broker);

    [LoggerMessage(2014, LogLevel.Information, "MQTT source {SourceId}: leaving the session cleanly failed; the broker notices the closed socket and keeps the session all the same")]
    public static partial void DisconnectFailed(this ILogger logger, Exception exception, string sourceId);

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
