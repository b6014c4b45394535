namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>The payload codec, written from the specification's message definitions, and the sparkplug format over it.</summary>
public sealed class SparkplugCodecTests
{
    private const string Data = "spBv1.0/BodyShop/NDATA/E1";
    private const string Birth = "spBv1.0/BodyShop/NBIRTH/E1";

    private static SparkplugMetric Metric(string name, SparkplugDataType type) => new() { Name = name, DataType = type, Timestamp = 1_764_662_400_000 };

    private static byte[] Payload(params SparkplugMetric[] metrics)
    {
        var payload = new SparkplugPayload { Timestamp = 1_764_662_400_000, Seq = 7 };
        payload.Metrics.AddRange(metrics);
        return SparkplugCodec.Write(payload);
    }

    [Fact]
    public void Every_basic_datatype_survives_a_write_and_a_read_and_decodes_to_its_value()
    {
        var bytes = Payload(
            Metric("i8", SparkplugDataType.Int8).SetInt(unchecked((uint)(sbyte)-5)),
            Metric("i16", SparkplugDataType.Int16).SetInt(unchecked((uint)(short)-300)),
            Metric("i32", SparkplugDataType.Int32).SetInt(unchecked((uint)-70_000)),
            Metric("i64", SparkplugDataType.Int64).SetLong(unchecked((ulong)-5_000_000_000L)),
            Metric("u8", SparkplugDataType.UInt8).SetInt(250),
            Metric("u16", SparkplugDataType.UInt16).SetInt(65_000),
            Metric("u32", SparkplugDataType.UInt32).SetInt(4_000_000_000),
            Metric("u64", SparkplugDataType.UInt64).SetLong(9_000_000_000_000),
            Metric("f", SparkplugDataType.Float).SetFloat(0.1f),
            Metric("d", SparkplugDataType.Double).SetDouble(-2.5),
            Metric("b", SparkplugDataType.Boolean).SetBoolean(true),
            Metric("s", SparkplugDataType.String).SetString("OK"),
            Metric("dt", SparkplugDataType.DateTime).SetLong(1_764_662_401_500),
            Metric("t", SparkplugDataType.Text).SetString("long text"),
            Metric("u", SparkplugDataType.UUID).SetString("3f2a8e4c-0d5b-4c1e-9a7f-2b6d8c0e1f3a"),
            Metric("bytes", SparkplugDataType.Bytes).SetBytes([1, 2, 255]));

        var read = SparkplugCodec.Read(bytes);
        Assert.Equal(SparkplugCodec.Write(read), bytes);
        Assert.Equal((7UL, 16), (read.Seq, read.Metrics.Count));

        var decoded = RecordingMessages.Decode(Birth, bytes);
        Assert.Empty(decoded.Invalid);
        Assert.Equal(
            ["i8=-5", "i16=-300", "i32=-70000", "i64=-5000000000", "u8=250", "u16=65000", "u32=4000000000", "u64=9000000000000", "f=0.1", "d=-2.5",
             "b=true", "s=OK", "dt=2025-12-02T08:00:01.500Z", "t=long text", "u=3f2a8e4c-0d5b-4c1e-9a7f-2b6d8c0e1f3a", "bytes=AQL/"],
            decoded.Messages.Select(m => $"{m["metric"]}={m["value"]}"));
        var first = decoded.Messages[0];
        Assert.Equal(("BodyShop", "E1", null, "Int8", "2025-12-02T08:00:00.000Z", "false", "7", "NBIRTH"),
            (first["group"], first["edge"], first["device"], first["type"], first["timestamp"], first["historical"], first["seq"], first["message"]));
    }

    [Fact]
    public void Flags_alias_and_null_values_are_read_and_a_historical_metric_keeps_its_own_timestamp()
    {
        var historical = Metric("temp", SparkplugDataType.Double).SetDouble(21.5);
        historical.Alias = 4;
        historical.IsHistorical = true;
        historical.Timestamp = 1_764_576_000_000;
        var missing = Metric("status", SparkplugDataType.String);
        missing.IsNull = true;
        var bytes = Payload(historical, missing);

        var read = SparkplugCodec.Read(bytes);
        Assert.Equal((4UL, true, false), (read.Metrics[0].Alias!.Value, read.Metrics[0].IsHistorical, read.Metrics[0].IsNull));
        Assert.True(read.Metrics[1].IsNull);

        var decoded = RecordingMessages.Decode(Birth, bytes);
        Assert.Equal(["temp 21.5 alias 4 historical true at 2025-12-01T08:00:00.000Z", "status (null) alias (none) historical false at 2025-12-02T08:00:00.000Z"],
            decoded.Messages.Select(m => $"{m["metric"]} {m["value"] ?? "(null)"} alias {m["alias"] ?? "(none)"} historical {m["historical"]} at {m["timestamp"]}"));
    }

    [Fact]
    public void A_data_metric_with_only_an_alias_is_resolved_through_the_annotations_appended_to_its_bytes()
    {
        var data = new SparkplugMetric { Alias = 4 }.SetDouble(22.25);
        var original = Payload(data);
        var annotations = new SparkplugHostAnnotations();
        annotations.Aliases.Add(new SparkplugAlias(4, "Line 1/temp", SparkplugDataType.Double));
        var stored = annotations.AppendTo(original);

        Assert.Equal(original, stored[..original.Length]);
        var decoded = RecordingMessages.Decode(Data, stored);
        var m = Assert.Single(decoded.Messages);
        Assert.Equal(("Line 1/temp", "22.25", "4", "Double", "NDATA"), (m["metric"], m["value"], m["alias"], m["type"], m["message"]));
    }

    [Fact]
    public void An_alias_the_annotations_do_not_define_is_a_dead_letter_that_says_why_and_the_other_metrics_go_on()
    {
        var annotations = new SparkplugHostAnnotations { Note = "no NBIRTH of edge node BodyShop/E1 was seen before it; a rebirth was requested" };
        var stored = annotations.AppendTo(Payload(new SparkplugMetric { Alias = 9 }.SetDouble(1), Metric("named", SparkplugDataType.Int32).SetInt(3)));

        var decoded = RecordingMessages.Decode(Data, stored);
        Assert.Equal(["metric 0 of spBv1.0/BodyShop/NDATA/E1 has alias 9, which no birth of edge node BodyShop/E1 in force defined: no NBIRTH of edge node BodyShop/E1 was seen before it; a rebirth was requested"], decoded.Invalid);
        Assert.Equal("3", Assert.Single(decoded.Messages)["value"]);
    }

    [Fact]
    public void DataSet_and_Template_metrics_are_dead_letters_saying_they_are_not_supported_yet()
    {
        var dataset = Metric("table", SparkplugDataType.DataSet).SetOpaque(SparkplugValueCase.DataSet, [0x08, 0x02]);
        var template = Metric("udt", SparkplugDataType.Template).SetOpaque(SparkplugValueCase.Template, [0x0A, 0x01, 0x31]);
        var bytes = Payload(dataset, template, Metric("ok", SparkplugDataType.Boolean).SetBoolean(false));

        Assert.Equal(bytes, SparkplugCodec.Write(SparkplugCodec.Read(bytes)));
        var decoded = RecordingMessages.Decode(Birth, bytes);
        Assert.Equal(["metric 'table' of spBv1.0/BodyShop/NBIRTH/E1: DataSet metrics are not supported yet", "metric 'udt' of spBv1.0/BodyShop/NBIRTH/E1: Template metrics are not supported yet"], decoded.Invalid);
        Assert.Equal("false", Assert.Single(decoded.Messages)["value"]);
    }

    [Fact]
    public void A_value_in_the_field_its_type_does_not_use_is_a_dead_letter_naming_both()
    {
        var decoded = RecordingMessages.Decode(Birth, Payload(Metric("n", SparkplugDataType.Int32).SetString("12")));

        Assert.Equal(["metric 'n' of spBv1.0/BodyShop/NBIRTH/E1: a Int32 metric carries a string_value, not the int_value its type uses"], decoded.Invalid);
    }

    [Fact]
    public void The_protocols_own_metrics_bdSeq_and_Node_Control_are_not_handed_to_the_pipeline()
    {
        var decoded = RecordingMessages.Decode(Birth, Payload(
            Metric("bdSeq", SparkplugDataType.Int64).SetLong(3),
            Metric("Node Control/Rebirth", SparkplugDataType.Boolean).SetBoolean(false),
            Metric("speed", SparkplugDataType.Float).SetFloat(3)));

        Assert.Equal(["speed"], decoded.Messages.Select(m => m["metric"]));
    }

    [Theory]
    [InlineData(new byte[] { 0x12, 0x05, 0x0A })]              // metrics says 5 bytes follow, 1 does
    [InlineData(new byte[] { 0x0A, 0x01, 0x00 })]              // timestamp sent as bytes: wrong wire type
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF })] // a tag that never ends
    [InlineData(new byte[] { 0x7B, 0x22, 0x61, 0x22, 0x3A, 0x31, 0x7D })] // {"a":1}: JSON, not protobuf
    public void Bytes_that_are_not_a_Sparkplug_payload_throw_a_payload_error_and_decode_to_one_rejection(byte[] bytes)
    {
        Assert.Throws<SparkplugPayloadException>(() => SparkplugCodec.Read(bytes));

        var decoded = RecordingMessages.Decode(Data, bytes);
        Assert.StartsWith("the payload of NDATA from BodyShop/E1 is not a Sparkplug B protobuf payload: ", decoded.Rejected, StringComparison.Ordinal);
        Assert.Empty(decoded.Messages);
    }

    [Fact]
    public void A_topic_outside_the_Sparkplug_namespace_is_rejected_and_deaths_decode_to_nothing()
    {
        Assert.Equal("topic 'plant/x' is not a Sparkplug B edge node or device topic (spBv1.0/GROUP/TYPE/EDGE[/DEVICE])", RecordingMessages.Decode("plant/x", Payload()).Rejected);

        var death = RecordingMessages.Decode("spBv1.0/BodyShop/NDEATH/E1", Payload(Metric("bdSeq", SparkplugDataType.Int64).SetLong(1)));
        Assert.Equal((0, 0, null), (death.Messages.Count, death.Invalid.Count, death.Rejected));
    }

    [Fact]
    public void The_rebirth_command_is_Node_Control_Rebirth_true_as_a_Boolean()
    {
        var payload = SparkplugCodec.Read(SparkplugSourceConnector.RebirthPayload(DateTimeOffset.FromUnixTimeMilliseconds(1_764_662_400_000)));

        var m = Assert.Single(payload.Metrics);
        Assert.Equal(("Node Control/Rebirth", SparkplugDataType.Boolean, SparkplugValueCase.Boolean, 1UL), (m.Name, m.DataType!.Value, m.ValueCase, m.IntegerBits));
    }
}
