using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Usine.Connectors.OpcUa.Security;

/// <summary>
/// This application's instance certificate (OPC 10000-4 §6.1, OPC 10000-6 §6.2.2): an RSA 2048-bit key and a
/// self-signed SHA-256 certificate valid five years, created on first use in a folder and reused afterwards.
/// Its subjectAltName carries the ApplicationUri the client sends in CreateSession and the host's DNS name, as
/// servers compare the two.
/// </summary>
public sealed class ApplicationCertificate : IDisposable
{
    /// <summary>The file that holds the certificate, DER-encoded.</summary>
    public const string CertificateFileName = "certificate.der";

    /// <summary>The file that holds the private key, PKCS #8 PEM, readable by its owner only.</summary>
    public const string PrivateKeyFileName = "private-key.pem";

    /// <summary>How long a new certificate is valid.</summary>
    public static readonly TimeSpan Validity = TimeSpan.FromDays(5 * 365);

    private const int KeyBits = 2048;

    // Two sources of one process starting together must not each write half of a pair.
    private static readonly Lock CreationLock = new();

    private ApplicationCertificate(X509Certificate2 certificate, string directory, bool created)
    {
        Certificate = certificate;
        Directory = directory;
        Created = created;
        ApplicationUri = ReadApplicationUri(certificate)
            ?? throw new InvalidOperationException($"The certificate in {directory} has no URI in its subjectAltName.");
    }

    /// <summary>The certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The ApplicationUri in the certificate, which the client must send in CreateSession.</summary>
    public string ApplicationUri { get; }

    /// <summary>The folder the certificate and key are in.</summary>
    public string Directory { get; }

    /// <summary>Whether this call made the certificate (rather than finding it).</summary>
    public bool Created { get; }

    /// <summary>The SHA-1 thumbprint, as a server administrator sees it when trusting this client.</summary>
    public string Thumbprint => Certificate.Thumbprint;

    /// <summary>The ApplicationUri Usine uses on a host: <c>urn:{host}:Usine</c>.</summary>
    public static string DefaultApplicationUri(string hostName) => $"urn:{hostName}:Usine";

    /// <summary>
    /// Loads the certificate in <paramref name="directory"/>, or creates one there for <paramref name="applicationUri"/>
    /// and <paramref name="hostName"/> when there is none or the one there has expired. A certificate found keeps
    /// its own ApplicationUri (read it from <see cref="ApplicationUri"/>): servers that trust it stay valid.
    /// </summary>
    public static ApplicationCertificate LoadOrCreate(string directory, string applicationUri, string hostName, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(applicationUri);
        ArgumentException.ThrowIfNullOrEmpty(hostName);
        ArgumentNullException.ThrowIfNull(time);
        if (!Uri.TryCreate(applicationUri, UriKind.Absolute, out var uri))
        {
            throw new ArgumentException($"The ApplicationUri '{applicationUri}' is not an absolute URI (for example urn:{hostName}:Usine).", nameof(applicationUri));
        }

        var certificatePath = Path.Combine(directory, CertificateFileName);
        var keyPath = Path.Combine(directory, PrivateKeyFileName);
        lock (CreationLock)
        {
            var now = time.GetUtcNow();
            if (File.Exists(certificatePath) && File.Exists(keyPath))
            {
                var existing = Load(certificatePath, keyPath);
                if (existing.NotAfter.ToUniversalTime() > now.UtcDateTime)
                {
                    return new ApplicationCertificate(existing, directory, created: false);
                }
                existing.Dispose();
                var stamp = now.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);
                File.Move(certificatePath, certificatePath + $".expired-{stamp}");
                File.Move(keyPath, keyPath + $".expired-{stamp}");
            }
            else if (File.Exists(certificatePath) != File.Exists(keyPath))
            {
                throw new UsineException(
                    $"The folder {directory} holds {(File.Exists(certificatePath) ? CertificateFileName : PrivateKeyFileName)} without " +
                    $"{(File.Exists(certificatePath) ? PrivateKeyFileName : CertificateFileName)}: restore the missing file, or remove both " +
                    "to have a new certificate made (servers that trusted the old one must then trust the new one).");
            }

            System.IO.Directory.CreateDirectory(directory);
            var certificate = Create(uri, hostName, now);
            WritePrivateKey(keyPath, certificate);
            File.WriteAllBytes(certificatePath, certificate.RawData);
            return new ApplicationCertificate(certificate, directory, created: true);
        }
    }

    public void Dispose() => Certificate.Dispose();

    private static X509Certificate2 Create(Uri applicationUri, string hostName, DateTimeOffset now)
    {
        using var key = RSA.Create(KeyBits);
        var subject = new X500DistinguishedName($"CN=Usine, DC={hostName}");
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation | X509KeyUsageFlags.KeyEncipherment
            | X509KeyUsageFlags.DataEncipherment | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(applicationUri);
        san.AddDnsName(hostName);
        request.CertificateExtensions.Add(san.Build());
        var subjectKeyIdentifier = new X509SubjectKeyIdentifierExtension(request.PublicKey, false);
        request.CertificateExtensions.Add(subjectKeyIdentifier);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(subjectKeyIdentifier));

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // a positive serial number
        // Start a day back so that a server whose clock is slightly behind accepts the certificate at once.
        using var signed = request.Create(subject, X509SignatureGenerator.CreateForRSA(key, RSASignaturePadding.Pkcs1),
            now.AddDays(-1), now.AddDays(-1) + Validity, serial);
        return signed.CopyWithPrivateKey(key);
    }

    private static void WritePrivateKey(string keyPath, X509Certificate2 certificate)
    {
        using var key = certificate.GetRSAPrivateKey()!;
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        using var writer = new StreamWriter(keyPath, System.Text.Encoding.ASCII, options);
        writer.Write(key.ExportPkcs8PrivateKeyPem());
    }

    private static X509Certificate2 Load(string certificatePath, string keyPath)
    {
        try
        {
            using var certificate = X509CertificateLoader.LoadCertificateFromFile(certificatePath);
            using var key = RSA.Create();
            key.ImportFromPem(File.ReadAllText(keyPath));
            return certificate.CopyWithPrivateKey(key);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw new UsineException(
                $"This application's certificate in {Path.GetDirectoryName(certificatePath)} cannot be loaded ({e.Message}): restore " +
                $"{CertificateFileName} and {PrivateKeyFileName}, or remove both to have a new certificate made.", e);
        }
    }

    /// <summary>The first URI of the certificate's subjectAltName.</summary>
    internal static string? ReadApplicationUri(X509Certificate2 certificate)
    {
        var extension = certificate.Extensions["2.5.29.17"];
        if (extension is null)
        {
            return null;
        }
        var names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
        var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
        while (names.HasData)
        {
            if (names.PeekTag().HasSameClassAndValue(uriTag))
            {
                return names.ReadCharacterString(UniversalTagNumber.IA5String, uriTag);
            }
            names.ReadEncodedValue();
        }
        return null;
    }
}
