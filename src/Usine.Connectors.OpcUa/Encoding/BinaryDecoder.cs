using System.Buffers.Binary;

namespace Usine.Connectors.OpcUa.Encoding;

/// <summary>A message that does not decode: truncated, a length beyond the limits, an unknown encoding byte.</summary>
public sealed class DecodingException(string message) : Exception(message)
{
    public DecodingException() : this("the message does not decode") { }

    public DecodingException(string message, Exception inner) : this(message + ": " + inner.Message) { }
}

/// <summary>
/// Reads the OPC UA Binary encoding (OPC 10000-6 §5.2) from a span. Every length is checked against what is left
/// and against <see cref="MaxArrayLength"/> and <see cref="MaxStringLength"/>, and nesting against
/// <see cref="MaxDepth"/>, so a malformed or hostile message fails with a <see cref="DecodingException"/> saying
/// what was wrong instead of allocating without bound or overflowing the stack.
/// </summary>
public ref struct BinaryDecoder
{
    public const int MaxDepth = 32;

    private readonly ReadOnlySpan<byte> _data;
    private int _position;
    private int _depth;

    public BinaryDecoder(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
        _depth = 0;
        MaxArrayLength = 1_000_000;
        MaxStringLength = 16 * 1024 * 1024;
    }

    public int MaxArrayLength { get; set; }

    public int MaxStringLength { get; set; }

    public readonly int Position => _position;

    public readonly int Remaining => _data.Length - _position;

    public readonly ReadOnlySpan<byte> Rest => _data[_position..];

    public void Skip(int count) => Take(count);

    public ReadOnlySpan<byte> ReadBytes(int count) => Take(count);

    public bool ReadBoolean() => Take(1)[0] != 0;

    public sbyte ReadSByte() => (sbyte)Take(1)[0];

    public byte ReadByte() => Take(1)[0];

    public short ReadInt16() => BinaryPrimitives.ReadInt16LittleEndian(Take(2));

    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public float ReadFloat() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

    public double ReadDouble() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

    public string? ReadString()
    {
        var length = ReadInt32();
        if (length < 0)
        {
            return null;
        }

        if (length > MaxStringLength)
        {
            throw new DecodingException($"a string of {length} bytes exceeds the limit of {MaxStringLength}");
        }

        var bytes = Take(length);
        try
        {
            return Utf8.Strict.GetString(bytes);
        }
        catch (ArgumentException ex)
        {
            throw new DecodingException("a string is not valid UTF-8", ex);
        }
    }

    public DateTime ReadDateTime() => DateTimeCodec.FromWire(ReadInt64());

    public Guid ReadGuid() => new(Take(16), bigEndian: false);

    public byte[]? ReadByteString()
    {
        var length = ReadInt32();
        if (length < 0)
        {
            return null;
        }

        if (length > MaxStringLength)
        {
            throw new DecodingException($"a byte string of {length} bytes exceeds the limit of {MaxStringLength}");
        }

        return Take(length).ToArray();
    }

    public NodeId ReadNodeId() => ReadNodeId(ReadByte());

    private NodeId ReadNodeId(byte encoding) => (encoding & 0x3F) switch
    {
        0x00 => new NodeId(0, ReadByte()),
        0x01 => new NodeId(ReadByte(), ReadUInt16()),
        0x02 => new NodeId(ReadUInt16(), ReadUInt32()),
        0x03 => new NodeId(ReadUInt16(), ReadString() ?? ""),
        0x04 => new NodeId(ReadUInt16(), ReadGuid()),
        0x05 => new NodeId(ReadUInt16(), ReadByteString() ?? []),
        _ => throw new DecodingException($"unknown NodeId encoding 0x{encoding:X2}"),
    };

    public ExpandedNodeId ReadExpandedNodeId()
    {
        var encoding = ReadByte();
        var id = ReadNodeId(encoding);
        var uri = (encoding & 0x80) != 0 ? ReadString() : null;
        var server = (encoding & 0x40) != 0 ? ReadUInt32() : 0;
        return new ExpandedNodeId(id, uri, server);
    }

    public StatusCode ReadStatusCode() => new(ReadUInt32());

    public QualifiedName ReadQualifiedName() => new(ReadUInt16(), ReadString());

    public LocalizedText ReadLocalizedText()
    {
        var mask = ReadByte();
        var locale = (mask & 0x01) != 0 ? ReadString() : null;
        var text = (mask & 0x02) != 0 ? ReadString() : null;
        return new LocalizedText(locale, text);
    }

    public ExtensionObject ReadExtensionObject()
    {
        var typeId = ReadNodeId();
        var encoding = ReadByte();
        if (encoding == 0)
        {
            return typeId.IsNull ? ExtensionObject.Null : new ExtensionObject(typeId, ExtensionObjectEncoding.None, ReadOnlyMemory<byte>.Empty);
        }

        if (encoding > 2)
        {
            throw new DecodingException($"unknown ExtensionObject encoding {encoding}");
        }

        return new ExtensionObject(typeId, (ExtensionObjectEncoding)encoding, ReadByteString() ?? []);
    }

    /// <summary>
    /// The header of an ExtensionObject whose body the caller decodes in place: its type id, and the length of its
    /// binary body (-1 when it has none).
    /// </summary>
    public (NodeId TypeId, int Length) ReadExtensionObjectHeader()
    {
        var typeId = ReadNodeId();
        var encoding = ReadByte();
        if (encoding == 0)
        {
            return (typeId, -1);
        }

        var length = ReadInt32();
        if (length < 0 || length > Remaining)
        {
            throw new DecodingException($"an ExtensionObject body of {length} bytes runs past the end of the message");
        }

        if (encoding != 1)
        {
            Skip(length);
            return (typeId, -1);
        }

        return (typeId, length);
    }

    public DiagnosticInfo? ReadDiagnosticInfo()
    {
        var mask = ReadByte();
        if (mask == 0)
        {
            return null;
        }

        Enter();
        var info = new DiagnosticInfo
        {
            SymbolicId = (mask & 0x01) != 0 ? ReadInt32() : null,
            NamespaceUri = (mask & 0x02) != 0 ? ReadInt32() : null,
            Locale = (mask & 0x08) != 0 ? ReadInt32() : null,
            LocalizedText = (mask & 0x04) != 0 ? ReadInt32() : null,
            AdditionalInfo = (mask & 0x10) != 0 ? ReadString() : null,
            InnerStatusCode = (mask & 0x20) != 0 ? ReadStatusCode() : null,
            InnerDiagnosticInfo = (mask & 0x40) != 0 ? ReadDiagnosticInfo() : null,
        };
        _depth--;
        return info;
    }

    public DataValue ReadDataValue()
    {
        var mask = ReadByte();
        Enter();
        var hasValue = (mask & 0x01) != 0;
        var value = hasValue ? ReadVariant() : Variant.Null;
        var status = (mask & 0x02) != 0 ? ReadStatusCode() : StatusCode.Good;
        DateTime? source = (mask & 0x04) != 0 ? ReadDateTime() : null;
        var sourcePico = (mask & 0x10) != 0 ? ReadUInt16() : (ushort)0;
        DateTime? server = (mask & 0x08) != 0 ? ReadDateTime() : null;
        var serverPico = (mask & 0x20) != 0 ? ReadUInt16() : (ushort)0;
        _depth--;
        return new DataValue
        {
            HasValue = hasValue,
            Value = value,
            Status = status,
            SourceTimestamp = source,
            SourcePicoseconds = sourcePico,
            ServerTimestamp = server,
            ServerPicoseconds = serverPico,
        };
    }

    public Variant ReadVariant()
    {
        var encoding = ReadByte();
        var typeId = encoding & 0x3F;
        if (typeId > (int)BuiltInType.DiagnosticInfo)
        {
            throw new DecodingException($"unknown Variant type {typeId}");
        }

        var type = (BuiltInType)typeId;
        if (type == BuiltInType.Null)
        {
            return Variant.Null;
        }

        Enter();
        Variant result;
        if ((encoding & 0x80) == 0)
        {
            if (type == BuiltInType.Variant)
            {
                throw new DecodingException("a scalar Variant cannot hold a Variant");
            }

            result = ReadScalar(type);
        }
        else
        {
            var length = ReadLength();
            var array = ReadArray(type, length);
            int[]? dimensions = null;
            if ((encoding & 0x40) != 0)
            {
                var count = ReadLength();
                dimensions = new int[count];
                long product = 1;
                for (var i = 0; i < count; i++)
                {
                    dimensions[i] = ReadInt32();
                    product *= Math.Max(0, dimensions[i]);
                }

                if (product != array.Length)
                {
                    throw new DecodingException($"array dimensions [{string.Join(",", dimensions)}] do not match its {array.Length} elements");
                }
            }

            result = Variant.FromArray(type, array, dimensions);
        }

        _depth--;
        return result;
    }

    private Variant ReadScalar(BuiltInType type) => type switch
    {
        BuiltInType.Boolean => Variant.From(ReadBoolean()),
        BuiltInType.SByte => Variant.From(ReadSByte()),
        BuiltInType.Byte => Variant.From(ReadByte()),
        BuiltInType.Int16 => Variant.From(ReadInt16()),
        BuiltInType.UInt16 => Variant.From(ReadUInt16()),
        BuiltInType.Int32 => Variant.From(ReadInt32()),
        BuiltInType.UInt32 => Variant.From(ReadUInt32()),
        BuiltInType.Int64 => Variant.From(ReadInt64()),
        BuiltInType.UInt64 => Variant.From(ReadUInt64()),
        BuiltInType.Float => Variant.From(ReadFloat()),
        BuiltInType.Double => Variant.From(ReadDouble()),
        BuiltInType.DateTime => Variant.From(ReadDateTime()),
        BuiltInType.StatusCode => Variant.From(ReadStatusCode()),
        BuiltInType.String => ReadString() is { } s ? Variant.From(s) : Variant.Null,
        BuiltInType.XmlElement => ReadString() is { } x ? Variant.FromObject(BuiltInType.XmlElement, x) : Variant.Null,
        BuiltInType.Guid => Variant.FromObject(type, ReadGuid()),
        BuiltInType.ByteString => ReadByteString() is { } b ? Variant.FromObject(type, b) : Variant.Null,
        BuiltInType.NodeId => Variant.FromObject(type, ReadNodeId()),
        BuiltInType.ExpandedNodeId => Variant.FromObject(type, ReadExpandedNodeId()),
        BuiltInType.QualifiedName => Variant.FromObject(type, ReadQualifiedName()),
        BuiltInType.LocalizedText => Variant.FromObject(type, ReadLocalizedText()),
        BuiltInType.ExtensionObject => Variant.FromObject(type, ReadExtensionObject()),
        BuiltInType.DataValue => Variant.FromObject(type, ReadDataValue()),
        BuiltInType.DiagnosticInfo => ReadDiagnosticInfo() is { } d ? Variant.FromObject(type, d) : Variant.Null,
        _ => throw new DecodingException($"a variant of type {type} cannot be decoded"),
    };

    private Array ReadArray(BuiltInType type, int length)
    {
        switch (type)
        {
            case BuiltInType.Boolean: return Fill(new bool[length], ref this, static (ref d) => d.ReadBoolean());
            case BuiltInType.SByte: return Fill(new sbyte[length], ref this, static (ref d) => d.ReadSByte());
            case BuiltInType.Byte: return Take(length).ToArray();
            case BuiltInType.Int16: return Fill(new short[length], ref this, static (ref d) => d.ReadInt16());
            case BuiltInType.UInt16: return Fill(new ushort[length], ref this, static (ref d) => d.ReadUInt16());
            case BuiltInType.Int32: return Fill(new int[length], ref this, static (ref d) => d.ReadInt32());
            case BuiltInType.UInt32: return Fill(new uint[length], ref this, static (ref d) => d.ReadUInt32());
            case BuiltInType.Int64: return Fill(new long[length], ref this, static (ref d) => d.ReadInt64());
            case BuiltInType.UInt64: return Fill(new ulong[length], ref this, static (ref d) => d.ReadUInt64());
            case BuiltInType.Float: return Fill(new float[length], ref this, static (ref d) => d.ReadFloat());
            case BuiltInType.Double: return Fill(new double[length], ref this, static (ref d) => d.ReadDouble());
            case BuiltInType.String:
            case BuiltInType.XmlElement: return Fill(new string?[length], ref this, static (ref d) => d.ReadString());
            case BuiltInType.DateTime: return Fill(new DateTime[length], ref this, static (ref d) => d.ReadDateTime());
            case BuiltInType.Guid: return Fill(new Guid[length], ref this, static (ref d) => d.ReadGuid());
            case BuiltInType.ByteString: return Fill(new byte[]?[length], ref this, static (ref d) => d.ReadByteString());
            case BuiltInType.NodeId: return Fill(new NodeId[length], ref this, static (ref d) => d.ReadNodeId());
            case BuiltInType.ExpandedNodeId: return Fill(new ExpandedNodeId[length], ref this, static (ref d) => d.ReadExpandedNodeId());
            case BuiltInType.StatusCode: return Fill(new StatusCode[length], ref this, static (ref d) => d.ReadStatusCode());
            case BuiltInType.QualifiedName: return Fill(new QualifiedName[length], ref this, static (ref d) => d.ReadQualifiedName());
            case BuiltInType.LocalizedText: return Fill(new LocalizedText[length], ref this, static (ref d) => d.ReadLocalizedText());
            case BuiltInType.ExtensionObject: return Fill(new ExtensionObject[length], ref this, static (ref d) => d.ReadExtensionObject());
            case BuiltInType.DataValue: return Fill(new DataValue[length], ref this, static (ref d) => d.ReadDataValue());
            case BuiltInType.Variant: return Fill(new Variant[length], ref this, static (ref d) => d.ReadVariant());
            case BuiltInType.DiagnosticInfo: return Fill(new DiagnosticInfo?[length], ref this, static (ref d) => d.ReadDiagnosticInfo());
            default: throw new DecodingException($"an array of {type} cannot be decoded");
        }
    }

    private delegate T Reader<T>(ref BinaryDecoder decoder);

    private static T[] Fill<T>(T[] array, ref BinaryDecoder decoder, Reader<T> read)
    {
        for (var i = 0; i < array.Length; i++)
        {
            array[i] = read(ref decoder);
        }

        return array;
    }

    /// <summary>An array's length: -1 (null) is read as 0; anything beyond the limit or what is left of the message fails.</summary>
    public int ReadLength()
    {
        var length = ReadInt32();
        if (length < 0)
        {
            return 0;
        }

        // Every element takes at least one byte, so a length beyond what is left cannot be right.
        if (length > MaxArrayLength || length > Remaining)
        {
            throw new DecodingException($"an array of {length} elements exceeds the limit of {MaxArrayLength} or the {Remaining} bytes left");
        }

        return length;
    }

    private void Enter()
    {
        if (++_depth > MaxDepth)
        {
            throw new DecodingException($"values nest deeper than {MaxDepth} levels");
        }
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > _data.Length - _position)
        {
            throw new DecodingException($"the message ends {_data.Length} bytes in, but {count} more bytes were expected at offset {_position}");
        }

        var span = _data.Slice(_position, count);
        _position += count;
        return span;
    }
}
