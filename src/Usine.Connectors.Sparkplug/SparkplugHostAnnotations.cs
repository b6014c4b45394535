using Google.Protobuf;

namespace Usine.Connectors.Sparkplug;

/// <summary>An alias a birth defined: its metric's name and datatype.</summary>
public readonly record struct SparkplugAlias(ulong Alias, string Name, SparkplugDataType DataType);

/// <summary>
/// What the host knew when a message arrived, appended to the message's own bytes before it is stored: the
/// aliases its metrics use, as the births in force defined them, a note when something was missing (no
/// birth yet, an unknown alias), and the topic. The stored payload is therefore the edge node's bytes unchanged, followed by
/// fields 1000 to 1002, which the specification's <c>extensions 6 to max</c> allow and other readers skip; it
/// decodes into the same records without the host's live state, so replay needs nothing else.
/// </summary>
public sealed class SparkplugHostAnnotations
{
    internal const int AliasField = 1000;
    internal const int NoteField = 1001;
    internal const int TopicField = 1002;

    private const int AliasNumber = 1;
    private const int AliasName = 2;
    private const int AliasDataType = 3;

    /// <summary>The aliases the message's metrics use, as the births in force define them.</summary>
    public List<SparkplugAlias> Aliases { get; } = [];

    /// <summary>Why metrics without a name could not be resolved (no birth seen, an alias no birth defines), or null.</summary>
    public string? Note { get; set; }

    /// <summary>
    /// The topic the message came on. The stored bytes are what a record's identity is made of when the model has
    /// no natural key: with the topic in them, the same payload from two edge nodes is two facts, and the same
    /// message delivered twice is still one.
    /// </summary>
    public string? Topic { get; set; }

    /// <summary>The edge node's bytes followed by the annotations.</summary>
    public byte[] AppendTo(ReadOnlySpan<byte> original)
    {
        using var buffer = new MemoryStream(original.Length + 16 + (Aliases.Count * 24));
        buffer.Write(original);
        var output = new CodedOutputStream(buffer);
        foreach (var alias in Aliases)
        {
            output.WriteTag(AliasField, WireFormat.WireType.LengthDelimited);
            var size = CodedOutputStream.ComputeTagSize(AliasNumber) + CodedOutputStream.ComputeUInt64Size(alias.Alias)
                + CodedOutputStream.ComputeTagSize(AliasName) + CodedOutputStream.ComputeStringSize(alias.Name)
                + CodedOutputStream.ComputeTagSize(AliasDataType) + CodedOutputStream.ComputeUInt32Size((uint)alias.DataType);
            output.WriteLength(size);
            output.WriteTag(AliasNumber, WireFormat.WireType.Varint);
            output.WriteUInt64(alias.Alias);
            output.WriteTag(AliasName, WireFormat.WireType.LengthDelimited);
            output.WriteString(alias.Name);
            output.WriteTag(AliasDataType, WireFormat.WireType.Varint);
            output.WriteUInt32((uint)alias.DataType);
        }

        if (Note is { } note)
        {
            output.WriteTag(NoteField, WireFormat.WireType.LengthDelimited);
            output.WriteString(note);
        }

        if (Topic is { } topic)
        {
            output.WriteTag(TopicField, WireFormat.WireType.LengthDelimited);
            output.WriteString(topic);
        }

        output.Flush();
        return buffer.ToArray();
    }

    internal static SparkplugAlias ReadAlias(ReadOnlySpan<byte> bytes)
    {
        var input = new CodedInputStream(bytes.ToArray());
        ulong alias = 0;
        var name = "";
        var type = SparkplugDataType.Unknown;
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case AliasNumber:
                    alias = input.ReadUInt64();
                    break;
                case AliasName:
                    name = input.ReadString();
                    break;
                case AliasDataType:
                    type = (SparkplugDataType)input.ReadUInt32();
                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }

        return new SparkplugAlias(alias, name, type);
    }
}
