namespace Usine.Connectors.OpcUa.Security;

/// <summary>
/// A server's certificate is not trusted, or not valid now. Retrying does not help until someone acts, so the
/// error is not transient; its message says what to do.
/// </summary>
public sealed class UntrustedCertificateException : UsineException
{
    public UntrustedCertificateException(string message, string subject, string thumbprint, string? rejectedCopy)
        : base(message)
    {
        Subject = subject;
        Thumbprint = thumbprint;
        RejectedCopy = rejectedCopy;
    }

    public UntrustedCertificateException() : this("The server certificate is not trusted.", "", "", null) { }

    public UntrustedCertificateException(string message) : this(message, "", "", null) { }

    public UntrustedCertificateException(string message, Exception inner) : base(message, inner)
    {
        Subject = "";
        Thumbprint = "";
    }

    /// <summary>The certificate's subject.</summary>
    public string Subject { get; }

    /// <summary>The certificate's SHA-1 thumbprint in upper-case hexadecimal.</summary>
    public string Thumbprint { get; }

    /// <summary>Where a copy of the refused certificate was written, to be moved into the trust folder.</summary>
    public string? RejectedCopy { get; }
}
