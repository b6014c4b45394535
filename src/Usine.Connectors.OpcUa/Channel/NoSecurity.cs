using System.Buffers.Binary;

namespace Usine.Connectors.OpcUa.Channel;

/// <summary>
/// SecurityPolicy None (OPC 10000-7): chunks go as they are laid out, no nonces, no keys, no signature. The channel
/// calls it like any other policy, so the paths a secure policy takes are the paths None takes too.
/// </summary>
public sealed class NoSecurity : IChannelSecurity
{
    public const string Uri = "http://opcfoundation.org/UA/SecurityPolicy#None";

    public static readonly NoSecurity Instance = new();

    public string PolicyUri => Uri;

    public MessageSecurityMode Mode => MessageSecurityMode.None;

    public ReadOnlyMemory<byte> LocalCertificate => ReadOnlyMemory<byte>.Empty;

    public ReadOnlyMemory<byte> RemoteCertificateThumbprint => ReadOnlyMemory<byte>.Empty;

    public byte[] CreateClientNonce() => [];

    public void DeriveKeys(uint tokenId, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> serverNonce)
    {
    }

    // The sequence header (sequence number, request id) is all a chunk adds to its body under None.
    public int MaxBodySize(int chunkSize, int headerSize, bool asymmetric) => chunkSize - headerSize - 8;

    public byte[] Seal(ReadOnlySpan<byte> plain, int securityHeaderEnd, bool asymmetric, uint tokenId)
    {
        var chunk = plain.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(chunk.AsSpan(4), (uint)chunk.Length);
        return chunk;
    }

    public byte[] Open(ReadOnlySpan<byte> chunk, int securityHeaderEnd, bool asymmetric, uint tokenId) => chunk.ToArray();

    public (byte[] Signature, string? Algorithm) SignSessionProof(ReadOnlySpan<byte> serverCertificate, ReadOnlySpan<byte> serverNonce) => ([], null);

    public void VerifySessionProof(ReadOnlySpan<byte> clientCertificate, ReadOnlySpan<byte> clientNonce, ReadOnlySpan<byte> signature, string? algorithm)
    {
    }
}
