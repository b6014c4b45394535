using System.Globalization;

namespace Usine.Pipeline;

public enum ValueKind : byte
{
    Null,
    String,
    Int,
    Double,
    Bool,
    Timestamp,
}

/// <summary>A typed value of a record field, without boxing.</summary>
public readonly struct FieldValue : IEquatable<FieldValue>
{
    // Doubles are kept as their bits in the same slot as integers: 24 bytes a value instead of 32, and a
    // record holds one value per field.
    private readonly long _long;

    private FieldValue(ValueKind kind, long l, double d, string? s)
    {
        Kind = kind;
        _long = kind == ValueKind.Double ? BitConverter.DoubleToInt64Bits(d) : l;
        String = s;
    }

    public static FieldValue Null => default;

    public ValueKind Kind { get; }

    public bool IsNull => Kind == ValueKind.Null;

    public string? String { get; }

    public long Int => _long;

    public double Double => Kind == ValueKind.Double ? BitConverter.Int64BitsToDouble(_long) : 0;

    public bool Bool => _long != 0;

    /// <summary>The timestamp, always UTC.</summary>
    public DateTime Timestamp => new(_long, DateTimeKind.Utc);

    public static FieldValue FromString(string s) => new(ValueKind.String, 0, 0, s);

    public static FieldValue FromInt(long v) => new(ValueKind.Int, v, 0, null);

    public static FieldValue FromDouble(double v) => new(ValueKind.Double, 0, v, null);

    public static FieldValue FromBool(bool v) => new(ValueKind.Bool, v ? 1 : 0, 0, null);

    public static FieldValue FromTimestamp(DateTime utc) => new(ValueKind.Timestamp, utc.Ticks, 0, null);

    /// <summary>The value as a number, for range checks and measures; NaN when it is not numeric.</summary>
    public double AsNumber() => Kind switch
    {
        ValueKind.Int => _long,
        ValueKind.Double => Double,
        _ => double.NaN,
    };

    public object? ToObject() => Kind switch
    {
        ValueKind.Null => null,
        ValueKind.String => String,
        ValueKind.Int => _long,
        ValueKind.Double => Double,
        ValueKind.Bool => Bool,
        ValueKind.Timestamp => Timestamp,
        _ => null,
    };

    public override string ToString() => Kind switch
    {
        ValueKind.Null => "",
        ValueKind.String => String!,
        ValueKind.Int => _long.ToString(CultureInfo.InvariantCulture),
        ValueKind.Double => Double.ToString("R", CultureInfo.InvariantCulture),
        ValueKind.Bool => Bool ? "true" : "false",
        ValueKind.Timestamp => Timestamp.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture),
        _ => "",
    };

    public bool Equals(FieldValue other) =>
        Kind == other.Kind && _long == other._long && string.Equals(String, other.String, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is FieldValue v && Equals(v);

    public override int GetHashCode() => HashCode.Combine(Kind, _long, String);

    public static bool operator ==(FieldValue left, FieldValue right) => left.Equals(right);

    public static bool operator !=(FieldValue left, FieldValue right) => !left.Equals(right);
}
