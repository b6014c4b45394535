namespace Usine.Connectors.Mqtt;

/// <summary>Settings shared by every MQTT source of a process; per-source settings live in the source definition.</summary>
public sealed record MqttConnectorOptions
{
    /// <summary>Broker used by sources whose settings name none. Default <c>mqtt://127.0.0.1:1883</c>.</summary>
    public Uri DefaultBroker { get; init; } = new("mqtt://127.0.0.1:1883");

    /// <summary>First wait after a lost connection or a failed attempt; doubles up to <see cref="ReconnectMaxBackoff"/>. Default 1 s.</summary>
    public TimeSpan ReconnectMinBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between two connection attempts. Default 30 s.</summary>
    public TimeSpan ReconnectMaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Most unacknowledged QoS 1 messages the broker may have in flight to the connector (MQTT 5 Receive
    /// Maximum). This is the memory bound of a connector and the size of its buffer. Default 20000: two batches of
    /// the default 10000 in flight, about 20 MB of messages of a few hundred bytes.
    /// </summary>
    public ushort ReceiveMaximum { get; init; } = 20_000;

    /// <summary>
    /// How long the broker keeps the session (subscription, unacknowledged and queued messages) while the
    /// connector is away. Default 7 days, so a weekend outage of Usine loses nothing the broker can hold.
    /// </summary>
    public TimeSpan SessionExpiry { get; init; } = TimeSpan.FromDays(7);

    /// <summary>MQTT keep-alive; a dead connection is noticed within 1.5 times this. Default 15 s.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Longest wait for the broker to answer a connect or subscribe. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>First wait before a batch whose ingest failed transiently is retried; doubles up to <see cref="IngestRetryMaxBackoff"/>. Default 200 ms.</summary>
    public TimeSpan IngestRetryMinBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest wait between two ingest attempts of the same batch. Default 10 s.</summary>
    public TimeSpan IngestRetryMaxBackoff { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// On stop, how long the connector may keep committing and acknowledging what it already received
    /// before it disconnects. What is left is redelivered by the broker next time. Default 5 s.
    /// </summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws when a setting cannot work, saying which and how to fix it.</summary>
    public void Validate()
    {
        if (DefaultBroker is null || !DefaultBroker.IsAbsoluteUri || DefaultBroker.Scheme is not ("mqtt" or "mqtts" or "tcp"))
        {
            throw new ArgumentException($"{nameof(DefaultBroker)} must be an absolute mqtt:// or mqtts:// URI such as mqtt://127.0.0.1:1883, not '{DefaultBroker}'");
        }

        RequirePositive(ReconnectMinBackoff, nameof(ReconnectMinBackoff));
        RequirePositive(IngestRetryMinBackoff, nameof(IngestRetryMinBackoff));
        RequirePositive(KeepAlive, nameof(KeepAlive));
        RequirePositive(ConnectTimeout, nameof(ConnectTimeout));
        if (ReconnectMaxBackoff < ReconnectMinBackoff)
        {
            throw new ArgumentException($"{nameof(ReconnectMaxBackoff)} ({ReconnectMaxBackoff}) must not be shorter than {nameof(ReconnectMinBackoff)} ({ReconnectMinBackoff})");
        }

        if (IngestRetryMaxBackoff < IngestRetryMinBackoff)
        {
            throw new ArgumentException($"{nameof(IngestRetryMaxBackoff)} ({IngestRetryMaxBackoff}) must not be shorter than {nameof(IngestRetryMinBackoff)} ({IngestRetryMinBackoff})");
        }

        if (ReceiveMaximum == 0)
        {
            throw new ArgumentException($"{nameof(ReceiveMaximum)} must be at least 1; 20000 suits most plants");
        }

        if (SessionExpiry < TimeSpan.FromSeconds(1) || SessionExpiry.TotalSeconds > uint.MaxValue)
        {
            throw new ArgumentException($"{nameof(SessionExpiry)} must be between 1 second and {uint.MaxValue} seconds, not {SessionExpiry}; a persistent session is what keeps messages while the connector is away");
        }

        if (DrainTimeout < TimeSpan.Zero)
        {
            throw new ArgumentException($"{nameof(DrainTimeout)} must not be negative; use TimeSpan.Zero to stop without draining");
        }
    }

    private static void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
        {
            throw new ArgumentException($"{name} must be positive, not {value}");
        }
    }
}
