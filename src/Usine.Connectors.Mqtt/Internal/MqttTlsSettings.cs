using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Usine.Sources;

namespace Usine.Connectors.Mqtt.Internal;

/// <summary>The TLS part of an mqtt source's settings, with its certificates read from their files.</summary>
internal sealed class MqttTlsSettings : IDisposable
{
    private static readonly string[] TlsKeys = ["caFile", "certFile", "keyFile", "keyPassword", "revocation", "insecureSkipVerify"];

    /// <summary>The CA file as given and where it was read; null to trust the machine's CAs.</summary>
    public string? CaFile { get; private init; }

    /// <summary>The self-signed CAs of <see cref="CaFile"/>: the only roots a broker's certificate may chain to.</summary>
    public X509Certificate2Collection Roots { get; } = [];

    /// <summary>The other certificates of <see cref="CaFile"/> (intermediate CAs), used to complete a chain.</summary>
    public X509Certificate2Collection Intermediates { get; } = [];

    /// <summary>The certificate (with its private key) shown to a broker that asks for one; null: none.</summary>
    public X509Certificate2? ClientCertificate { get; private init; }

    public X509RevocationMode Revocation { get; private init; } = X509RevocationMode.NoCheck;

    public bool InsecureSkipVerify { get; private init; }

    /// <summary>Null for a plain TCP broker; throws <see cref="SourceSettingException"/> naming the setting that cannot work.</summary>
    public static MqttTlsSettings? Parse(SourceDefinition source, BrokerAddress broker, string what)
    {
        var s = source.Settings;
        if (!broker.Tls)
        {
            if (TlsKeys.FirstOrDefault(s.ContainsKey) is { } key)
            {
                throw new SourceSettingException(key, $"{what}: {key} applies to a TLS connection, but the broker is {broker}; write the broker as mqtts://{broker.Host}:8883 (or the port of its TLS listener)");
            }

            return null;
        }

        var tls = new MqttTlsSettings
        {
            InsecureSkipVerify = s.TryGetValue("insecureSkipVerify", out var insecure) && Bool(insecure, "insecureSkipVerify", what),
            Revocation = s.TryGetValue("revocation", out var r) ? ParseRevocation(r, what) : X509RevocationMode.NoCheck,
            CaFile = s.TryGetValue("caFile", out var ca) ? Resolve(source, ca, "caFile", what) : null,
            ClientCertificate = ReadClientCertificate(source, what),
        };
        if (tls.InsecureSkipVerify && (tls.CaFile is not null || r is not null))
        {
            tls.Dispose();
            throw new SourceSettingException("insecureSkipVerify", $"{what}: insecureSkipVerify turns off the check that {(tls.CaFile is not null ? "caFile" : "revocation")} configures; remove one of them (caFile is the safe choice)");
        }

        if (tls.CaFile is not null)
        {
            try
            {
                ReadCa(tls, what);
            }
            catch
            {
                tls.Dispose();
                throw;
            }
        }

        return tls;
    }

    private static void ReadCa(MqttTlsSettings tls, string what)
    {
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPemFile(tls.CaFile!);
        }
        catch (CryptographicException ex)
        {
            throw new SourceSettingException("caFile", $"{what}: caFile {tls.CaFile} is not a PEM file of CA certificates: {ex.Message}");
        }

        foreach (var cert in all)
        {
            (cert.SubjectName.RawData.AsSpan().SequenceEqual(cert.IssuerName.RawData) ? tls.Roots : tls.Intermediates).Add(cert);
        }

        if (tls.Roots.Count == 0)
        {
            throw new SourceSettingException("caFile", all.Count == 0
                ? $"{what}: caFile {tls.CaFile} holds no certificate; it must hold the plant CA's certificate in PEM (-----BEGIN CERTIFICATE-----)"
                : $"{what}: caFile {tls.CaFile} holds no root CA (a self-signed certificate), only {Subjects(all)}; add the root CA those were issued by");
        }
    }

    private static X509Certificate2? ReadClientCertificate(SourceDefinition source, string what)
    {
        var s = source.Settings;
        if (!s.TryGetValue("certFile", out var certText))
        {
            var orphan = s.ContainsKey("keyFile") ? "keyFile" : s.ContainsKey("keyPassword") ? "keyPassword" : null;
            return orphan is null ? null : throw new SourceSettingException(orphan, $"{what}: {orphan} is set without certFile; set certFile to the client certificate (PEM) it belongs to");
        }

        var certFile = Resolve(source, certText, "certFile", what);
        var keyFile = s.TryGetValue("keyFile", out var keyText) ? Resolve(source, keyText, "keyFile", what) : null;
        var password = s.TryGetValue("keyPassword", out var p) ? SourceSettings.ExpandEnvironment(p, "keyPassword", what) : null;
        X509Certificate2 cert;
        try
        {
            cert = password is null
                ? X509Certificate2.CreateFromPemFile(certFile, keyFile)
                : X509Certificate2.CreateFromEncryptedPemFile(certFile, password, keyFile);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            // A key that is not the certificate's is an ArgumentException; an unreadable one a CryptographicException.
            var key = keyFile ?? certFile;
            var hint = password is null
                ? "check that it is the key of this certificate, in PEM; an encrypted key (BEGIN ENCRYPTED PRIVATE KEY) needs keyPassword"
                : "check keyPassword and that it is the key of this certificate, in PEM (BEGIN ENCRYPTED PRIVATE KEY)";
            throw new SourceSettingException(keyFile is null ? "certFile" : "keyFile", $"{what}: the client certificate {certFile} with the private key in {key} cannot be used: {ex.Message.TrimEnd('.')}; {hint}");
        }

        if (OperatingSystem.IsWindows())
        {
            // SChannel cannot use the ephemeral key of a certificate read from PEM; a PKCS#12 round trip gives it a usable one.
            using (cert)
            {
                return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
            }
        }

        return cert;
    }

    /// <summary>A path relative to the folder of the file that defines the source, which must exist.</summary>
    private static string Resolve(SourceDefinition source, string path, string key, string what)
    {
        var baseDir = source.Directory ?? Directory.GetCurrentDirectory();
        var full = Path.GetFullPath(Path.Combine(baseDir, path));
        return File.Exists(full)
            ? full
            : throw new SourceSettingException(key, $"{what}: {key} {full} does not exist{(Path.IsPathRooted(path) ? "" : $" (a relative path is read from {baseDir}, the folder of the file that defines the source)")}");
    }

    private static X509RevocationMode ParseRevocation(string text, string what) => text switch
    {
        "online" => X509RevocationMode.Online,
        "offline" => X509RevocationMode.Offline,
        "none" => X509RevocationMode.NoCheck,
        _ => throw new SourceSettingException("revocation", $"{what}: revocation is '{text}'; write online (ask the CA's CRL server), offline (only revocation lists cached on this machine) or none (the default)"),
    };

    private static bool Bool(string text, string key, string what) => text switch
    {
        "true" => true,
        "false" => false,
        _ => throw new SourceSettingException(key, $"{what}: {key} is '{text}'; write true or false"),
    };

    internal static string Subjects(X509Certificate2Collection certs) => string.Join(", ", certs.Select(c => $"'{c.Subject}'"));

    public void Dispose()
    {
        ClientCertificate?.Dispose();
        foreach (var c in Roots.Concat(Intermediates))
        {
            c.Dispose();
        }
    }
}
