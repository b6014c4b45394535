using Google.Protobuf;

namespace Usine.Connectors.Sparkplug;

/// <summary>Bytes that are not a Sparkplug B payload: not protobuf, or a field of the wrong wire type.</summary>
public sealed class SparkplugPayloadException : FormatException
{
    public SparkplugPayloadException() { }

    public SparkplugPayloadException(string message) : base(message) { }

    public SparkplugPayloadException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// Reads and writes Sparkplug B payloads, field by field, from the message definitions of the Sparkplug 3.0
/// specification (<c>Payload</c> and <c>Payload.Metric</c>). Metadata and property sets are skipped; DataSet,
/// Template and extension values are kept as their encoded bytes. Fields 1000 to 1002 of the payload, in the
/// range the specification leaves to extensions, carry what the host knew when the message arrived
/// (<see cref="SparkplugHostAnnotations"/>), so that a stored message decodes alone.
/// </summary>
public static class SparkplugCodec
{
    // Payload
    private const int PayloadTimestamp = 1;
    private const int PayloadMetrics = 2;
    private const int PayloadSeq = 3;
    private const int PayloadUuid = 4;
    private const int PayloadBody = 5;

    // Metric
    private const int MetricName = 1;
    private const int MetricAlias = 2;
    private const int MetricTimestamp = 3;
    private const int MetricDataType = 4;
    private const int MetricIsHistorical = 5;
    private const int MetricIsTransient = 6;
    private const int MetricIsNull = 7;

    /// <summary>
    /// Reads a payload. Throws <see cref="SparkplugPayloadException"/> when the bytes are not a protobuf
    /// message, or a field has the wrong wire type for the Sparkplug definitions.
    /// </summary>
    public static SparkplugPayload Read(ReadOnlySpan<byte> bytes) => Read(bytes, out _);

    /// <summary>Reads a payload and the host's annotations, if the bytes carry any.</summary>
    public static SparkplugPayload Read(ReadOnlySpan<byte> bytes, out SparkplugHostAnnotations? annotations)
    {
        try
        {
            return ReadPayload(bytes, out annotations);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new SparkplugPayloadException(ex.Message, ex);
        }
    }

    private static SparkplugPayload ReadPayload(ReadOnlySpan<byte> bytes, out SparkplugHostAnnotations? annotations)
    {
        // CodedInputStream reads arrays; payloads are small, and a copy keeps the codec independent of where they live.
        var input = new CodedInputStream(bytes.ToArray());
        var payload = new SparkplugPayload();
        annotations = null;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case PayloadTimestamp:
                    Expect(tag, WireFormat.WireType.Varint, "Payload.timestamp");
                    payload.Timestamp = input.ReadUInt64();
                    break;
                case PayloadMetrics:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "Payload.metrics");
                    payload.Metrics.Add(ReadMetric(input.ReadBytes().Span));
                    break;
                case PayloadSeq:
                    Expect(tag, WireFormat.WireType.Varint, "Payload.seq");
                    payload.Seq = input.ReadUInt64();
                    break;
                case PayloadUuid:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "Payload.uuid");
                    payload.Uuid = input.ReadString();
                    break;
                case PayloadBody:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "Payload.body");
                    payload.Body = input.ReadBytes().ToByteArray();
                    break;
                case SparkplugHostAnnotations.AliasField:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "the host's alias annotation");
                    annotations ??= new SparkplugHostAnnotations();
                    annotations.Aliases.Add(SparkplugHostAnnotations.ReadAlias(input.ReadBytes().Span));
                    break;
                case SparkplugHostAnnotations.NoteField:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "the host's note");
                    annotations ??= new SparkplugHostAnnotations();
                    annotations.Note = input.ReadString();
                    break;
                case SparkplugHostAnnotations.TopicField:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "the host's topic");
                    annotations ??= new SparkplugHostAnnotations();
                    annotations.Topic = input.ReadString();
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }

        return payload;
    }

    private static SparkplugMetric ReadMetric(ReadOnlySpan<byte> bytes)
    {
        var input = new CodedInputStream(bytes.ToArray());
        var metric = new SparkplugMetric();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var field = WireFormat.GetTagFieldNumber(tag);
            switch (field)
            {
                case MetricName:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "Metric.name");
                    metric.Name = input.ReadString();
                    break;
                case MetricAlias:
                    Expect(tag, WireFormat.WireType.Varint, "Metric.alias");
                    metric.Alias = input.ReadUInt64();
                    break;
                case MetricTimestamp:
                    Expect(tag, WireFormat.WireType.Varint, "Metric.timestamp");
                    metric.Timestamp = input.ReadUInt64();
                    break;
                case MetricDataType:
                    Expect(tag, WireFormat.WireType.Varint, "Metric.datatype");
                    metric.DataType = (SparkplugDataType)input.ReadUInt32();
                    break;
                case MetricIsHistorical:
                    Expect(tag, WireFormat.WireType.Varint, "Metric.is_historical");
                    metric.IsHistorical = input.ReadBool();
                    break;
                case MetricIsTransient:
                    Expect(tag, WireFormat.WireType.Varint, "Metric.is_transient");
                    metric.IsTransient = input.ReadBool();
                    break;
                case MetricIsNull:
                    Expect(tag, WireFormat.WireType.Varint, "Metric.is_null");
                    metric.IsNull = input.ReadBool();
                    break;
                case (int)SparkplugValueCase.Int:
                    Expect(tag, WireFormat.WireType.Varint, "Metric.int_value");
                    metric.SetInt(input.ReadUInt32());
                    break;
                case (int)SparkplugValueCase.Long:
                    Expect(tag, WireFormat.WireType.Varint, "Metric.long_value");
                    metric.SetLong(input.ReadUInt64());
                    break;
                case (int)SparkplugValueCase.Float:
                    Expect(tag, WireFormat.WireType.Fixed32, "Metric.float_value");
                    metric.SetFloat(input.ReadFloat());
                    break;
                case (int)SparkplugValueCase.Double:
                    Expect(tag, WireFormat.WireType.Fixed64, "Metric.double_value");
                    metric.SetDouble(input.ReadDouble());
                    break;
                case (int)SparkplugValueCase.Boolean:
                    Expect(tag, WireFormat.WireType.Varint, "Metric.boolean_value");
                    metric.SetBoolean(input.ReadBool());
                    break;
                case (int)SparkplugValueCase.String:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "Metric.string_value");
                    metric.SetString(input.ReadString());
                    break;
                case (int)SparkplugValueCase.Bytes:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "Metric.bytes_value");
                    metric.SetBytes(input.ReadBytes().ToByteArray());
                    break;
                case (int)SparkplugValueCase.DataSet or (int)SparkplugValueCase.Template or (int)SparkplugValueCase.Extension:
                    Expect(tag, WireFormat.WireType.LengthDelimited, "Metric." + ((SparkplugValueCase)field).ToString().ToLowerInvariant() + "_value");
                    metric.SetOpaque((SparkplugValueCase)field, input.ReadBytes().ToByteArray());
                    break;
                default:
                    // Metadata (8), properties (9) and fields of later versions.
                    input.SkipLastField();
                    break;
            }
        }

        return metric;
    }

    private static void Expect(uint tag, WireFormat.WireType wireType, string field)
    {
        if (WireFormat.GetTagWireType(tag) != wireType)
        {
            throw new SparkplugPayloadException($"{field} has wire type {WireFormat.GetTagWireType(tag)}, not {wireType} as the Sparkplug B payload definition says");
        }
    }

    /// <summary>Writes a payload as the specification defines it.</summary>
    public static byte[] Write(SparkplugPayload payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        if (payload.Timestamp is { } timestamp)
        {
            output.WriteTag(PayloadTimestamp, WireFormat.WireType.Varint);
            output.WriteUInt64(timestamp);
        }

        foreach (var metric in payload.Metrics)
        {
            output.WriteTag(PayloadMetrics, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom(WriteMetric(metric)));
        }

        if (payload.Seq is { } seq)
        {
            output.WriteTag(PayloadSeq, WireFormat.WireType.Varint);
            output.WriteUInt64(seq);
        }

        if (payload.Uuid is { } uuid)
        {
            output.WriteTag(PayloadUuid, WireFormat.WireType.LengthDelimited);
            output.WriteString(uuid);
        }

        if (payload.Body is { } body)
        {
            output.WriteTag(PayloadBody, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom(body));
        }

        output.Flush();
        return buffer.ToArray();
    }

    private static byte[] WriteMetric(SparkplugMetric metric)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        if (metric.Name is { } name)
        {
            output.WriteTag(MetricName, WireFormat.WireType.LengthDelimited);
            output.WriteString(name);
        }

        WriteVarint(output, MetricAlias, metric.Alias);
        WriteVarint(output, MetricTimestamp, metric.Timestamp);
        WriteVarint(output, MetricDataType, (ulong?)metric.DataType);
        WriteFlag(output, MetricIsHistorical, metric.IsHistorical);
        WriteFlag(output, MetricIsTransient, metric.IsTransient);
        WriteFlag(output, MetricIsNull, metric.IsNull);
        var field = (int)metric.ValueCase;
        switch (metric.ValueCase)
        {
            case SparkplugValueCase.Int:
                output.WriteTag(field, WireFormat.WireType.Varint);
                output.WriteUInt32((uint)metric.IntegerBits);
                break;
            case SparkplugValueCase.Long:
            case SparkplugValueCase.Boolean:
                output.WriteTag(field, WireFormat.WireType.Varint);
                output.WriteUInt64(metric.IntegerBits);
                break;
            case SparkplugValueCase.Float:
                output.WriteTag(field, WireFormat.WireType.Fixed32);
                output.WriteFloat(metric.FloatValue);
                break;
            case SparkplugValueCase.Double:
                output.WriteTag(field, WireFormat.WireType.Fixed64);
                output.WriteDouble(metric.DoubleValue);
                break;
            case SparkplugValueCase.String:
                output.WriteTag(field, WireFormat.WireType.LengthDelimited);
                output.WriteString(metric.StringValue);
                break;
            case SparkplugValueCase.Bytes:
                output.WriteTag(field, WireFormat.WireType.LengthDelimited);
                output.WriteBytes(ByteString.CopyFrom(metric.BytesValue));
                break;
            case SparkplugValueCase.DataSet or SparkplugValueCase.Template or SparkplugValueCase.Extension:
                output.WriteTag(field, WireFormat.WireType.LengthDelimited);
                output.WriteBytes(ByteString.CopyFrom(metric.OpaqueValue));
                break;
        }

        output.Flush();
        return buffer.ToArray();
    }

    private static void WriteVarint(CodedOutputStream output, int field, ulong? value)
    {
        if (value is { } v)
        {
            output.WriteTag(field, WireFormat.WireType.Varint);
            output.WriteUInt64(v);
        }
    }

    private static void WriteFlag(CodedOutputStream output, int field, bool value)
    {
        if (value)
        {
            output.WriteTag(field, WireFormat.WireType.Varint);
            output.WriteBool(true);
        }
    }
}
