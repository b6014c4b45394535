using System.Globalization;

namespace Usine.Connectors.OpcUa.Encoding;

/// <summary>
/// A value of any built-in type, scalar or array (OPC 10000-6 §5.2.2.16). Numbers, booleans, date-times and status
/// codes are kept inline, so a data change of a scalar number allocates nothing for its value; strings, structures
/// and arrays are kept by reference. Arrays are typed CLR arrays (<c>double[]</c>, <c>string[]</c>, <c>Variant[]</c>
/// for arrays of Variant), with their dimensions when the array has more than one.
/// </summary>
public readonly struct Variant : IEquatable<Variant>
{
    private readonly ulong _bits;
    private readonly object? _reference;

    private Variant(BuiltInType type, ulong bits, object? reference, bool isArray, int[]? dimensions)
    {
        Type = type;
        _bits = bits;
        _reference = reference;
        IsArray = isArray;
        Dimensions = dimensions;
    }

    public static Variant Null => default;

    public BuiltInType Type { get; }

    public bool IsArray { get; }

    /// <summary>The dimensions of a multi-dimensional array (its elements are then flattened, last index fastest); null otherwise.</summary>
    public int[]? Dimensions { get; }

    public bool IsNull => Type == BuiltInType.Null;

    /// <summary>The bits of a scalar kept inline (numbers as their two's complement or IEEE bits, DateTime as its ticks).</summary>
    internal ulong Bits => _bits;

    /// <summary>The object of a scalar kept by reference, or the array.</summary>
    internal object? Reference => _reference;

    public static Variant From(bool value) => new(BuiltInType.Boolean, value ? 1UL : 0UL, null, false, null);
    public static Variant From(sbyte value) => new(BuiltInType.SByte, (ulong)value, null, false, null);
    public static Variant From(byte value) => new(BuiltInType.Byte, value, null, false, null);
    public static Variant From(short value) => new(BuiltInType.Int16, (ulong)value, null, false, null);
    public static Variant From(ushort value) => new(BuiltInType.UInt16, value, null, false, null);
    public static Variant From(int value) => new(BuiltInType.Int32, (ulong)value, null, false, null);
    public static Variant From(uint value) => new(BuiltInType.UInt32, value, null, false, null);
    public static Variant From(long value) => new(BuiltInType.Int64, (ulong)value, null, false, null);
    public static Variant From(ulong value) => new(BuiltInType.UInt64, value, null, false, null);
    public static Variant From(float value) => new(BuiltInType.Float, BitConverter.SingleToUInt32Bits(value), null, false, null);
    public static Variant From(double value) => new(BuiltInType.Double, BitConverter.DoubleToUInt64Bits(value), null, false, null);
    public static Variant From(DateTime value) => new(BuiltInType.DateTime, (ulong)value.Ticks, null, false, null);
    public static Variant From(StatusCode value) => new(BuiltInType.StatusCode, value.Code, null, false, null);
    public static Variant From(string? value) => value is null ? Null : new(BuiltInType.String, 0, value, false, null);

    /// <summary>A scalar of a type kept by reference: String, Guid, ByteString, XmlElement, NodeId, ExpandedNodeId, QualifiedName, LocalizedText, ExtensionObject, DataValue, DiagnosticInfo.</summary>
    public static Variant FromObject(BuiltInType type, object value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(type, 0, value, false, null);
    }

    /// <summary>An array of <paramref name="type"/>: a CLR array of the scalar type (<c>Variant[]</c> for Variant), with its dimensions when it has more than one.</summary>
    public static Variant FromArray(BuiltInType type, Array elements, int[]? dimensions = null)
    {
        ArgumentNullException.ThrowIfNull(elements);
        return new(type, 0, elements, true, dimensions);
    }

    public bool AsBoolean() => _bits != 0;
    public long AsInt64() => Type switch
    {
        BuiltInType.SByte or BuiltInType.Int16 or BuiltInType.Int32 or BuiltInType.Int64 => (long)_bits,
        BuiltInType.Byte or BuiltInType.UInt16 or BuiltInType.UInt32 or BuiltInType.StatusCode or BuiltInType.Boolean => (long)_bits,
        BuiltInType.UInt64 => checked((long)_bits),
        BuiltInType.Float => (long)BitConverter.UInt32BitsToSingle((uint)_bits),
        BuiltInType.Double => (long)BitConverter.UInt64BitsToDouble(_bits),
        _ => throw new InvalidCastException($"a {Type} variant is not a number"),
    };

    public ulong AsUInt64() => Type == BuiltInType.UInt64 ? _bits : checked((ulong)AsInt64());

    public double AsDouble() => Type switch
    {
        BuiltInType.Float => BitConverter.UInt32BitsToSingle((uint)_bits),
        BuiltInType.Double => BitConverter.UInt64BitsToDouble(_bits),
        BuiltInType.UInt64 => _bits,
        _ => AsInt64(),
    };

    public DateTime AsDateTime() => Type == BuiltInType.DateTime ? new DateTime((long)_bits, DateTimeKind.Utc) : throw new InvalidCastException($"a {Type} variant is not a DateTime");

    public StatusCode AsStatusCode() => new((uint)_bits);

    /// <summary>The value as a CLR object: the boxed number, the string, the array... (null for Null).</summary>
    public object? Value => IsArray ? _reference : Type switch
    {
        BuiltInType.Null => null,
        BuiltInType.Boolean => _bits != 0,
        BuiltInType.SByte => (sbyte)_bits,
        BuiltInType.Byte => (byte)_bits,
        BuiltInType.Int16 => (short)_bits,
        BuiltInType.UInt16 => (ushort)_bits,
        BuiltInType.Int32 => (int)_bits,
        BuiltInType.UInt32 => (uint)_bits,
        BuiltInType.Int64 => (long)_bits,
        BuiltInType.UInt64 => _bits,
        BuiltInType.Float => BitConverter.UInt32BitsToSingle((uint)_bits),
        BuiltInType.Double => BitConverter.UInt64BitsToDouble(_bits),
        BuiltInType.DateTime => new DateTime((long)_bits, DateTimeKind.Utc),
        BuiltInType.StatusCode => new StatusCode((uint)_bits),
        _ => _reference,
    };

    public bool Equals(Variant other)
    {
        if (Type != other.Type || IsArray != other.IsArray || _bits != other._bits)
        {
            return false;
        }

        if (IsArray)
        {
            var a = (Array)_reference!;
            var b = (Array)other._reference!;
            if (a.Length != b.Length || !(Dimensions ?? []).AsSpan().SequenceEqual(other.Dimensions ?? []))
            {
                return false;
            }

            for (var i = 0; i < a.Length; i++)
            {
                if (!ElementEquals(a.GetValue(i), b.GetValue(i)))
                {
                    return false;
                }
            }

            return true;
        }

        return ElementEquals(_reference, other._reference);
    }

    private static bool ElementEquals(object? a, object? b) => (a, b) switch
    {
        (byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y),
        (ExtensionObject x, ExtensionObject y) => x.TypeId == y.TypeId && x.Encoding == y.Encoding && x.Body.Span.SequenceEqual(y.Body.Span),
        _ => Equals(a, b),
    };

    public override bool Equals(object? obj) => obj is Variant v && Equals(v);

    public override int GetHashCode() => HashCode.Combine(Type, IsArray, _bits);

    public static bool operator ==(Variant a, Variant b) => a.Equals(b);

    public static bool operator !=(Variant a, Variant b) => !a.Equals(b);

    public override string ToString() => IsArray ? $"{Type}[{((Array)_reference!).Length}]" : Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "null";
}
