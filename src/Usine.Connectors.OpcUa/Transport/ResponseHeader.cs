using Usine.Connectors.OpcUa.Encoding;

namespace Usine.Connectors.OpcUa.Transport;

/// <summary>The ResponseHeader of every response (OPC 10000-4 §7.34).</summary>
public sealed record ResponseHeader(DateTime Timestamp, uint RequestHandle, StatusCode ServiceResult, string?[] StringTable)
{
    private const uint ServiceFaultId = 397;

    /// <summary>
    /// Reads the header; throws <see cref="OpcUaException"/> naming <paramref name="service"/> when the response is a
    /// ServiceFault or its service result is bad.
    /// </summary>
    public static ResponseHeader Read(ref BinaryDecoder d, NodeId typeId, string service)
    {
        ArgumentNullException.ThrowIfNull(typeId);
        var timestamp = d.ReadDateTime();
        var handle = d.ReadUInt32();
        var result = d.ReadStatusCode();
        var diagnostics = d.ReadDiagnosticInfo();
        var count = d.ReadLength();
        var strings = new string?[count];
        for (var i = 0; i < count; i++)
        {
            strings[i] = d.ReadString();
        }

        d.ReadExtensionObject();
        if (result.IsBad || (typeId.IdType == IdType.Numeric && typeId.Numeric == ServiceFaultId))
        {
            var detail = diagnostics?.AdditionalInfo;
            if (diagnostics?.LocalizedText is { } t && t >= 0 && t < strings.Length)
            {
                detail = strings[t];
            }

            throw OpcUaException.FromStatus(service, result.IsBad ? result : new StatusCode(0x80000000), detail);
        }

        return new ResponseHeader(timestamp, handle, result, strings);
    }
}
