using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Usine.Connectors.OpcUa.Security.Internal;

namespace Usine.Connectors.OpcUa.Security;

/// <summary>
/// The servers a source trusts: a folder of certificates in DER (<c>.der</c>, <c>.cer</c>) or PEM (<c>.pem</c>,
/// <c>.crt</c>). A server is trusted when its own certificate is in the folder, or when it was issued by a CA
/// certificate that is. A refused certificate is written to the rejected folder under its thumbprint, so that
/// trusting it is one copy.
/// </summary>
public sealed class TrustList
{
    private static readonly string[] Extensions = [".der", ".cer", ".pem", ".crt"];

    private readonly TimeProvider _time;

    public TrustList(string trustDirectory, string rejectedDirectory, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrEmpty(trustDirectory);
        ArgumentException.ThrowIfNullOrEmpty(rejectedDirectory);
        ArgumentNullException.ThrowIfNull(time);
        TrustDirectory = Path.GetFullPath(trustDirectory);
        RejectedDirectory = Path.GetFullPath(rejectedDirectory);
        _time = time;
    }

    /// <summary>The folder of trusted certificates.</summary>
    public string TrustDirectory { get; }

    /// <summary>The folder refused certificates are written to.</summary>
    public string RejectedDirectory { get; }

    /// <summary>
    /// Checks a server's certificate (the first of <paramref name="serverCertificate"/>, which may carry its
    /// chain after it). Throws <see cref="UntrustedCertificateException"/> naming its subject and thumbprint
    /// and saying how to trust it when it is not trusted, or when it is not valid at this time. The folder is
    /// read on each call, so a certificate copied in is trusted at the next connection attempt.
    /// </summary>
    public void Check(ReadOnlySpan<byte> serverCertificate)
    {
        var der = CertificateBlob.First(serverCertificate).ToArray();
        using var certificate = X509CertificateLoader.LoadCertificate(der);
        var thumbprint = certificate.Thumbprint;
        var now = _time.GetUtcNow().UtcDateTime;

        if (now < certificate.NotBefore.ToUniversalTime() || now > certificate.NotAfter.ToUniversalTime())
        {
            throw new UntrustedCertificateException(
                $"The server certificate '{certificate.Subject}' (SHA-1 thumbprint {thumbprint}) is not valid now " +
                $"({now.ToString("u", CultureInfo.InvariantCulture)}): it is valid from " +
                $"{certificate.NotBefore.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture)} to " +
                $"{certificate.NotAfter.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture)}. " +
                "Have the server's certificate renewed, or check the clocks of both machines.",
                certificate.Subject, thumbprint, null);
        }

        var trusted = LoadTrusted();
        try
        {
            if (trusted.Any(t => t.RawDataMemory.Span.SequenceEqual(der)) || IssuedByTrustedCa(certificate, trusted, now))
            {
                return;
            }
        }
        finally
        {
            foreach (var t in trusted)
            {
                t.Dispose();
            }
        }

        Directory.CreateDirectory(RejectedDirectory);
        var rejected = Path.Combine(RejectedDirectory, thumbprint + ".der");
        File.WriteAllBytes(rejected, der);
        throw new UntrustedCertificateException(
            $"The server certificate '{certificate.Subject}' (SHA-1 thumbprint {thumbprint}) is not trusted: it is not in the " +
            $"trust folder {TrustDirectory} and was not issued by a CA certificate there. If this is the server you expect, " +
            $"trust it by copying {rejected} into {TrustDirectory}; the next connection attempt reads the folder again.",
            certificate.Subject, thumbprint, rejected);
    }

    private List<X509Certificate2> LoadTrusted()
    {
        var trusted = new List<X509Certificate2>();
        if (!Directory.Exists(TrustDirectory))
        {
            return trusted;
        }
        foreach (var file in Directory.EnumerateFiles(TrustDirectory).Order(StringComparer.Ordinal))
        {
            var extension = Path.GetExtension(file).ToLowerInvariant();
            if (!Extensions.Contains(extension))
            {
                continue;
            }
            try
            {
                var bytes = File.ReadAllBytes(file);
                if (bytes.Length > 0 && bytes[0] == 0x30)
                {
                    trusted.Add(X509CertificateLoader.LoadCertificate(bytes));
                }
                else
                {
                    var collection = new X509Certificate2Collection();
                    collection.ImportFromPem(System.Text.Encoding.ASCII.GetString(bytes));
                    if (collection.Count == 0)
                    {
                        throw new CryptographicException("no CERTIFICATE block in it");
                    }
                    trusted.AddRange(collection);
                }
            }
            catch (CryptographicException e)
            {
                foreach (var t in trusted)
                {
                    t.Dispose();
                }
                throw new UsineException(
                    $"The trust folder holds {file}, which is not a certificate in DER or PEM ({e.Message}): replace or remove it.", e);
            }
        }
        return trusted;
    }

    private static bool IssuedByTrustedCa(X509Certificate2 certificate, List<X509Certificate2> trusted, DateTime now)
    {
        var authorities = trusted.Where(t => t.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority)).ToList();
        if (authorities.Count == 0)
        {
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities.ToArray());
        chain.ChainPolicy.ExtraStore.AddRange(authorities.ToArray());
        try
        {
            return chain.Build(certificate);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, certificate) && !authorities.Any(a => ReferenceEquals(a, element.Certificate)))
                {
                    element.Certificate.Dispose();
                }
            }
        }
    }
}
