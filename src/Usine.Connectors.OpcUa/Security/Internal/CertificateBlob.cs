using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Usine.Connectors.OpcUa.Security.Internal;

/// <summary>
/// OPC UA sends a certificate as a ByteString that may hold the whole chain, DER certificates one after
/// another, the application's own first (OPC 10000-6 §6.2.6). This reads the first one out of such a blob.
/// </summary>
internal static class CertificateBlob
{
    /// <summary>The DER of the first certificate of <paramref name="blob"/>.</summary>
    public static ReadOnlySpan<byte> First(ReadOnlySpan<byte> blob)
    {
        // A DER SEQUENCE: tag 0x30, then the length in short form (< 0x80) or long form (0x80 | count, then count bytes).
        if (blob.Length < 2 || blob[0] != 0x30)
        {
            throw new CryptographicException("The certificate is not DER: it does not start with an ASN.1 SEQUENCE.");
        }
        int length, header;
        if (blob[1] < 0x80)
        {
            (length, header) = (blob[1], 2);
        }
        else
        {
            var count = blob[1] & 0x7F;
            if (count is 0 or > 3 || blob.Length < 2 + count)
            {
                throw new CryptographicException("The certificate is not DER: its length field is malformed.");
            }
            length = 0;
            for (var i = 0; i < count; i++)
            {
                length = length << 8 | blob[2 + i];
            }
            header = 2 + count;
        }
        if (header + length > blob.Length)
        {
            throw new CryptographicException($"The certificate is cut short: {blob.Length} bytes where its header announces {header + length}.");
        }
        return blob[..(header + length)];
    }

    /// <summary>Loads the first certificate of <paramref name="blob"/>.</summary>
    public static X509Certificate2 LoadFirst(ReadOnlySpan<byte> blob) => X509CertificateLoader.LoadCertificate(First(blob));
}
