using System.Buffers.Binary;

namespace Usine.Connectors.OpcUa.Encoding;

/// <summary>
/// Writes the OPC UA Binary encoding (OPC 10000-6 §5.2) into a buffer that grows as needed. One encoder is reused
/// for every message a channel sends, so encoding a request allocates nothing but the buffer's growth.
/// </summary>
public sealed class BinaryEncoder
{
    private byte[] _buffer;
    private int _position;

    public BinaryEncoder(int capacity = 1024) => _buffer = new byte[Math.Max(16, capacity)];

    /// <summary>Bytes written so far.</summary>
    public int Position
    {
        get => _position;
        set => _position = value >= 0 && value <= _buffer.Length ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _position);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _position);

    public void Reset() => _position = 0;

    public byte[] ToArray() => Written.ToArray();

    /// <summary>Room for <paramref name="count"/> bytes at the end; the caller advances <see cref="Position"/>.</summary>
    public Span<byte> GetSpan(int count)
    {
        Ensure(count);
        return _buffer.AsSpan(_position, count);
    }

    /// <summary>Overwrites four bytes at <paramref name="offset"/> (a length or a size written once it is known).</summary>
    public void PatchUInt32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(offset, 4), value);

    public void WriteBoolean(bool value) => WriteByte(value ? (byte)1 : (byte)0);

    public void WriteSByte(sbyte value) => WriteByte((byte)value);

    public void WriteByte(byte value)
    {
        Ensure(1);
        _buffer[_position++] = value;
    }

    public void WriteInt16(short value)
    {
        BinaryPrimitives.WriteInt16LittleEndian(GetSpan(2), value);
        _position += 2;
    }

    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(GetSpan(2), value);
        _position += 2;
    }

    public void WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(GetSpan(4), value);
        _position += 4;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(GetSpan(4), value);
        _position += 4;
    }

    public void WriteInt64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(GetSpan(8), value);
        _position += 8;
    }

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(GetSpan(8), value);
        _position += 8;
    }

    public void WriteFloat(float value)
    {
        BinaryPrimitives.WriteSingleLittleEndian(GetSpan(4), value);
        _position += 4;
    }

    public void WriteDouble(double value)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(GetSpan(8), value);
        _position += 8;
    }

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        _position += bytes.Length;
    }

    /// <summary>A String: its UTF-8 length, -1 for null, then the bytes.</summary>
    public void WriteString(string? value)
    {
        if (value is null)
        {
            WriteInt32(-1);
            return;
        }

        var max = Utf8.Strict.GetMaxByteCount(value.Length);
        Ensure(4 + max);
        var written = Utf8.Strict.GetBytes(value, _buffer.AsSpan(_position + 4));
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_position), written);
        _position += 4 + written;
    }

    /// <summary>A DateTime: 100 ns intervals since 1601-01-01 UTC; anything before is 0, <see cref="DateTime.MaxValue"/> is Int64.MaxValue.</summary>
    public void WriteDateTime(DateTime value) => WriteInt64(DateTimeCodec.ToWire(value));

    /// <summary>A Guid: Data1 (UInt32), Data2 and Data3 (UInt16), Data4 (8 bytes), all little-endian where it matters.</summary>
    public void WriteGuid(Guid value)
    {
        value.TryWriteBytes(GetSpan(16), bigEndian: false, out _);
        _position += 16;
    }

    /// <summary>A ByteString: its length, -1 for null, then the bytes.</summary>
    public void WriteByteString(ReadOnlySpan<byte> value, bool isNull = false)
    {
        if (isNull)
        {
            WriteInt32(-1);
            return;
        }

        WriteInt32(value.Length);
        WriteBytes(value);
    }

    public void WriteByteString(byte[]? value)
    {
        if (value is null)
        {
            WriteInt32(-1);
        }
        else
        {
            WriteByteString(value, false);
        }
    }

    /// <summary>A NodeId in its most compact encoding (two-byte, four-byte, numeric, string, GUID or opaque).</summary>
    public void WriteNodeId(NodeId? value) => WriteNodeId(value ?? NodeId.Null, 0);

    private void WriteNodeId(NodeId value, byte flags)
    {
        switch (value.IdType)
        {
            case IdType.Numeric when value.NamespaceIndex == 0 && value.Numeric <= byte.MaxValue:
                WriteByte(flags);
                WriteByte((byte)value.Numeric);
                break;
            case IdType.Numeric when value.NamespaceIndex <= byte.MaxValue && value.Numeric <= ushort.MaxValue:
                WriteByte((byte)(0x01 | flags));
                WriteByte((byte)value.NamespaceIndex);
                WriteUInt16((ushort)value.Numeric);
                break;
            case IdType.Numeric:
                WriteByte((byte)(0x02 | flags));
                WriteUInt16(value.NamespaceIndex);
                WriteUInt32(value.Numeric);
                break;
            case IdType.String:
                WriteByte((byte)(0x03 | flags));
                WriteUInt16(value.NamespaceIndex);
                WriteString(value.StringId);
                break;
            case IdType.Guid:
                WriteByte((byte)(0x04 | flags));
                WriteUInt16(value.NamespaceIndex);
                WriteGuid(value.GuidId);
                break;
            default:
                WriteByte((byte)(0x05 | flags));
                WriteUInt16(value.NamespaceIndex);
                WriteByteString(value.Opaque);
                break;
        }
    }

    public void WriteExpandedNodeId(ExpandedNodeId value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var flags = (byte)((value.NamespaceUri is null ? 0 : 0x80) | (value.ServerIndex == 0 ? 0 : 0x40));
        WriteNodeId(value.NodeId, flags);
        if (value.NamespaceUri is not null)
        {
            WriteString(value.NamespaceUri);
        }

        if (value.ServerIndex != 0)
        {
            WriteUInt32(value.ServerIndex);
        }
    }

    public void WriteStatusCode(StatusCode value) => WriteUInt32(value.Code);

    public void WriteQualifiedName(QualifiedName value)
    {
        WriteUInt16(value.NamespaceIndex);
        WriteString(value.Name);
    }

    public void WriteLocalizedText(LocalizedText value)
    {
        var mask = (byte)((value.Locale is null ? 0 : 0x01) | (value.Text is null ? 0 : 0x02));
        WriteByte(mask);
        if (value.Locale is not null)
        {
            WriteString(value.Locale);
        }

        if (value.Text is not null)
        {
            WriteString(value.Text);
        }
    }

    public void WriteExtensionObject(ExtensionObject? value)
    {
        value ??= ExtensionObject.Null;
        WriteNodeId(value.TypeId);
        WriteByte((byte)value.Encoding);
        if (value.Encoding != ExtensionObjectEncoding.None)
        {
            WriteByteString(value.Body.Span);
        }
    }

    /// <summary>
    /// An ExtensionObject whose binary body <paramref name="body"/> writes here directly, its length patched after:
    /// how requests carry their identity tokens and filters without an intermediate buffer.
    /// </summary>
    public void WriteExtensionObject<T>(NodeId typeId, T state, Action<BinaryEncoder, T> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        WriteNodeId(typeId);
        WriteByte((byte)ExtensionObjectEncoding.Binary);
        var lengthAt = _position;
        WriteInt32(0);
        body(this, state);
        PatchUInt32(lengthAt, (uint)(_position - lengthAt - 4));
    }

    public void WriteDiagnosticInfo(DiagnosticInfo? value)
    {
        if (value is null)
        {
            WriteByte(0);
            return;
        }

        var mask = (byte)((value.SymbolicId is null ? 0 : 0x01) | (value.NamespaceUri is null ? 0 : 0x02) | (value.LocalizedText is null ? 0 : 0x04)
            | (value.Locale is null ? 0 : 0x08) | (value.AdditionalInfo is null ? 0 : 0x10) | (value.InnerStatusCode is null ? 0 : 0x20)
            | (value.InnerDiagnosticInfo is null ? 0 : 0x40));
        WriteByte(mask);
        if (value.SymbolicId is { } s)
        {
            WriteInt32(s);
        }

        if (value.NamespaceUri is { } n)
        {
            WriteInt32(n);
        }

        if (value.Locale is { } l)
        {
            WriteInt32(l);
        }

        if (value.LocalizedText is { } t)
        {
            WriteInt32(t);
        }

        if (value.AdditionalInfo is { } a)
        {
            WriteString(a);
        }

        if (value.InnerStatusCode is { } c)
        {
            WriteStatusCode(c);
        }

        if (value.InnerDiagnosticInfo is { } inner)
        {
            WriteDiagnosticInfo(inner);
        }
    }

    public void WriteDataValue(DataValue? value)
    {
        if (value is null)
        {
            WriteByte(0);
            return;
        }

        var mask = (byte)((value.HasValue ? 0x01 : 0) | (value.Status.Code != 0 ? 0x02 : 0) | (value.SourceTimestamp is null ? 0 : 0x04)
            | (value.ServerTimestamp is null ? 0 : 0x08) | (value.SourcePicoseconds != 0 ? 0x10 : 0) | (value.ServerPicoseconds != 0 ? 0x20 : 0));
        WriteByte(mask);
        if (value.HasValue)
        {
            WriteVariant(value.Value);
        }

        if (value.Status.Code != 0)
        {
            WriteStatusCode(value.Status);
        }

        if (value.SourceTimestamp is { } source)
        {
            WriteDateTime(source);
        }

        if (value.SourcePicoseconds != 0)
        {
            WriteUInt16(value.SourcePicoseconds);
        }

        if (value.ServerTimestamp is { } server)
        {
            WriteDateTime(server);
        }

        if (value.ServerPicoseconds != 0)
        {
            WriteUInt16(value.ServerPicoseconds);
        }
    }

    public void WriteVariant(Variant value)
    {
        if (value.IsNull)
        {
            WriteByte(0);
            return;
        }

        if (!value.IsArray)
        {
            WriteByte((byte)value.Type);
            WriteScalar(value.Type, value.Bits, value.Reference);
            return;
        }

        var array = (Array)value.Reference!;
        WriteByte((byte)((byte)value.Type | 0x80 | (value.Dimensions is null ? 0 : 0x40)));
        WriteInt32(array.Length);
        for (var i = 0; i < array.Length; i++)
        {
            WriteElement(value.Type, array.GetValue(i));
        }

        if (value.Dimensions is { } dimensions)
        {
            WriteInt32(dimensions.Length);
            foreach (var d in dimensions)
            {
                WriteInt32(d);
            }
        }
    }

    private void WriteScalar(BuiltInType type, ulong bits, object? reference)
    {
        switch (type)
        {
            case BuiltInType.Boolean:
            case BuiltInType.SByte:
            case BuiltInType.Byte:
                WriteByte((byte)bits);
                break;
            case BuiltInType.Int16:
            case BuiltInType.UInt16:
                WriteUInt16((ushort)bits);
                break;
            case BuiltInType.Int32:
            case BuiltInType.UInt32:
            case BuiltInType.Float:
            case BuiltInType.StatusCode:
                WriteUInt32((uint)bits);
                break;
            case BuiltInType.Int64:
            case BuiltInType.UInt64:
            case BuiltInType.Double:
                WriteUInt64(bits);
                break;
            case BuiltInType.DateTime:
                WriteDateTime(new DateTime((long)bits, DateTimeKind.Utc));
                break;
            default:
                WriteElement(type, reference);
                break;
        }
    }

    private void WriteElement(BuiltInType type, object? element)
    {
        switch (type)
        {
            case BuiltInType.Boolean: WriteBoolean((bool)element!); break;
            case BuiltInType.SByte: WriteSByte((sbyte)element!); break;
            case BuiltInType.Byte: WriteByte((byte)element!); break;
            case BuiltInType.Int16: WriteInt16((short)element!); break;
            case BuiltInType.UInt16: WriteUInt16((ushort)element!); break;
            case BuiltInType.Int32: WriteInt32((int)element!); break;
            case BuiltInType.UInt32: WriteUInt32((uint)element!); break;
            case BuiltInType.Int64: WriteInt64((long)element!); break;
            case BuiltInType.UInt64: WriteUInt64((ulong)element!); break;
            case BuiltInType.Float: WriteFloat((float)element!); break;
            case BuiltInType.Double: WriteDouble((double)element!); break;
            case BuiltInType.String: WriteString((string?)element); break;
            case BuiltInType.XmlElement: WriteString((string?)element); break;
            case BuiltInType.DateTime: WriteDateTime((DateTime)element!); break;
            case BuiltInType.Guid: WriteGuid((Guid)element!); break;
            case BuiltInType.ByteString: WriteByteString((byte[]?)element); break;
            case BuiltInType.NodeId: WriteNodeId((NodeId?)element); break;
            case BuiltInType.ExpandedNodeId: WriteExpandedNodeId((ExpandedNodeId)element!); break;
            case BuiltInType.StatusCode: WriteStatusCode((StatusCode)element!); break;
            case BuiltInType.QualifiedName: WriteQualifiedName((QualifiedName)element!); break;
            case BuiltInType.LocalizedText: WriteLocalizedText((LocalizedText)element!); break;
            case BuiltInType.ExtensionObject: WriteExtensionObject((ExtensionObject?)element); break;
            case BuiltInType.DataValue: WriteDataValue((DataValue?)element); break;
            case BuiltInType.Variant: WriteVariant((Variant)element!); break;
            case BuiltInType.DiagnosticInfo: WriteDiagnosticInfo((DiagnosticInfo?)element); break;
            default: throw new ArgumentException($"a variant of type {type} cannot be encoded", nameof(type));
        }
    }

    /// <summary>An array of structures: its length (-1 for null), then each element as <paramref name="write"/> writes it.</summary>
    public void WriteArray<T>(IReadOnlyList<T>? items, Action<BinaryEncoder, T> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (items is null)
        {
            WriteInt32(-1);
            return;
        }

        WriteInt32(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            write(this, items[i]);
        }
    }

    private void Ensure(int count)
    {
        if (_position + count <= _buffer.Length)
        {
            return;
        }

        var bigger = new byte[Math.Max(_buffer.Length * 2, _position + count)];
        _buffer.AsSpan(0, _position).CopyTo(bigger);
        _buffer = bigger;
    }
}

/// <summary>The DateTime of the wire: 100 ns ticks since 1601-01-01 UTC, clamped at both ends (OPC 10000-6 §5.2.2.5).</summary>
internal static class DateTimeCodec
{
    private static readonly long Epoch = new DateTime(1601, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

    public static long ToWire(DateTime value)
    {
        var utc = value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : value;
        if (utc.Ticks <= Epoch)
        {
            return 0;
        }

        return utc == DateTime.MaxValue ? long.MaxValue : utc.Ticks - Epoch;
    }

    public static DateTime FromWire(long value)
    {
        if (value <= 0)
        {
            return DateTime.MinValue;
        }

        return value >= DateTime.MaxValue.Ticks - Epoch ? DateTime.MaxValue : new DateTime(value + Epoch, DateTimeKind.Utc);
    }
}
