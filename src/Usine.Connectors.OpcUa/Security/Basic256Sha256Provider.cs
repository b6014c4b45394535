using System.Collections.Concurrent;
using Usine.Connectors.OpcUa.Channel;

namespace Usine.Connectors.OpcUa.Security;

/// <summary>
/// Basic256Sha256 as the client finds it: for each channel, this application's certificate (made on first use
/// under <c>DATA/pki/own</c>), the server's certificate checked against the trust folder (default
/// <c>DATA/pki/trusted</c>; refused ones are written to <c>DATA/pki/rejected</c>), and a
/// <see cref="Basic256Sha256Security"/> over the two.
/// </summary>
public sealed class Basic256Sha256Provider(TimeProvider? time = null) : IChannelSecurityProvider
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, Lazy<ApplicationCertificate>> _certificates = new(StringComparer.Ordinal);

    public string PolicyUri => SecurityPolicyUris.Basic256Sha256;

    /// <summary>The folder under the data directory where this application's certificate is kept.</summary>
    public static string OwnFolder(string dataDirectory) => Path.GetFullPath(Path.Combine(dataDirectory, "pki", "own"));

    /// <summary>The default trust folder under the data directory.</summary>
    public static string DefaultTrustFolder(string dataDirectory) => Path.GetFullPath(Path.Combine(dataDirectory, "pki", "trusted"));

    /// <summary>The folder refused server certificates are written to.</summary>
    public static string RejectedFolder(string dataDirectory) => Path.GetFullPath(Path.Combine(dataDirectory, "pki", "rejected"));

    public IChannelSecurity Create(ChannelSecurityRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ServerCertificate.IsEmpty)
        {
            throw new UsineException(
                $"The server offers {request.Mode} with {request.PolicyUri} but sends no certificate in its endpoint description, so the channel cannot be secured.");
        }
        var trust = new TrustList(request.TrustFolder ?? DefaultTrustFolder(request.DataDirectory), RejectedFolder(request.DataDirectory), _time);
        trust.Check(request.ServerCertificate.Span);

        var own = Own(request.DataDirectory, request.ApplicationUri);
        return new Basic256Sha256Security(own.Certificate, request.ServerCertificate.Span, request.Mode);
    }

    public (byte[] Data, string Algorithm) EncryptUserSecret(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> serverNonce, ReadOnlySpan<byte> serverCertificate)
    {
        var (data, algorithm) = UserPasswordEncryption.Encrypt(PolicyUri, serverCertificate, secret, serverNonce);
        return (data, algorithm!);
    }

    private ApplicationCertificate Own(string dataDirectory, string applicationUri)
    {
        var folder = OwnFolder(dataDirectory);
        var lazy = _certificates.GetOrAdd(folder, f => new Lazy<ApplicationCertificate>(
            () => ApplicationCertificate.LoadOrCreate(f, applicationUri, HostName(applicationUri), _time)));
        ApplicationCertificate own;
        try
        {
            own = lazy.Value;
        }
        catch
        {
            _certificates.TryRemove(new KeyValuePair<string, Lazy<ApplicationCertificate>>(folder, lazy));
            throw;
        }
        if (!string.Equals(own.ApplicationUri, applicationUri, StringComparison.Ordinal))
        {
            throw new UsineException(
                $"This application's certificate in {folder} was made for the ApplicationUri {own.ApplicationUri}, but the client now says " +
                $"{applicationUri}; servers refuse a session whose URI differs from its certificate's. Set the ApplicationUri back, or " +
                $"remove {ApplicationCertificate.CertificateFileName} and {ApplicationCertificate.PrivateKeyFileName} to have a new certificate " +
                "made (servers must then trust the new one).");
        }
        return own;
    }

    // urn:HOST:Usine names the host; any other URI gets the machine's name.
    private static string HostName(string applicationUri)
    {
        var parts = applicationUri.Split(':');
        return parts.Length == 3 && parts[0] == "urn" && parts[1].Length > 0 ? parts[1] : Environment.MachineName;
    }
}
