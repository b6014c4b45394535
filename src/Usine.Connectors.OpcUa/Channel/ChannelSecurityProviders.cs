namespace Usine.Connectors.OpcUa.Channel;

/// <summary>
/// The security policies besides None this build of the client implements: the default of
/// <see cref="OpcUaConnectorOptions.SecurityProviders"/>. A policy's implementation adds itself here; until one
/// does, a source asking for sign or sign-and-encrypt fails at start saying so.
/// </summary>
public static class ChannelSecurityProviders
{
    public static IReadOnlyList<IChannelSecurityProvider> Available { get; } = [new Security.Basic256Sha256Provider()];
}
