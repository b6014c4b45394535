using System.Security.Cryptography;

namespace Usine.Connectors.OpcUa.Security.Internal;

/// <summary>
/// OpenSecureChannel chunks under Basic256Sha256: signed with RSA PKCS #1 v1.5 and SHA-256 by the sender's
/// private key, encrypted with RSA-OAEP (SHA-1) in blocks of the receiver's public key. They are encrypted in
/// Sign mode too (OPC 10000-6 §6.7.4), so both layouts always encrypt.
/// </summary>
internal sealed class RsaChunkProtection(RSA own, RSA remote) : ChunkProtection
{
    // RSA-OAEP with SHA-1 takes 2 * 20 + 2 bytes of each block for its own padding.
    private const int OaepSha1Overhead = 42;

    private readonly int _ownBytes = own.KeySize / 8;
    private readonly int _remoteBytes = remote.KeySize / 8;

    protected override Layout SendLayout =>
        new(true, _remoteBytes - OaepSha1Overhead, _remoteBytes, _ownBytes, ExtraPadding: _remoteBytes > 256);

    protected override Layout ReceiveLayout =>
        new(true, _ownBytes - OaepSha1Overhead, _ownBytes, _remoteBytes, ExtraPadding: _ownBytes > 256);

    protected override string What => "OpenSecureChannel chunk";

    protected override void Sign(ReadOnlySpan<byte> data, Span<byte> signature)
    {
        if (!own.TrySignData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1, out var written) || written != signature.Length)
        {
            throw new CryptographicException($"Signing an OpenSecureChannel chunk did not give a {signature.Length}-byte signature.");
        }
    }

    protected override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) =>
        remote.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

    protected override void Encrypt(ReadOnlySpan<byte> plain, Span<byte> cipher)
    {
        var layout = SendLayout;
        for (int p = 0, c = 0; p < plain.Length; p += layout.PlainBlock, c += layout.CipherBlock)
        {
            if (!remote.TryEncrypt(plain.Slice(p, layout.PlainBlock), cipher.Slice(c, layout.CipherBlock), RSAEncryptionPadding.OaepSHA1, out var written)
                || written != layout.CipherBlock)
            {
                throw new CryptographicException($"RSA-OAEP did not give a {layout.CipherBlock}-byte block.");
            }
        }
    }

    protected override void Decrypt(ReadOnlySpan<byte> cipher, Span<byte> plain)
    {
        var layout = ReceiveLayout;
        for (int p = 0, c = 0; c < cipher.Length; p += layout.PlainBlock, c += layout.CipherBlock)
        {
            int written;
            try
            {
                if (!own.TryDecrypt(cipher.Slice(c, layout.CipherBlock), plain.Slice(p, layout.PlainBlock), RSAEncryptionPadding.OaepSHA1, out written))
                {
                    written = -1;
                }
            }
            catch (CryptographicException e)
            {
                throw Fail($"does not decrypt with this application's private key at block {c / layout.CipherBlock} " +
                    "(it was changed on the way or encrypted for another certificate)", e);
            }
            if (written != layout.PlainBlock)
            {
                throw Fail($"decrypts to a block of {written} bytes at block {c / layout.CipherBlock} where {layout.PlainBlock} were expected");
            }
        }
    }
}
