using Usine.Connectors.OpcUa.Encoding;

namespace Usine.Connectors.OpcUa;

/// <summary>
/// A failure of the OPC UA client: the server's status code when it gave one, and whether trying again may help
/// (a lost connection, a server that is busy) or not (a wrong password, a refused security policy).
/// </summary>
public sealed class OpcUaException : UsineException
{
    public OpcUaException(string message, StatusCode status, bool isTransient, Exception? inner = null)
        : base(message, isTransient, inner) => Status = status;

    public OpcUaException() : this("OPC UA error", new StatusCode(0x80000000), false) { }

    public OpcUaException(string message) : this(message, new StatusCode(0x80000000), false) { }

    public OpcUaException(string message, Exception inner) : this(message, new StatusCode(0x80000000), false, inner) { }

    public StatusCode Status { get; }

    /// <summary>A status a server answers with for a problem of configuration (credentials, policy, endpoint), which retrying cannot fix.</summary>
    internal static bool IsPermanent(StatusCode status) => (status.Code & 0xFFFF0000) switch
    {
        0x801F0000 or 0x80200000 or 0x80210000 or 0x805B0000 => true, // user access denied, identity token invalid/rejected, user signature invalid
        0x80580000 or 0x80590000 or 0x80840000 => true, // security mode/policy rejected, endpoint URL invalid
        0x80130000 or 0x801B0000 or 0x80140000 => true, // certificate invalid/untrusted, security checks failed
        _ => false,
    };

    /// <summary>An exception for a bad service result: permanent for configuration problems, transient otherwise.</summary>
    internal static OpcUaException FromStatus(string what, StatusCode status, string? detail = null) =>
        new($"{what} failed: {status.Name} (0x{status.Code:X8}){(string.IsNullOrEmpty(detail) ? "" : ": " + detail)}", status, !IsPermanent(status));
}
