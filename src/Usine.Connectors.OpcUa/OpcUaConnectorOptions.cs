using Usine.Connectors.OpcUa.Channel;

namespace Usine.Connectors.OpcUa;

/// <summary>What every opcua source of the process shares: the security policies it can use, its backoffs and timeouts.</summary>
public sealed record OpcUaConnectorOptions
{
    /// <summary>
    /// The security policies besides None (Basic256Sha256). A source with <c>security: sign</c> or
    /// <c>sign-and-encrypt</c> whose policy is not here fails at start; it never falls back to None.
    /// </summary>
    public IReadOnlyList<IChannelSecurityProvider> SecurityProviders { get; init; } = ChannelSecurityProviders.Available;

    /// <summary>First wait before reconnecting after a lost connection (default 500 ms); doubled per failed attempt.</summary>
    public TimeSpan ReconnectMinBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait between reconnect attempts (default 30 s).</summary>
    public TimeSpan ReconnectMaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the TCP connection, Hello and OpenSecureChannel may take (default 10 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a service request may wait for its response (default 30 s).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The lifetime of a secure channel's token (default 1 hour), renewed at 75%.</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>First wait before a failed commit is tried again (default 100 ms).</summary>
    public TimeSpan IngestRetryMinBackoff { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest wait between commit attempts (default 30 s).</summary>
    public TimeSpan IngestRetryMaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a stopping source may take to commit what it already received (default 10 s).</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The client's application URI (default <c>urn:HOST:Usine</c>), which its certificate names.</summary>
    public string ApplicationUri { get; init; } = $"urn:{Environment.MachineName}:Usine";

    public void Validate()
    {
        if (ReconnectMinBackoff <= TimeSpan.Zero || ReconnectMaxBackoff < ReconnectMinBackoff)
        {
            throw new ArgumentException($"OpcUaConnectorOptions: ReconnectMinBackoff ({ReconnectMinBackoff}) must be positive and at most ReconnectMaxBackoff ({ReconnectMaxBackoff})");
        }

        if (ConnectTimeout <= TimeSpan.Zero || RequestTimeout <= TimeSpan.Zero || TokenLifetime < TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException("OpcUaConnectorOptions: ConnectTimeout and RequestTimeout must be positive and TokenLifetime at least 10 s");
        }

        var policies = SecurityProviders.GroupBy(p => p.PolicyUri).FirstOrDefault(g => g.Count() > 1);
        if (policies is not null)
        {
            throw new ArgumentException($"OpcUaConnectorOptions: security policy {policies.Key} is registered twice");
        }
    }
}
