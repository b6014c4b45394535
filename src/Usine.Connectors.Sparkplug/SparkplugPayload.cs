namespace Usine.Connectors.Sparkplug;

/// <summary>The datatypes of the Sparkplug B 3.0 specification (the <c>DataType</c> enumeration of its payload definition).</summary>
public enum SparkplugDataType : uint
{
    Unknown = 0,
    Int8 = 1,
    Int16 = 2,
    Int32 = 3,
    Int64 = 4,
    UInt8 = 5,
    UInt16 = 6,
    UInt32 = 7,
    UInt64 = 8,
    Float = 9,
    Double = 10,
    Boolean = 11,
    String = 12,
    DateTime = 13,
    Text = 14,
    UUID = 15,
    DataSet = 16,
    Bytes = 17,
    File = 18,
    Template = 19,
    PropertySet = 20,
    PropertySetList = 21,
    Int8Array = 22,
    Int16Array = 23,
    Int32Array = 24,
    Int64Array = 25,
    UInt8Array = 26,
    UInt16Array = 27,
    UInt32Array = 28,
    UInt64Array = 29,
    FloatArray = 30,
    DoubleArray = 31,
    BooleanArray = 32,
    StringArray = 33,
    DateTimeArray = 34,
}

/// <summary>Which member of a metric's <c>value</c> oneof is set: the field it came in.</summary>
public enum SparkplugValueCase
{
    None = 0,
    Int = 10,
    Long = 11,
    Float = 12,
    Double = 13,
    Boolean = 14,
    String = 15,
    Bytes = 16,
    DataSet = 17,
    Template = 18,
    Extension = 19,
}

/// <summary>
/// One metric of a Sparkplug B payload as it travels: a name on births (and on data when the edge node does not
/// use aliases), an alias, an optional datatype, flags, and one value. Integers keep their wire bits: the
/// specification puts Int8 to UInt32 in the 32-bit <c>int_value</c> and Int64, UInt64 and DateTime in the 64-bit
/// <c>long_value</c>, signed values as two's complement.
/// </summary>
public sealed class SparkplugMetric
{
    public string? Name { get; set; }

    public ulong? Alias { get; set; }

    /// <summary>Milliseconds since the Unix epoch, UTC.</summary>
    public ulong? Timestamp { get; set; }

    /// <summary>The datatype, when the metric says it (births must; data may leave it to the birth).</summary>
    public SparkplugDataType? DataType { get; set; }

    public bool IsHistorical { get; set; }

    public bool IsTransient { get; set; }

    public bool IsNull { get; set; }

    public SparkplugValueCase ValueCase { get; private set; }

    /// <summary>The bits of <c>int_value</c>, <c>long_value</c> or <c>boolean_value</c> (1 or 0).</summary>
    public ulong IntegerBits { get; private set; }

    public float FloatValue { get; private set; }

    public double DoubleValue { get; private set; }

    public string? StringValue { get; private set; }

    public byte[]? BytesValue { get; private set; }

    /// <summary>The undecoded bytes of a DataSet, Template or extension value, kept so the metric can be written again.</summary>
    public byte[]? OpaqueValue { get; private set; }

    public SparkplugMetric SetInt(uint value) => Set(SparkplugValueCase.Int, value);

    public SparkplugMetric SetLong(ulong value) => Set(SparkplugValueCase.Long, value);

    public SparkplugMetric SetBoolean(bool value) => Set(SparkplugValueCase.Boolean, value ? 1UL : 0UL);

    public SparkplugMetric SetFloat(float value)
    {
        Set(SparkplugValueCase.Float, 0);
        FloatValue = value;
        return this;
    }

    public SparkplugMetric SetDouble(double value)
    {
        Set(SparkplugValueCase.Double, 0);
        DoubleValue = value;
        return this;
    }

    public SparkplugMetric SetString(string value)
    {
        Set(SparkplugValueCase.String, 0);
        StringValue = value;
        return this;
    }

    public SparkplugMetric SetBytes(byte[] value)
    {
        Set(SparkplugValueCase.Bytes, 0);
        BytesValue = value;
        return this;
    }

    /// <summary>A DataSet, Template or extension value, as its encoded bytes.</summary>
    public SparkplugMetric SetOpaque(SparkplugValueCase valueCase, byte[] encoded)
    {
        if (valueCase is not (SparkplugValueCase.DataSet or SparkplugValueCase.Template or SparkplugValueCase.Extension))
        {
            throw new ArgumentOutOfRangeException(nameof(valueCase), valueCase, "only DataSet, Template and extension values are kept opaque");
        }

        Set(valueCase, 0);
        OpaqueValue = encoded;
        return this;
    }

    private SparkplugMetric Set(SparkplugValueCase valueCase, ulong bits)
    {
        ValueCase = valueCase;
        IntegerBits = bits;
        FloatValue = 0;
        DoubleValue = 0;
        StringValue = null;
        BytesValue = null;
        OpaqueValue = null;
        return this;
    }
}

/// <summary>A Sparkplug B payload: its timestamp, sequence number, metrics, and the optional uuid and body.</summary>
public sealed class SparkplugPayload
{
    /// <summary>Milliseconds since the Unix epoch, UTC.</summary>
    public ulong? Timestamp { get; set; }

    public ulong? Seq { get; set; }

    public string? Uuid { get; set; }

    public byte[]? Body { get; set; }

    public List<SparkplugMetric> Metrics { get; } = [];
}
