namespace Usine.Connectors.OpcUa.Channel;

/// <summary>What a security policy is created for: one channel to one server endpoint.</summary>
/// <param name="Mode">Sign or SignAndEncrypt.</param>
/// <param name="PolicyUri">The endpoint's policy URI.</param>
/// <param name="ServerCertificate">The DER of the server's certificate, as the endpoint description gives it.</param>
/// <param name="TrustFolder">The folder of trusted server certificates (absolute), or null for the provider's default.</param>
/// <param name="DataDirectory">The data directory, under which the provider keeps this application's certificate.</param>
/// <param name="ApplicationUri">The client's application URI, which its certificate names and CreateSession repeats.</param>
public sealed record ChannelSecurityRequest(
    MessageSecurityMode Mode,
    string PolicyUri,
    ReadOnlyMemory<byte> ServerCertificate,
    string? TrustFolder,
    string DataDirectory,
    string ApplicationUri);

/// <summary>
/// A security policy other than None, as the client finds it: creates the <see cref="IChannelSecurity"/> of a
/// channel, and encrypts a user's password as a token policy of the same URI demands. Providers are given to the
/// client (<see cref="OpcUaClientOptions.SecurityProviders"/>); a sign or sign-and-encrypt source whose policy has
/// no provider fails at start, never falls back to None.
/// </summary>
public interface IChannelSecurityProvider
{
    /// <summary>The policy's URI (<c>http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256</c>).</summary>
    string PolicyUri { get; }

    /// <summary>The security of one channel; checks the server's certificate against the trust list and throws saying how to trust it when it is not trusted.</summary>
    IChannelSecurity Create(ChannelSecurityRequest request);

    /// <summary>
    /// The secret of a UserNameIdentityToken encrypted for the server (OPC 10000-4 §7.41.2.2): the length, the
    /// secret and <paramref name="serverNonce"/>, encrypted with the key of <paramref name="serverCertificate"/>;
    /// returns the cipher text and the URI of the encryption algorithm.
    /// </summary>
    (byte[] Data, string Algorithm) EncryptUserSecret(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> serverCertificate);
}
