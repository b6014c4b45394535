using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Security;

namespace Usine.Connectors.OpcUa.Tests.Security;

/// <summary>A clock that stays where the test puts it.</summary>
internal sealed class SettableTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>A folder of the test's own under the temp directory, removed afterwards.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "usine-opcua-security-" + Guid.NewGuid().ToString("N"));

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}

internal static class TestCertificates
{
    /// <summary>A self-signed RSA certificate with its private key, valid a year around <paramref name="now"/>.</summary>
    public static X509Certificate2 SelfSigned(string subject, int keyBits, DateTimeOffset now, bool ca = false)
    {
        using var key = RSA.Create(keyBits);
        var request = new CertificateRequest($"CN={subject}, O=Usine tests", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(ca, false, 0, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            ca ? X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign
               : X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.DataEncipherment, true));
        return request.CreateSelfSigned(now.AddDays(-180), now.AddDays(180));
    }

    /// <summary>A certificate issued by <paramref name="ca"/>, valid from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static X509Certificate2 IssuedBy(X509Certificate2 ca, string subject, DateTimeOffset from, DateTimeOffset to)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={subject}, O=Usine tests", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var issued = request.Create(ca, from, to, RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }
}

/// <summary>
/// Lays out chunks the way a channel does (OPC 10000-6 §6.7.2), with the size field left at zero for the
/// policy to set: an asymmetric OPN chunk with the sender's certificate and the receiver's thumbprint, or a
/// symmetric MSG chunk with a token id.
/// </summary>
internal static class Chunks
{
    public const int SymmetricSecurityHeaderEnd = 16;

    public static (byte[] Plain, int SecurityHeaderEnd) Asymmetric(IChannelSecurity sender, ReadOnlySpan<byte> body,
        uint sequenceNumber = 1, uint requestId = 1, string? policyUri = null)
    {
        var header = new List<byte>();
        header.AddRange("OPNF"u8.ToArray());
        header.AddRange(new byte[4]); // size, set by Seal
        header.AddRange(BitConverter.GetBytes(7u)); // SecureChannelId
        AddByteString(header, System.Text.Encoding.UTF8.GetBytes(policyUri ?? sender.PolicyUri));
        AddByteString(header, sender.LocalCertificate.ToArray());
        AddByteString(header, sender.RemoteCertificateThumbprint.ToArray());
        var securityHeaderEnd = header.Count;
        return (WithSequenceAndBody(header, sequenceNumber, requestId, body), securityHeaderEnd);
    }

    public static byte[] Symmetric(uint tokenId, ReadOnlySpan<byte> body, uint sequenceNumber = 2, uint requestId = 2)
    {
        var header = new List<byte>();
        header.AddRange("MSGF"u8.ToArray());
        header.AddRange(new byte[4]);
        header.AddRange(BitConverter.GetBytes(7u));
        header.AddRange(BitConverter.GetBytes(tokenId));
        return WithSequenceAndBody(header, sequenceNumber, requestId, body);
    }

    /// <summary>A body of <paramref name="length"/> bytes whose content shows where a byte came from.</summary>
    public static byte[] Body(int length)
    {
        var body = new byte[length];
        for (var i = 0; i < length; i++)
        {
            body[i] = (byte)(i * 7 + 3);
        }
        return body;
    }

    /// <summary>What Open must give back for <paramref name="plain"/>: the same bytes with the size field telling their length.</summary>
    public static byte[] Expected(byte[] plain)
    {
        var expected = (byte[])plain.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(4), (uint)expected.Length);
        return expected;
    }

    private static void AddByteString(List<byte> to, byte[] value)
    {
        to.AddRange(BitConverter.GetBytes(value.Length));
        to.AddRange(value);
    }

    private static byte[] WithSequenceAndBody(List<byte> header, uint sequenceNumber, uint requestId, ReadOnlySpan<byte> body)
    {
        header.AddRange(BitConverter.GetBytes(sequenceNumber));
        header.AddRange(BitConverter.GetBytes(requestId));
        header.AddRange(body.ToArray());
        return [.. header];
    }
}
