using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Transport;

namespace Usine.Connectors.OpcUa.Client;

/// <summary>How an <see cref="OpcUaClient"/> reaches its server and who it says it is.</summary>
public sealed record OpcUaClientOptions
{
    /// <summary>The server's endpoint URL, <c>opc.tcp://host:port/path</c>.</summary>
    public required Uri Endpoint { get; init; }

    /// <summary>None, Sign or SignAndEncrypt (default None).</summary>
    public MessageSecurityMode SecurityMode { get; init; } = MessageSecurityMode.None;

    /// <summary>The security policy of a Sign or SignAndEncrypt channel (default Basic256Sha256; None under mode None).</summary>
    public string SecurityPolicyUri { get; init; } = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256";

    /// <summary>The user name of a UserNameIdentityToken; null: anonymous.</summary>
    public string? UserName { get; init; }

    /// <summary>The password of <see cref="UserName"/>.</summary>
    public string? Password { get; init; }

    /// <summary>The folder of trusted server certificates, for the security providers; null: the provider's default.</summary>
    public string? TrustFolder { get; init; }

    /// <summary>Where the security providers keep this application's certificate (default the working directory).</summary>
    public string DataDirectory { get; init; } = ".";

    /// <summary>This client's application URI (default <c>urn:HOST:Usine</c>).</summary>
    public string ApplicationUri { get; init; } = $"urn:{Environment.MachineName}:Usine";

    /// <summary>The session name the server shows (default Usine).</summary>
    public string SessionName { get; init; } = "Usine";

    /// <summary>How long the server keeps the session without a request (default 60 s); a reconnect within it keeps the session and its subscriptions.</summary>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a request may wait for its response (default 30 s); Publish waits longer, for its keep-alive.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The security policies other than None this client can use; a Sign or SignAndEncrypt endpoint needs its policy here.</summary>
    public IReadOnlyList<IChannelSecurityProvider> SecurityProviders { get; init; } = ChannelSecurityProviders.Available;

    /// <summary>The channel's Hello limits, connect timeout and token lifetime.</summary>
    public SecureChannelOptions Channel { get; init; } = new();
}

/// <summary>What a reconnect made of the session.</summary>
public enum SessionRecovery
{
    /// <summary>The server still had the session: it was activated on the new channel, with its subscriptions.</summary>
    Reactivated,

    /// <summary>The session was gone: a new one was created; its subscriptions must be transferred or created again.</summary>
    NewSession,
}
