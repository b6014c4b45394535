namespace Usine.Connectors.OpcUa.Channel;

/// <summary>How the messages of a secure channel are protected (OPC 10000-4 §7.20 MessageSecurityMode).</summary>
public enum MessageSecurityMode
{
    Invalid = 0,
    None = 1,
    Sign = 2,
    SignAndEncrypt = 3,
}

/// <summary>
/// What a secure channel needs from its security policy (OPC 10000-6 §6.7): the fields of the asymmetric
/// security header, the nonces and keys, and how one message chunk is sealed before it is sent and opened once
/// it is received. The channel lays out each chunk (message header, security header, sequence header, body);
/// the policy adds the padding and the signature, encrypts, and reverses that on what it receives. One instance
/// serves one channel; <see cref="DeriveKeys"/> is called again for each renewed token.
/// </summary>
public interface IChannelSecurity
{
    /// <summary>The policy's URI, as the asymmetric security header and the endpoints name it.</summary>
    string PolicyUri { get; }

    /// <summary>Whether messages after the OpenSecureChannel are signed, signed and encrypted, or neither.</summary>
    MessageSecurityMode Mode { get; }

    /// <summary>The DER of this application's certificate, sent in the asymmetric security header; empty under None.</summary>
    ReadOnlyMemory<byte> LocalCertificate { get; }

    /// <summary>The SHA-1 thumbprint of the server's certificate, sent in the asymmetric security header; empty under None.</summary>
    ReadOnlyMemory<byte> RemoteCertificateThumbprint { get; }

    /// <summary>A fresh client nonce for an OpenSecureChannel request (its length is the policy's; empty under None).</summary>
    byte[] CreateClientNonce();

    /// <summary>Derives the symmetric keys of token <paramref name="tokenId"/> from the nonces of its OpenSecureChannel exchange.</summary>
    void DeriveKeys(uint tokenId, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce);

    /// <summary>
    /// How many body bytes fit in one chunk of <paramref name="chunkSize"/> bytes whose message and security
    /// headers take <paramref name="headerSize"/> bytes, once the sequence header, padding and signature are in.
    /// </summary>
    int MaxBodySize(int chunkSize, int headerSize, bool asymmetric);

    /// <summary>
    /// Seals one chunk to send. <paramref name="plain"/> holds the message header (its size field not yet right),
    /// the security header ending at <paramref name="securityHeaderEnd"/>, the sequence header and the body.
    /// Returns the chunk as it goes on the wire: padded, signed, encrypted as the mode asks, its size field set.
    /// <paramref name="asymmetric"/> for OpenSecureChannel; otherwise <paramref name="tokenId"/> names the keys.
    /// </summary>
    byte[] Seal(ReadOnlySpan<byte> plain, int securityHeaderEnd, bool asymmetric, uint tokenId);

    /// <summary>
    /// Opens one received chunk: decrypts, verifies the signature and takes off the padding and signature.
    /// Returns the message header, security header, sequence header and body in plain text. Throws
    /// <see cref="System.Security.Cryptography.CryptographicException"/> saying what failed when the chunk
    /// does not verify.
    /// </summary>
    byte[] Open(ReadOnlySpan<byte> chunk, int securityHeaderEnd, bool asymmetric, uint tokenId);

    /// <summary>
    /// The client's proof for ActivateSession: the signature of the server's certificate followed by its nonce,
    /// with this application's key, and the signature algorithm's URI; (empty, null) under None.
    /// </summary>
    (byte[] Signature, string? Algorithm) SignSessionProof(ReadOnlySpan<byte> serverCertificate, ReadOnlySpan<byte> serverNonce);

    /// <summary>
    /// Checks the server's proof from CreateSession: its signature of this client's certificate followed by the
    /// client's nonce, made with the key of the certificate the channel was opened with. Throws
    /// <see cref="System.Security.Cryptography.CryptographicException"/> saying what failed; nothing to check under None.
    /// </summary>
    void VerifySessionProof(ReadOnlySpan<byte> clientCertificate, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> signature, string? algorithm);
}
