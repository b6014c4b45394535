using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Usine.Connectors.OpcUa.Client;
using Usine.Connectors.OpcUa.Encoding;

namespace Usine.Connectors.OpcUa.Internal;

/// <summary>
/// Writes one data change as the JSON message an opcua source hands to the pipeline:
/// <c>{"node","browsePath","value","status","statusCode","sourceTimestamp","serverTimestamp"}</c>. One writer
/// and buffer serve every value of a source, so a value costs its payload array and little else.
/// </summary>
internal sealed class DataChangeJson
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private readonly Utf8JsonWriter _writer;

    public DataChangeJson() => _writer = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });

    public byte[] Write(string node, string browsePath, in MonitoredValue value)
    {
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        var w = _writer;
        w.WriteStartObject();
        w.WriteString("node"u8, node);
        w.WriteString("browsePath"u8, browsePath);
        w.WritePropertyName("value"u8);
        WriteVariant(w, value.Value);
        w.WriteString("status"u8, value.Status.Severity switch
        {
            StatusSeverity.Good => "Good"u8,
            StatusSeverity.Uncertain => "Uncertain"u8,
            _ => "Bad"u8,
        });
        w.WriteString("statusCode"u8, value.Status.Name);
        WriteTimestamp(w, "sourceTimestamp"u8, value.SourceTimestamp);
        WriteTimestamp(w, "serverTimestamp"u8, value.ServerTimestamp);
        w.WriteEndObject();
        w.Flush();
        return _buffer.WrittenSpan.ToArray();
    }

    private static void WriteTimestamp(Utf8JsonWriter w, ReadOnlySpan<byte> name, DateTime? at)
    {
        if (at is { } t && t != DateTime.MinValue)
        {
            w.WriteString(name, DateTime.SpecifyKind(t, DateTimeKind.Utc));
        }
        else
        {
            w.WriteNull(name);
        }
    }

    internal static void WriteVariant(Utf8JsonWriter w, Variant v)
    {
        if (v.IsNull)
        {
            w.WriteNullValue();
            return;
        }

        if (v.IsArray)
        {
            w.WriteStartArray();
            foreach (var element in (Array)v.Value!)
            {
                WriteElement(w, element);
            }

            w.WriteEndArray();
            return;
        }

        switch (v.Type)
        {
            case BuiltInType.Boolean:
                w.WriteBooleanValue(v.AsBoolean());
                break;
            case BuiltInType.SByte or BuiltInType.Int16 or BuiltInType.Int32 or BuiltInType.Int64 or BuiltInType.Byte or BuiltInType.UInt16 or BuiltInType.UInt32:
                w.WriteNumberValue(v.AsInt64());
                break;
            case BuiltInType.UInt64:
                w.WriteNumberValue(v.AsUInt64());
                break;
            case BuiltInType.Float or BuiltInType.Double:
                WriteDouble(w, v.Type == BuiltInType.Float ? (float)v.AsDouble() : v.AsDouble(), v.Type == BuiltInType.Float);
                break;
            case BuiltInType.DateTime:
                w.WriteStringValue(v.AsDateTime());
                break;
            case BuiltInType.StatusCode:
                w.WriteStringValue(v.AsStatusCode().Name);
                break;
            default:
                WriteElement(w, v.Value);
                break;
        }
    }

    // Not-a-number and the infinities have no JSON number; they go as the strings JavaScript prints for them.
    private static void WriteDouble(Utf8JsonWriter w, double d, bool single)
    {
        if (double.IsFinite(d))
        {
            if (single)
            {
                w.WriteNumberValue((float)d);
            }
            else
            {
                w.WriteNumberValue(d);
            }
        }
        else
        {
            w.WriteStringValue(double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
        }
    }

    private static void WriteElement(Utf8JsonWriter w, object? element)
    {
        switch (element)
        {
            case null:
                w.WriteNullValue();
                break;
            case bool b:
                w.WriteBooleanValue(b);
                break;
            case sbyte or short or int or long or byte or ushort or uint:
                w.WriteNumberValue(Convert.ToInt64(element, CultureInfo.InvariantCulture));
                break;
            case ulong u:
                w.WriteNumberValue(u);
                break;
            case float f:
                WriteDouble(w, f, true);
                break;
            case double d:
                WriteDouble(w, d, false);
                break;
            case string s:
                w.WriteStringValue(s);
                break;
            case DateTime t:
                w.WriteStringValue(DateTime.SpecifyKind(t, DateTimeKind.Utc));
                break;
            case Guid g:
                w.WriteStringValue(g);
                break;
            case byte[] bytes:
                w.WriteBase64StringValue(bytes);
                break;
            case StatusCode c:
                w.WriteStringValue(c.Name);
                break;
            case LocalizedText text:
                w.WriteStringValue(text.Text);
                break;
            case QualifiedName name:
                w.WriteStringValue(name.ToString());
                break;
            case Variant inner:
                WriteVariant(w, inner);
                break;
            case DataValue value:
                WriteVariant(w, value.Value);
                break;
            case ExtensionObject extension:
                w.WriteStartObject();
                w.WriteString("typeId"u8, extension.TypeId.ToString());
                w.WriteBase64String("body"u8, extension.Body.Span);
                w.WriteEndObject();
                break;
            default:
                w.WriteStringValue(element.ToString());
                break;
        }
    }
}
