using System.Buffers.Binary;
using System.Security.Cryptography;
using Usine.Connectors.OpcUa.Security.Internal;

namespace Usine.Connectors.OpcUa.Security;

public sealed partial class Basic256Sha256Security
{
    // Message header (8 bytes) and SecureChannelId (4) come before the asymmetric security header.
    private const int AsymmetricSecurityHeaderStart = 12;

    /// <summary>
    /// Checks the asymmetric security header of a received OpenSecureChannel chunk (OPC 10000-6 §6.7.2.3): the
    /// policy is this one, the sender is the certificate this channel was opened for, and the chunk was encrypted
    /// for this application's certificate. The header is not signed separately, but the signature covers it.
    /// </summary>
    private void CheckAsymmetricHeader(ReadOnlySpan<byte> chunk, int securityHeaderEnd)
    {
        if (securityHeaderEnd > chunk.Length)
        {
            throw new CryptographicException($"The received OpenSecureChannel chunk is {chunk.Length} bytes long, shorter than its security header.");
        }
        var header = chunk[..securityHeaderEnd];
        var offset = AsymmetricSecurityHeaderStart;
        var policy = ReadByteString(header, ref offset, "SecurityPolicyUri");
        var sender = ReadByteString(header, ref offset, "SenderCertificate");
        var receiverThumbprint = ReadByteString(header, ref offset, "ReceiverCertificateThumbprint");
        if (offset != securityHeaderEnd)
        {
            throw new CryptographicException(
                $"The asymmetric security header of the received OpenSecureChannel chunk ends at byte {offset}, not at {securityHeaderEnd}.");
        }

        if (!policy.SequenceEqual(System.Text.Encoding.UTF8.GetBytes(PolicyUri)))
        {
            throw new CryptographicException(
                $"The received OpenSecureChannel chunk names the security policy '{System.Text.Encoding.UTF8.GetString(policy)}', where this channel uses {PolicyUri}.");
        }
        if (sender.IsEmpty || !CertificateBlob.First(sender).SequenceEqual(_remoteCertificate.RawData))
        {
            throw new CryptographicException(
                $"The received OpenSecureChannel chunk is signed by another certificate than '{_remoteCertificate.Subject}' " +
                $"(thumbprint {Convert.ToHexString(_remoteThumbprint)}), the one this channel was opened for.");
        }
        if (!receiverThumbprint.SequenceEqual(_localThumbprint))
        {
            throw new CryptographicException(
                $"The received OpenSecureChannel chunk was encrypted for the certificate with thumbprint {Convert.ToHexString(receiverThumbprint)}, " +
                $"not for this application's ({Convert.ToHexString(_localThumbprint)}).");
        }
    }

    private static ReadOnlySpan<byte> ReadByteString(ReadOnlySpan<byte> header, ref int offset, string field)
    {
        if (offset + 4 > header.Length)
        {
            throw new CryptographicException($"The asymmetric security header of the received OpenSecureChannel chunk is cut short before {field}.");
        }
        var length = BinaryPrimitives.ReadInt32LittleEndian(header[offset..]);
        offset += 4;
        if (length <= 0)
        {
            return [];
        }
        if (length > header.Length - offset)
        {
            throw new CryptographicException(
                $"The {field} of the received OpenSecureChannel chunk announces {length} bytes where {header.Length - offset} are left in its security header.");
        }
        var value = header.Slice(offset, length);
        offset += length;
        return value;
    }
}
