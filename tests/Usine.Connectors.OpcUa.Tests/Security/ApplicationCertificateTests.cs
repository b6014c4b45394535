using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Usine.Connectors.OpcUa.Security;

namespace Usine.Connectors.OpcUa.Tests.Security;

public sealed class ApplicationCertificateTests : IDisposable
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 8, 0, 0, TimeSpan.Zero);

    private readonly TempFolder _folder = new();
    private readonly SettableTime _time = new(Start);

    private string Own => _folder.Sub("pki/own");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void The_first_use_creates_a_self_signed_RSA_2048_SHA256_certificate_with_the_extensions_servers_check()
    {
        using var own = ApplicationCertificate.LoadOrCreate(Own, "urn:plant-pc:Usine", "plant-pc", _time);
        var certificate = own.Certificate;

        Assert.True(own.Created);
        Assert.Equal("urn:plant-pc:Usine", own.ApplicationUri);
        Assert.True(certificate.HasPrivateKey);
        Assert.Equal(certificate.Subject, certificate.Issuer);
        Assert.Equal("CN=Usine, DC=plant-pc", certificate.Subject);
        Assert.Equal("1.2.840.113549.1.1.11", certificate.SignatureAlgorithm.Value); // sha256WithRSAEncryption
        using (var key = certificate.GetRSAPublicKey()!)
        {
            Assert.Equal(2048, key.KeySize);
        }
        Assert.Equal(Start.AddDays(-1).UtcDateTime, certificate.NotBefore.ToUniversalTime());
        Assert.Equal(Start.AddDays(-1).AddDays(5 * 365).UtcDateTime, certificate.NotAfter.ToUniversalTime());

        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["plant-pc"], san.EnumerateDnsNames());
        var usage = certificate.Extensions.OfType<X509KeyUsageExtension>().Single();
        Assert.True(usage.Critical);
        Assert.Equal(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation | X509KeyUsageFlags.KeyEncipherment
            | X509KeyUsageFlags.DataEncipherment | X509KeyUsageFlags.KeyCertSign,
            usage.KeyUsages);
        var extended = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single();
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], extended.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        var constraints = certificate.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.False(constraints.CertificateAuthority);
        Assert.NotNull(certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().SingleOrDefault());
        Assert.NotNull(certificate.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().SingleOrDefault());
    }

    [Fact]
    public void The_certificate_is_written_as_DER_with_its_key_in_PEM_readable_by_the_owner_only()
    {
        using var own = ApplicationCertificate.LoadOrCreate(Own, "urn:plant-pc:Usine", "plant-pc", _time);

        var der = File.ReadAllBytes(Path.Combine(Own, ApplicationCertificate.CertificateFileName));
        Assert.Equal(own.Certificate.RawData, der);
        var keyPath = Path.Combine(Own, ApplicationCertificate.PrivateKeyFileName);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(keyPath), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
        }
    }

    [Fact]
    public void A_later_run_reuses_the_certificate_and_its_key()
    {
        string thumbprint;
        byte[] signature;
        var data = "proof"u8.ToArray();
        using (var first = ApplicationCertificate.LoadOrCreate(Own, "urn:plant-pc:Usine", "plant-pc", _time))
        {
            thumbprint = first.Thumbprint;
            using var key = first.Certificate.GetRSAPrivateKey()!;
            signature = key.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }

        _time.Now = Start.AddDays(400);
        using var again = ApplicationCertificate.LoadOrCreate(Own, "urn:other-name:Usine", "other-name", _time);

        Assert.False(again.Created);
        Assert.Equal(thumbprint, again.Thumbprint);
        Assert.Equal("urn:plant-pc:Usine", again.ApplicationUri);
        using var reloaded = again.Certificate.GetRSAPrivateKey()!;
        Assert.Equal(signature, reloaded.SignData(data, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void An_expired_certificate_is_replaced_and_kept_aside()
    {
        string oldThumbprint;
        using (var first = ApplicationCertificate.LoadOrCreate(Own, "urn:plant-pc:Usine", "plant-pc", _time))
        {
            oldThumbprint = first.Thumbprint;
        }

        _time.Now = Start.AddDays(5 * 365 + 1);
        using var renewed = ApplicationCertificate.LoadOrCreate(Own, "urn:plant-pc:Usine", "plant-pc", _time);

        Assert.True(renewed.Created);
        Assert.NotEqual(oldThumbprint, renewed.Thumbprint);
        Assert.Equal(2, Directory.GetFiles(Own, "*.expired-*").Length);
    }

    [Fact]
    public void A_certificate_without_its_key_is_an_error_saying_what_to_restore()
    {
        using (ApplicationCertificate.LoadOrCreate(Own, "urn:plant-pc:Usine", "plant-pc", _time))
        {
        }
        File.Delete(Path.Combine(Own, ApplicationCertificate.PrivateKeyFileName));

        var error = Assert.Throws<UsineException>(() => ApplicationCertificate.LoadOrCreate(Own, "urn:plant-pc:Usine", "plant-pc", _time));
        Assert.Contains($"holds {ApplicationCertificate.CertificateFileName} without {ApplicationCertificate.PrivateKeyFileName}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_ApplicationUri_that_is_not_a_URI_is_refused_with_an_example()
    {
        var error = Assert.Throws<ArgumentException>(() => ApplicationCertificate.LoadOrCreate(Own, "plant pc Usine", "plant-pc", _time));
        Assert.Contains("for example urn:plant-pc:Usine", error.Message, StringComparison.Ordinal);
    }
}
