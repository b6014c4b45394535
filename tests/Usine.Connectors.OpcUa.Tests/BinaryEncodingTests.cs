using Usine.Connectors.OpcUa.Encoding;

namespace Usine.Connectors.OpcUa.Tests;

/// <summary>The binary encoding of OPC 10000-6 §5.2: byte layouts the specification fixes, and round trips of every built-in type.</summary>
public sealed class BinaryEncodingTests
{
    private static byte[] Encode(Action<BinaryEncoder> write)
    {
        var e = new BinaryEncoder(16);
        write(e);
        return e.ToArray();
    }

    [Fact]
    public void Numeric_node_ids_take_the_most_compact_of_their_encodings()
    {
        Assert.Equal(new byte[] { 0x00, 0x55 }, Encode(e => e.WriteNodeId(new NodeId(0, 85))));
        Assert.Equal(new byte[] { 0x01, 0x05, 0x01, 0x04 }, Encode(e => e.WriteNodeId(new NodeId(5, 1025))));
        Assert.Equal(new byte[] { 0x02, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00 }, Encode(e => e.WriteNodeId(new NodeId(256, 65536))));
    }

    [Fact]
    public void A_string_node_id_is_its_namespace_then_its_utf8_length_and_bytes()
    {
        Assert.Equal(new byte[] { 0x03, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, (byte)'a', 0xC3, 0xA9 }, Encode(e => e.WriteNodeId(new NodeId(1, "aé"))));
    }

    [Fact]
    public void A_null_string_is_minus_one_and_an_empty_one_zero()
    {
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, Encode(e => e.WriteString(null)));
        Assert.Equal(new byte[] { 0, 0, 0, 0 }, Encode(e => e.WriteString("")));
        Assert.Null(new BinaryDecoder(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }).ReadString());
    }

    [Fact]
    public void A_guid_is_written_with_its_first_three_fields_little_endian()
    {
        var guid = Guid.Parse("72962B91-FA75-4AE6-8D28-B404DC7DAF63");
        Assert.Equal(
            new byte[] { 0x91, 0x2B, 0x96, 0x72, 0x75, 0xFA, 0xE6, 0x4A, 0x8D, 0x28, 0xB4, 0x04, 0xDC, 0x7D, 0xAF, 0x63 },
            Encode(e => e.WriteGuid(guid)));
    }

    [Fact]
    public void A_date_time_counts_100_ns_ticks_from_1601_and_clamps_what_is_before()
    {
        var at = new DateTime(1601, 1, 1, 0, 0, 1, DateTimeKind.Utc);
        Assert.Equal(BitConverter.GetBytes(10_000_000L), Encode(e => e.WriteDateTime(at)));
        Assert.Equal(new byte[8], Encode(e => e.WriteDateTime(new DateTime(1500, 1, 1, 0, 0, 0, DateTimeKind.Utc))));
        Assert.Equal(DateTime.MinValue, new BinaryDecoder(new byte[8]).ReadDateTime());
    }

    [Fact]
    public void A_variant_array_sets_bit_7_and_its_dimensions_bit_6()
    {
        var bytes = Encode(e => e.WriteVariant(Variant.FromArray(BuiltInType.Int32, new[] { 1, 2, 3, 4 }, [2, 2])));
        Assert.Equal((byte)(6 | 0x80 | 0x40), bytes[0]);
        Assert.Equal(4, BitConverter.ToInt32(bytes, 1));
        var decoded = new BinaryDecoder(bytes).ReadVariant();
        Assert.Equal(new[] { 2, 2 }, decoded.Dimensions);
        Assert.Equal(new[] { 1, 2, 3, 4 }, (int[])decoded.Value!);
    }

    public static TheoryData<string, Variant> Scalars => new()
    {
        { "Boolean", Variant.From(true) },
        { "SByte", Variant.From((sbyte)-5) },
        { "Byte", Variant.From((byte)200) },
        { "Int16", Variant.From((short)-30000) },
        { "UInt16", Variant.From((ushort)60000) },
        { "Int32", Variant.From(-2_000_000_000) },
        { "UInt32", Variant.From(4_000_000_000u) },
        { "Int64", Variant.From(long.MinValue + 1) },
        { "UInt64", Variant.From(ulong.MaxValue) },
        { "Float", Variant.From(3.25f) },
        { "Double", Variant.From(-1.5e300) },
        { "String", Variant.From("Ofen 2 — 180 °C") },
        { "DateTime", Variant.From(new DateTime(2026, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc)) },
        { "Guid", Variant.FromObject(BuiltInType.Guid, Guid.Parse("72962B91-FA75-4AE6-8D28-B404DC7DAF63")) },
        { "ByteString", Variant.FromObject(BuiltInType.ByteString, new byte[] { 1, 2, 3 }) },
        { "XmlElement", Variant.FromObject(BuiltInType.XmlElement, "<a>1</a>") },
        { "NodeId guid", Variant.FromObject(BuiltInType.NodeId, new NodeId(3, Guid.Parse("72962B91-FA75-4AE6-8D28-B404DC7DAF63"))) },
        { "NodeId opaque", Variant.FromObject(BuiltInType.NodeId, new NodeId(4, new byte[] { 9, 8, 7 })) },
        { "NodeId string", Variant.FromObject(BuiltInType.NodeId, new NodeId(1, "Oven2.Counter")) },
        { "ExpandedNodeId", Variant.FromObject(BuiltInType.ExpandedNodeId, new ExpandedNodeId(new NodeId(0, 2253), "http://example.org/UA/", 2)) },
        { "StatusCode", Variant.From(new StatusCode(0x80340000)) },
        { "QualifiedName", Variant.FromObject(BuiltInType.QualifiedName, new QualifiedName(2, "Temperature")) },
        { "LocalizedText", Variant.FromObject(BuiltInType.LocalizedText, new LocalizedText("fr-FR", "Température")) },
        { "LocalizedText without locale", Variant.FromObject(BuiltInType.LocalizedText, new LocalizedText(null, "T")) },
        { "ExtensionObject", Variant.FromObject(BuiltInType.ExtensionObject, new ExtensionObject(new NodeId(0, 724), ExtensionObjectEncoding.Binary, new byte[] { 1, 0, 0, 0 })) },
        { "DataValue", Variant.FromObject(BuiltInType.DataValue, new DataValue { HasValue = true, Value = Variant.From(1.5), Status = new StatusCode(0x40000000), SourceTimestamp = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), SourcePicoseconds = 7 }) },
        { "DiagnosticInfo", Variant.FromObject(BuiltInType.DiagnosticInfo, new DiagnosticInfo { SymbolicId = 1, NamespaceUri = 2, Locale = 3, LocalizedText = 4, AdditionalInfo = "more", InnerStatusCode = new StatusCode(0x80070000), InnerDiagnosticInfo = new DiagnosticInfo { AdditionalInfo = "inner" } }) },
        { "array of String", Variant.FromArray(BuiltInType.String, new string?[] { "a", null, "c" }) },
        { "array of Variant", Variant.FromArray(BuiltInType.Variant, new[] { Variant.From(1), Variant.From("two"), Variant.Null }) },
        { "array of Double", Variant.FromArray(BuiltInType.Double, new[] { 1.0, double.NaN, double.NegativeInfinity }) },
        { "Null", Variant.Null },
    };

    [Theory]
    [MemberData(nameof(Scalars))]
    public void Every_built_in_type_comes_back_as_it_was_written(string type, Variant value)
    {
        var bytes = Encode(e => e.WriteVariant(value));
        var decoder = new BinaryDecoder(bytes);
        var back = decoder.ReadVariant();
        Assert.True(value.Equals(back), $"{type}: {value} came back as {back}");
        Assert.Equal(0, decoder.Remaining);
    }

    [Fact]
    public void A_data_value_writes_only_the_fields_it_has_in_the_order_of_the_specification()
    {
        var value = new DataValue { HasValue = true, Value = Variant.From(2.0), ServerTimestamp = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) };
        var bytes = Encode(e => e.WriteDataValue(value));
        Assert.Equal(0x01 | 0x08, bytes[0]);
        Assert.Equal(1 + 9 + 8, bytes.Length);
        var back = new BinaryDecoder(bytes).ReadDataValue();
        Assert.Equal(value.ServerTimestamp, back.ServerTimestamp);
        Assert.Null(back.SourceTimestamp);
        Assert.Equal(2.0, back.Value.AsDouble());
    }

    [Fact]
    public void A_truncated_message_fails_saying_where_it_ends()
    {
        var bytes = Encode(e => e.WriteString("truncated"));
        var ex = Assert.Throws<DecodingException>(() => new BinaryDecoder(bytes.AsSpan(0, 6)).ReadString());
        Assert.Contains("ends 6 bytes in", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_array_longer_than_the_message_fails_before_anything_is_allocated()
    {
        var bytes = Encode(e =>
        {
            e.WriteByte((byte)(BuiltInType.Double | (BuiltInType)0x80));
            e.WriteInt32(int.MaxValue);
        });
        var ex = Assert.Throws<DecodingException>(() => new BinaryDecoder(bytes).ReadVariant());
        Assert.Contains("exceeds", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Variants_nested_deeper_than_the_limit_fail_instead_of_overflowing_the_stack()
    {
        var e = new BinaryEncoder();
        for (var i = 0; i < 100; i++)
        {
            e.WriteByte((byte)BuiltInType.Variant | 0x80);
            e.WriteInt32(1);
        }

        e.WriteByte(0);
        var bytes = e.ToArray();
        Assert.Throws<DecodingException>(() => new BinaryDecoder(bytes).ReadVariant());
    }

    [Theory]
    [InlineData("i=85", 0, "i=85")]
    [InlineData("ns=1;s=Oven2.Counter", 1, "ns=1;s=Oven2.Counter")]
    [InlineData("ns=2;g=72962b91-fa75-4ae6-8d28-b404dc7daf63", 2, "ns=2;g=72962b91-fa75-4ae6-8d28-b404dc7daf63")]
    [InlineData("ns=3;b=AQID", 3, "ns=3;b=AQID")]
    public void Node_ids_parse_from_and_print_to_their_text_form(string text, int ns, string printed)
    {
        var id = NodeId.Parse(text);
        Assert.Equal(ns, id.NamespaceIndex);
        Assert.Equal(printed, id.ToString());
        Assert.Equal(id, NodeId.Parse(id.ToString()));
    }

    [Theory]
    [InlineData("Oven2.Counter")]
    [InlineData("ns=x;i=1")]
    [InlineData("ns=1;i=abc")]
    public void A_malformed_node_id_is_refused_with_the_forms_that_work(string text)
    {
        Assert.False(NodeId.TryParse(text, out _, out var problem));
        Assert.Contains(text, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Status_codes_are_named_and_sorted_by_severity()
    {
        Assert.Equal("BadNodeIdUnknown", new StatusCode(0x80340000).Name);
        Assert.Equal(StatusSeverity.Uncertain, new StatusCode(0x40920000).Severity);
        Assert.Equal("GoodClamped", new StatusCode(0x00300000 | 0x0400).Name); // info bits do not change the name
        Assert.Equal("0x81230000", new StatusCode(0x81230000).Name);
    }
}
