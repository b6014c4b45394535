using System.Globalization;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;

namespace Usine.Connectors.Mqtt.Internal;

/// <summary>
/// Checks the broker's certificate during the TLS handshake against the source's own CA (or the machine's
/// CAs), with the revocation check the source asks for, and keeps the reason of a refusal in words an
/// operator can act on: the handshake itself only reports that the certificate was rejected.
/// </summary>
internal sealed class BrokerCertificateCheck(MqttTlsSettings tls, BrokerAddress broker, TimeProvider time)
{
    // A CRL server that does not answer must not hold the connection attempt for long.
    private static readonly TimeSpan RevocationTimeout = TimeSpan.FromSeconds(5);

    private volatile string? _failure;
    private volatile bool _accepted;

    /// <summary>Sets the TLS options of a connection to <paramref name="broker"/>.</summary>
    public void Apply(MqttClientOptionsBuilder builder) => builder.WithTlsOptions(o =>
    {
        o.UseTls()
            .WithTargetHost(broker.Host)

            // The handshake's own chain check stays offline; the one that counts, with the source's
            // revocation mode, is made in Validate.
            .WithRevocationMode(X509RevocationMode.NoCheck)
            .WithCertificateValidationHandler(Validate);
        if (tls.ClientCertificate is { } cert)
        {
            o.WithClientCertificates([cert]);
        }
    });

    /// <summary>Forgets the outcome of the previous attempt; call before each connection attempt.</summary>
    public void Reset()
    {
        _failure = null;
        _accepted = false;
    }

    /// <summary>
    /// What to report for a connection attempt that failed with <paramref name="error"/>: the reason the
    /// broker's certificate was refused, or, when it was accepted but the broker ended the handshake and no
    /// client certificate is set, a hint that the broker may require one. Null when TLS is not the cause.
    /// </summary>
    public string? Explain(Exception error)
    {
        if (_failure is { } failure)
        {
            return $"TLS: the certificate of {broker} is refused: {failure}";
        }

        if (_accepted && tls.ClientCertificate is null && IsTransportFailure(error))
        {
            return $"TLS: {broker} closed the connection after its certificate was accepted ({Innermost(error).Message.TrimEnd('.')}); if the broker requires client certificates, set certFile and keyFile";
        }

        return null;
    }

    private bool Validate(MqttClientCertificateValidationEventArgs e)
    {
        if (tls.InsecureSkipVerify)
        {
            _accepted = true;
            return true;
        }

        if (e.Certificate is null)
        {
            _failure = "the broker sent no certificate";
            return false;
        }

        var leaf = e.Certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(e.Certificate.GetRawCertData());
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.RevocationMode = tls.Revocation;
        policy.RevocationFlag = X509RevocationFlag.ExcludeRoot;
        policy.UrlRetrievalTimeout = RevocationTimeout;
        policy.DisableCertificateDownloads = tls.Revocation != X509RevocationMode.Online;
        policy.VerificationTime = time.GetUtcNow().UtcDateTime;
        if (tls.CaFile is not null)
        {
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.AddRange(tls.Roots);
            policy.ExtraStore.AddRange(tls.Intermediates);
        }

        // The intermediate CAs the broker sent with its certificate.
        if (e.Chain is not null)
        {
            policy.ExtraStore.AddRange(e.Chain.ChainPolicy.ExtraStore);
            foreach (var element in e.Chain.ChainElements.Skip(1))
            {
                policy.ExtraStore.Add(element.Certificate);
            }
        }

        var reasons = new List<string>();
        if (!chain.Build(leaf))
        {
            reasons.AddRange(Describe(chain, leaf));
        }

        if (e.SslPolicyErrors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            reasons.Add($"name mismatch: the certificate is for {Names(leaf)}, not '{broker.Host}'; write the broker with one of those names, or have the certificate reissued for '{broker.Host}'");
        }

        if (reasons.Count > 0)
        {
            _failure = string.Join("; ", reasons.Distinct(StringComparer.Ordinal));
            return false;
        }

        _accepted = true;
        return true;
    }

    private IEnumerable<string> Describe(X509Chain chain, X509Certificate2 leaf)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var elements = chain.ChainElements.Select(e => (e.Certificate, Status: e.ChainElementStatus.Aggregate(X509ChainStatusFlags.NoError, (f, s) => f | s.Status))).ToList();
        var all = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (f, s) => f | s.Status);
        var trusted = tls.CaFile is null
            ? "this machine's trusted CAs; set caFile to the CA that issued the broker's certificate"
            : $"caFile {tls.CaFile} (which holds {MqttTlsSettings.Subjects(tls.Roots)}); set caFile to the CA that issued the broker's certificate";

        foreach (var (cert, status) in elements)
        {
            if (status.HasFlag(X509ChainStatusFlags.Revoked))
            {
                yield return $"certificate '{cert.Subject}' is revoked by its CA";
            }

            if (status.HasFlag(X509ChainStatusFlags.NotTimeValid))
            {
                yield return cert.NotAfter.ToUniversalTime() < now
                    ? $"certificate '{cert.Subject}' expired on {Time(cert.NotAfter)}; the broker needs a renewed certificate"
                    : $"certificate '{cert.Subject}' is not valid before {Time(cert.NotBefore)}; check the clock of this machine and of the broker";
            }
        }

        if (all.HasFlag(X509ChainStatusFlags.UntrustedRoot))
        {
            yield return elements.Count == 1
                ? $"untrusted issuer '{leaf.Subject}' (the certificate is self-signed): it is not among {trusted}"
                : $"untrusted issuer '{elements[^1].Certificate.Subject}': it is not among {trusted}";
        }
        else if (all.HasFlag(X509ChainStatusFlags.PartialChain))
        {
            yield return $"untrusted issuer '{elements[^1].Certificate.Issuer}' of '{leaf.Subject}': it is not among {trusted}";
        }

        if ((all & (X509ChainStatusFlags.RevocationStatusUnknown | X509ChainStatusFlags.OfflineRevocation)) != 0)
        {
            yield return tls.Revocation == X509RevocationMode.Offline
                ? $"revocation unreachable: no revocation list of '{leaf.Issuer}' is cached on this machine (revocation: offline); use revocation: none where no CRL is published or reachable"
                : $"revocation unreachable: the revocation list of '{leaf.Issuer}' could not be fetched (revocation: online); a plant network often has no route to the CRL server: use revocation: none or offline";
        }

        const X509ChainStatusFlags described = X509ChainStatusFlags.Revoked | X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.UntrustedRoot
            | X509ChainStatusFlags.PartialChain | X509ChainStatusFlags.RevocationStatusUnknown | X509ChainStatusFlags.OfflineRevocation;
        foreach (var other in chain.ChainStatus.Where(s => (s.Status & described) == 0))
        {
            yield return $"'{leaf.Subject}': {other.StatusInformation.Trim().TrimEnd('.')}";
        }
    }

    private static string Names(X509Certificate2 cert)
    {
        var names = new List<string>();
        foreach (var ext in cert.Extensions.OfType<X509SubjectAlternativeNameExtension>())
        {
            names.AddRange(ext.EnumerateDnsNames().Select(n => $"'{n}'"));
            names.AddRange(ext.EnumerateIPAddresses().Select(a => $"'{a}'"));
        }

        return names.Count > 0 ? string.Join(", ", names) : $"'{cert.GetNameInfo(X509NameType.SimpleName, forIssuer: false)}' (its subject; it has no alternative names)";
    }

    private static string Time(DateTime t) => t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    private static bool IsTransportFailure(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            if (e is IOException or System.Net.Sockets.SocketException or System.Security.Authentication.AuthenticationException or MQTTnet.Exceptions.MqttCommunicationException)
            {
                return true;
            }
        }

        return false;
    }

    private static Exception Innermost(Exception error)
    {
        var e = error;
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}
