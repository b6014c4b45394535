namespace Usine.Connectors.Mqtt;

/// <summary>Where a connector is in its life, for monitoring.</summary>
public enum MqttConnectorState
{
    /// <summary>Created, or trying to reach the broker for the first time.</summary>
    Connecting,

    /// <summary>Connected and subscribed; messages flow.</summary>
    Running,

    /// <summary>The connection was lost; retrying with backoff. Unacknowledged messages stay with the broker.</summary>
    Reconnecting,

    /// <summary>
    /// Connected, but the batch in hand cannot be committed (the store fails: a full disk, a broken data
    /// directory); it is retried with backoff and its messages stay unacknowledged with the broker, which
    /// therefore stops sending more. See <see cref="MqttSourceConnector.LastError"/> for why.
    /// </summary>
    Retrying,

    /// <summary>Stopped on request.</summary>
    Stopped,

    /// <summary>Stopped by an error that retrying cannot fix (refused subscription, rejected batch); see <see cref="MqttSourceConnector.LastError"/>.</summary>
    Failed,
}

/// <summary>A change of <see cref="MqttSourceConnector.State"/>.</summary>
public sealed class MqttConnectorStateChangedEventArgs(MqttConnectorState previous, MqttConnectorState current) : EventArgs
{
    public MqttConnectorState Previous { get; } = previous;
    public MqttConnectorState Current { get; } = current;
}
