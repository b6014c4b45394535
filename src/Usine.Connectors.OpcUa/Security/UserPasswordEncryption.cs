using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Usine.Connectors.OpcUa.Security.Internal;

namespace Usine.Connectors.OpcUa.Security;

/// <summary>
/// The password of a UserNameIdentityToken, encrypted as its token policy asks (OPC 10000-4 §7.36.2.2, the
/// legacy format): a UInt32 little-endian length of what follows, the UTF-8 password, then the server's nonce
/// from CreateSession, all encrypted with the server certificate's public key.
/// </summary>
public static class UserPasswordEncryption
{
    /// <summary>
    /// Encrypts <paramref name="password"/> under <paramref name="securityPolicyUri"/>: the token policy's own
    /// SecurityPolicyUri, or the channel's when the token policy leaves it empty. Under None the password goes
    /// as it is and the algorithm is null (only wise on an encrypted channel).
    /// </summary>
    public static (byte[] Data, string? Algorithm) Encrypt(string? securityPolicyUri, ReadOnlySpan<byte> serverCertificate, string password,
        ReadOnlySpan<byte> serverNonce)
    {
        ArgumentNullException.ThrowIfNull(password);
        var secret = System.Text.Encoding.UTF8.GetBytes(password);
        try
        {
            return Encrypt(securityPolicyUri, serverCertificate, (ReadOnlySpan<byte>)secret, serverNonce);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>As <see cref="Encrypt(string?, ReadOnlySpan{byte}, string, ReadOnlySpan{byte})"/>, for a secret already in bytes.</summary>
    public static (byte[] Data, string? Algorithm) Encrypt(string? securityPolicyUri, ReadOnlySpan<byte> serverCertificate, ReadOnlySpan<byte> secret,
        ReadOnlySpan<byte> serverNonce)
    {
        var (padding, algorithm) = securityPolicyUri switch
        {
            null or "" or SecurityPolicyUris.None => (null, null),
            SecurityPolicyUris.Basic256Sha256 or SecurityPolicyUris.Basic256 or SecurityPolicyUris.Aes128Sha256RsaOaep =>
                (RSAEncryptionPadding.OaepSHA1, SecurityPolicyUris.RsaOaep),
            SecurityPolicyUris.Aes256Sha256RsaPss => (RSAEncryptionPadding.OaepSHA256, SecurityPolicyUris.RsaOaepSha256),
            SecurityPolicyUris.Basic128Rsa15 => (RSAEncryptionPadding.Pkcs1, SecurityPolicyUris.Rsa15),
            _ => throw new NotSupportedException($"The user token policy asks for the security policy '{securityPolicyUri}', which Usine does not support."),
        };
        if (padding is null)
        {
            return (secret.ToArray(), null);
        }
        if (serverNonce.IsEmpty)
        {
            throw new ArgumentException("The server sent no nonce in CreateSession, so a password cannot be encrypted for it.", nameof(serverNonce));
        }

        var plain = new byte[4 + secret.Length + serverNonce.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(plain, (uint)(secret.Length + serverNonce.Length));
        secret.CopyTo(plain.AsSpan(4));
        serverNonce.CopyTo(plain.AsSpan(4 + secret.Length));

        using var certificate = CertificateBlob.LoadFirst(serverCertificate);
        using var key = certificate.GetRSAPublicKey()
            ?? throw new ArgumentException($"The server certificate '{certificate.Subject}' has no RSA key to encrypt the password with.", nameof(serverCertificate));
        var cipherBlock = key.KeySize / 8;
        var plainBlock = PlainBlockSize(cipherBlock, padding);
        var blocks = (plain.Length + plainBlock - 1) / plainBlock;
        var encrypted = new byte[blocks * cipherBlock];
        for (var i = 0; i < blocks; i++)
        {
            var slice = plain.AsSpan(i * plainBlock, Math.Min(plainBlock, plain.Length - i * plainBlock));
            key.Encrypt(slice, encrypted.AsSpan(i * cipherBlock, cipherBlock), padding);
        }
        CryptographicOperations.ZeroMemory(plain);
        return (encrypted, algorithm);
    }

    private static int PlainBlockSize(int cipherBlock, RSAEncryptionPadding padding) =>
        padding == RSAEncryptionPadding.OaepSHA1 ? cipherBlock - 42
        : padding == RSAEncryptionPadding.OaepSHA256 ? cipherBlock - 66
        : cipherBlock - 11;
}
