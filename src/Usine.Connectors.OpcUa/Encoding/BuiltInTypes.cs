using System.Globalization;
using System.Text;

namespace Usine.Connectors.OpcUa.Encoding;

/// <summary>The built-in types of OPC 10000-6 §5.1.2, by the id a Variant's encoding byte carries.</summary>
public enum BuiltInType : byte
{
    Null = 0,
    Boolean = 1,
    SByte = 2,
    Byte = 3,
    Int16 = 4,
    UInt16 = 5,
    Int32 = 6,
    UInt32 = 7,
    Int64 = 8,
    UInt64 = 9,
    Float = 10,
    Double = 11,
    String = 12,
    DateTime = 13,
    Guid = 14,
    ByteString = 15,
    XmlElement = 16,
    NodeId = 17,
    ExpandedNodeId = 18,
    StatusCode = 19,
    QualifiedName = 20,
    LocalizedText = 21,
    ExtensionObject = 22,
    DataValue = 23,
    Variant = 24,
    DiagnosticInfo = 25,
}

/// <summary>What a NodeId's identifier is (OPC 10000-3 §8.2.3).</summary>
public enum IdType : byte
{
    Numeric = 0,
    String = 1,
    Guid = 2,
    Opaque = 3,
}

/// <summary>
/// The identifier of a node in a server's address space: a namespace index and a numeric, string, GUID or opaque
/// identifier. Written and parsed in the text form of OPC 10000-6 §5.3.1.10 (<c>ns=1;s=Oven2.Counter</c>, <c>i=85</c>).
/// </summary>
public sealed class NodeId : IEquatable<NodeId>
{
    public static readonly NodeId Null = new(0, 0u);

    private readonly uint _numeric;
    private readonly object? _identifier;

    public NodeId(ushort namespaceIndex, uint identifier)
    {
        NamespaceIndex = namespaceIndex;
        IdType = IdType.Numeric;
        _numeric = identifier;
    }

    public NodeId(ushort namespaceIndex, string identifier)
    {
        ArgumentNullException.ThrowIfNull(identifier);
        NamespaceIndex = namespaceIndex;
        IdType = IdType.String;
        _identifier = identifier;
    }

    public NodeId(ushort namespaceIndex, Guid identifier)
    {
        NamespaceIndex = namespaceIndex;
        IdType = IdType.Guid;
        _identifier = identifier;
    }

    public NodeId(ushort namespaceIndex, byte[] identifier)
    {
        ArgumentNullException.ThrowIfNull(identifier);
        NamespaceIndex = namespaceIndex;
        IdType = IdType.Opaque;
        _identifier = identifier;
    }

    public ushort NamespaceIndex { get; }

    public IdType IdType { get; }

    public uint Numeric => IdType == IdType.Numeric ? _numeric : throw new InvalidOperationException($"node id {this} is not numeric");

    public string StringId => _identifier as string ?? throw new InvalidOperationException($"node id {this} is not a string id");

    public Guid GuidId => _identifier is Guid g ? g : throw new InvalidOperationException($"node id {this} is not a GUID id");

    public byte[] Opaque => _identifier as byte[] ?? throw new InvalidOperationException($"node id {this} is not opaque");

    public bool IsNull => IdType switch
    {
        IdType.Numeric => _numeric == 0 && NamespaceIndex == 0,
        IdType.String => NamespaceIndex == 0 && ((string)_identifier!).Length == 0,
        IdType.Guid => NamespaceIndex == 0 && (Guid)_identifier! == Guid.Empty,
        _ => NamespaceIndex == 0 && ((byte[])_identifier!).Length == 0,
    };

    /// <summary>Parses <c>ns=N;i=..|s=..|g=..|b=..</c> (the <c>ns=N;</c> part may be left out for namespace 0).</summary>
    public static NodeId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (TryParse(text, out var id, out var problem))
        {
            return id;
        }

        throw new FormatException(problem);
    }

    public static bool TryParse(string text, out NodeId id, out string problem)
    {
        id = Null;
        problem = "";
        ushort ns = 0;
        var rest = text.AsSpan().Trim();
        if (rest.StartsWith("ns=", StringComparison.Ordinal))
        {
            var semicolon = rest.IndexOf(';');
            if (semicolon < 0 || !ushort.TryParse(rest[3..semicolon], NumberStyles.None, CultureInfo.InvariantCulture, out ns))
            {
                problem = $"node id '{text}': the namespace index must be a whole number from 0 to 65535 followed by ';', as in ns=1;s=Oven2.Counter";
                return false;
            }

            rest = rest[(semicolon + 1)..];
        }

        if (rest.Length < 2 || rest[1] != '=')
        {
            problem = $"node id '{text}' must be written ns=N;i=NUMBER, ns=N;s=STRING, ns=N;g=GUID or ns=N;b=BASE64";
            return false;
        }

        var value = rest[2..];
        switch (rest[0])
        {
            case 'i' when uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n):
                id = new NodeId(ns, n);
                return true;
            case 's':
                id = new NodeId(ns, value.ToString());
                return true;
            case 'g' when Guid.TryParse(value, out var g):
                id = new NodeId(ns, g);
                return true;
            case 'b':
                try
                {
                    id = new NodeId(ns, Convert.FromBase64String(value.ToString()));
                    return true;
                }
                catch (FormatException)
                {
                    break;
                }
        }

        problem = $"node id '{text}': the identifier after '{rest[0]}=' is not valid for that kind (i=NUMBER, s=STRING, g=GUID, b=BASE64)";
        return false;
    }

    public override string ToString()
    {
        var prefix = NamespaceIndex == 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"ns={NamespaceIndex};");
        return IdType switch
        {
            IdType.Numeric => string.Create(CultureInfo.InvariantCulture, $"{prefix}i={_numeric}"),
            IdType.String => $"{prefix}s={_identifier}",
            IdType.Guid => $"{prefix}g={_identifier}",
            _ => $"{prefix}b={Convert.ToBase64String((byte[])_identifier!)}",
        };
    }

    public bool Equals(NodeId? other) =>
        other is not null && other.NamespaceIndex == NamespaceIndex && other.IdType == IdType && IdType switch
        {
            IdType.Numeric => other._numeric == _numeric,
            IdType.Opaque => ((byte[])_identifier!).AsSpan().SequenceEqual((byte[])other._identifier!),
            _ => Equals(_identifier, other._identifier),
        };

    public override bool Equals(object? obj) => Equals(obj as NodeId);

    public override int GetHashCode() => IdType switch
    {
        IdType.Numeric => HashCode.Combine(NamespaceIndex, _numeric),
        IdType.Opaque => HashCode.Combine(NamespaceIndex, ((byte[])_identifier!).Length),
        _ => HashCode.Combine(NamespaceIndex, _identifier),
    };

    public static bool operator ==(NodeId? a, NodeId? b) => a is null ? b is null : a.Equals(b);

    public static bool operator !=(NodeId? a, NodeId? b) => !(a == b);
}

/// <summary>A NodeId that may name its namespace by URI and live in another server (OPC 10000-6 §5.2.2.10).</summary>
public sealed record ExpandedNodeId(NodeId NodeId, string? NamespaceUri = null, uint ServerIndex = 0)
{
    public override string ToString() =>
        (ServerIndex != 0 ? string.Create(CultureInfo.InvariantCulture, $"svr={ServerIndex};") : "") + (NamespaceUri is null ? "" : $"nsu={NamespaceUri};") + NodeId;
}

/// <summary>A name qualified by the index of its namespace (OPC 10000-3 §8.3).</summary>
public readonly record struct QualifiedName(ushort NamespaceIndex, string? Name)
{
    public override string ToString() => NamespaceIndex == 0 ? Name ?? "" : string.Create(CultureInfo.InvariantCulture, $"{NamespaceIndex}:{Name}");
}

/// <summary>A text with its locale (OPC 10000-3 §8.5); either may be absent.</summary>
public readonly record struct LocalizedText(string? Locale, string? Text)
{
    public override string ToString() => Text ?? "";
}

/// <summary>How an ExtensionObject's body is carried.</summary>
public enum ExtensionObjectEncoding : byte
{
    None = 0,
    Binary = 1,
    Xml = 2,
}

/// <summary>A structure carried as its encoding's type id and its encoded body, left undecoded (OPC 10000-6 §5.2.2.15).</summary>
public sealed record ExtensionObject(NodeId TypeId, ExtensionObjectEncoding Encoding, ReadOnlyMemory<byte> Body)
{
    public static readonly ExtensionObject Null = new(NodeId.Null, ExtensionObjectEncoding.None, ReadOnlyMemory<byte>.Empty);
}

/// <summary>Vendor diagnostics of an operation (OPC 10000-4 §7.12); the string fields are indexes in the response's string table.</summary>
public sealed record DiagnosticInfo
{
    public int? SymbolicId { get; init; }
    public int? NamespaceUri { get; init; }
    public int? Locale { get; init; }
    public int? LocalizedText { get; init; }
    public string? AdditionalInfo { get; init; }
    public StatusCode? InnerStatusCode { get; init; }
    public DiagnosticInfo? InnerDiagnosticInfo { get; init; }
}

/// <summary>A value with its status and timestamps (OPC 10000-4 §7.11); a null field was not sent.</summary>
public sealed record DataValue
{
    public Variant Value { get; init; }
    public StatusCode Status { get; init; }
    public DateTime? SourceTimestamp { get; init; }
    public ushort SourcePicoseconds { get; init; }
    public DateTime? ServerTimestamp { get; init; }
    public ushort ServerPicoseconds { get; init; }
    public bool HasValue { get; init; }
}

/// <summary>The UTF-8 helpers the codec shares.</summary>
internal static class Utf8
{
    public static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
