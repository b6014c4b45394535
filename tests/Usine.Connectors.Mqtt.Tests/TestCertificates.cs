using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Usine.Connectors.Mqtt.Tests;

/// <summary>
/// A plant CA of the test's own and the certificates it issues, written as PEM files into a folder. Validity is
/// counted from the wall clock when they are made, as the TLS handshake reads that clock too.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    public TestCertificates(string directory, string caName)
    {
        Directory = directory;
        Now = DateTimeOffset.UtcNow;
        Ca = MakeCa(caName);
    }

    public string Directory { get; }

    public DateTimeOffset Now { get; }

    public X509Certificate2 Ca { get; }

    /// <summary>Writes the CA's certificate to <paramref name="name"/> and returns the file's full path.</summary>
    public string WriteCa(string name) => Write(name, Ca.ExportCertificatePem());

    /// <summary>A new self-signed CA with its private key, for the certificate a broker of another plant would show.</summary>
    public X509Certificate2 MakeCa(string name)
    {
        var key = Own(ECDsa.Create(ECCurve.NamedCurves.nistP256));
        var request = new CertificateRequest($"CN={name}, O=Usine tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return Own(request.CreateSelfSigned(Now.AddDays(-30), Now.AddDays(30)));
    }

    /// <summary>
    /// A certificate issued by the CA, written as <paramref name="name"/>.pem and <paramref name="name"/>.key; the key
    /// is encrypted with <paramref name="password"/> when one is given. Returns the two paths.
    /// </summary>
    public (string Cert, string Key) Issue(string name, string subject, bool server, string[]? dnsNames = null, IPAddress[]? addresses = null,
        DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, string? crlUrl = null, string? password = null, X509Certificate2? issuer = null)
    {
        var caCert = issuer ?? Ca;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={subject}, O=Usine tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caCert, true, false));
        if (dnsNames is not null || addresses is not null)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var dns in dnsNames ?? [])
            {
                san.AddDnsName(dns);
            }

            foreach (var address in addresses ?? [])
            {
                san.AddIpAddress(address);
            }

            request.CertificateExtensions.Add(san.Build());
        }

        if (crlUrl is not null)
        {
            request.CertificateExtensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([crlUrl]));
        }

        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var cert = request.Create(caCert, notBefore ?? Now.AddDays(-1), notAfter ?? Now.AddDays(10), serial);
        var keyPem = password is null
            ? key.ExportPkcs8PrivateKeyPem()
            : key.ExportEncryptedPkcs8PrivateKeyPem(password, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000));
        return (Write(name + ".pem", cert.ExportCertificatePem()), Write(name + ".key", keyPem));
    }

    /// <summary>A certificate for a broker on 127.0.0.1, issued by the CA (or <paramref name="issuer"/>).</summary>
    public (string Cert, string Key) IssueBroker(string name, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, string[]? dnsNames = null, string? crlUrl = null, X509Certificate2? issuer = null) =>
        Issue(name, "broker." + name, server: true, dnsNames ?? ["localhost"], dnsNames is null ? [IPAddress.Loopback] : null, notBefore, notAfter, crlUrl, issuer: issuer);

    private string Write(string name, string pem)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllText(path, pem);
        return path;
    }

    private T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    public void Dispose()
    {
        foreach (var d in _owned)
        {
            d.Dispose();
        }
    }
}
