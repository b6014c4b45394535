using System.Security.Cryptography.X509Certificates;
using Usine.Connectors.OpcUa.Security;

namespace Usine.Connectors.OpcUa.Tests.Security;

public sealed class TrustListTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly TempFolder _folder = new();
    private readonly X509Certificate2 _server = TestCertificates.SelfSigned("paint-shop-server", 2048, Now);
    private readonly TrustList _trust;

    public TrustListTests() => _trust = new TrustList(_folder.Sub("pki/paint-shop"), _folder.Sub("pki/rejected"), new SettableTime(Now));

    public void Dispose()
    {
        _server.Dispose();
        _folder.Dispose();
    }

    [Fact]
    public void A_server_certificate_not_in_the_trust_folder_is_refused_naming_its_subject_thumbprint_and_how_to_trust_it()
    {
        var error = Assert.Throws<UntrustedCertificateException>(() => _trust.Check(_server.RawData));

        var rejected = Path.Combine(_folder.Sub("pki/rejected"), _server.Thumbprint + ".der");
        Assert.Equal(
            $"The server certificate 'CN=paint-shop-server, O=Usine tests' (SHA-1 thumbprint {_server.Thumbprint}) is not trusted: it is not in the " +
            $"trust folder {_folder.Sub("pki/paint-shop")} and was not issued by a CA certificate there. If this is the server you expect, " +
            $"trust it by copying {rejected} into {_folder.Sub("pki/paint-shop")}; the next connection attempt reads the folder again.",
            error.Message);
        Assert.False(error.IsTransient);
        Assert.Equal(_server.Thumbprint, error.Thumbprint);
        Assert.Equal(_server.RawData, File.ReadAllBytes(rejected));
    }

    [Fact]
    public void Copying_the_rejected_file_into_the_trust_folder_trusts_the_server()
    {
        var error = Assert.Throws<UntrustedCertificateException>(() => _trust.Check(_server.RawData));
        Directory.CreateDirectory(_trust.TrustDirectory);
        File.Copy(error.RejectedCopy!, Path.Combine(_trust.TrustDirectory, Path.GetFileName(error.RejectedCopy!)));

        _trust.Check(_server.RawData);
    }

    [Fact]
    public void A_trusted_certificate_in_PEM_is_accepted_also_when_the_server_sends_its_chain_after_it()
    {
        Directory.CreateDirectory(_trust.TrustDirectory);
        File.WriteAllText(Path.Combine(_trust.TrustDirectory, "paint-shop.pem"), _server.ExportCertificatePem());
        using var other = TestCertificates.SelfSigned("other", 2048, Now);

        _trust.Check([.. _server.RawData, .. other.RawData]);
        Assert.Throws<UntrustedCertificateException>(() => _trust.Check(other.RawData));
    }

    [Fact]
    public void A_certificate_issued_by_a_CA_in_the_trust_folder_is_accepted()
    {
        using var ca = TestCertificates.SelfSigned("plant CA", 2048, Now, ca: true);
        using var issued = TestCertificates.IssuedBy(ca, "line-3-server", Now.AddDays(-10), Now.AddDays(10));
        Directory.CreateDirectory(_trust.TrustDirectory);
        File.WriteAllBytes(Path.Combine(_trust.TrustDirectory, "plant-ca.der"), ca.RawData);

        _trust.Check(issued.RawData);
    }

    [Fact]
    public void A_trusted_certificate_that_has_expired_is_refused_with_its_validity_dates()
    {
        using var ca = TestCertificates.SelfSigned("plant CA", 2048, Now, ca: true);
        using var expired = TestCertificates.IssuedBy(ca, "old-server", Now.AddDays(-100), Now.AddDays(-1));
        Directory.CreateDirectory(_trust.TrustDirectory);
        File.WriteAllBytes(Path.Combine(_trust.TrustDirectory, "old.der"), expired.RawData);

        var error = Assert.Throws<UntrustedCertificateException>(() => _trust.Check(expired.RawData));
        Assert.Contains($"(SHA-1 thumbprint {expired.Thumbprint}) is not valid now (2026-06-01 12:00:00Z): it is valid from 2026-02-21 12:00:00Z to 2026-05-31 12:00:00Z", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_in_the_trust_folder_that_is_no_certificate_is_an_error_naming_it()
    {
        Directory.CreateDirectory(_trust.TrustDirectory);
        var bad = Path.Combine(_trust.TrustDirectory, "notes.pem");
        File.WriteAllText(bad, "call Marc about the PLC");

        var error = Assert.Throws<UsineException>(() => _trust.Check(_server.RawData));
        Assert.StartsWith($"The trust folder holds {bad}, which is not a certificate in DER or PEM", error.Message, StringComparison.Ordinal);
    }
}
