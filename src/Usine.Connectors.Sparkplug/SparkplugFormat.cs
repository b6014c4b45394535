using System.Globalization;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Connectors.Sparkplug;

/// <summary>
/// The <c>sparkplug</c> payload format: one Sparkplug B message (its topic and payload, with the host's
/// annotations the connector appends) becomes one message per metric,
/// <c>{group, edge, device, metric, alias, type, value, timestamp, historical, seq, message}</c>.
/// </summary>
/// <remarks>
/// Births and data give their metrics; deaths and commands give none (the connector tracks them). What cannot
/// be read is a dead letter with its reason and nothing is guessed: a payload that is not protobuf, a topic
/// outside <c>spBv1.0</c>, a metric whose alias no birth defines, a DataSet, Template or array value.
/// </remarks>
public sealed class SparkplugFormat : PayloadFormat
{
    /// <summary>The one instance, registered with the sparkplug kind.</summary>
    public static SparkplugFormat Instance { get; } = new();

    public override string Name => "sparkplug";

    public override IPayloadDecoder CreateDecoder(SourceDefinition source) => new Decoder();

    /// <summary>The names of the fields of a decoded metric, in the order of the values.</summary>
    public static IReadOnlyList<string> Fields { get; } = ["group", "edge", "device", "metric", "alias", "type", "value", "timestamp", "historical", "seq", "message"];

    private static readonly Dictionary<string, int> FieldIndex = Fields.Select((f, i) => (f, i)).ToDictionary(p => p.f, p => p.i, StringComparer.Ordinal);

    /// <summary>Whether a metric is the protocol's own rather than data: the bdSeq of births and deaths, the Node Control metrics.</summary>
    internal static bool IsProtocolMetric(string name) =>
        name == "bdSeq" || name.StartsWith("Node Control/", StringComparison.Ordinal) || name.StartsWith("Device Control/", StringComparison.Ordinal);

    // Enum.ToString allocates each time; a metric's type is written for every metric.
    private static readonly string[] TypeNames = [.. Enumerable.Range(0, (int)SparkplugDataType.DateTimeArray + 1).Select(t => ((SparkplugDataType)t).ToString())];

    private static string TypeName(SparkplugDataType type) => (uint)type < (uint)TypeNames.Length ? TypeNames[(int)type] : ((uint)type).ToString(CultureInfo.InvariantCulture);

    private sealed class Decoder : IPayloadDecoder
    {
        private readonly Scalar[] _values = new Scalar[Fields.Count];

        // The metrics of a payload mostly share their timestamp: its text is made once.
        private ulong _lastMilliseconds = ulong.MaxValue;
        private string _lastTimestamp = "";

        private string TimestampText(ulong milliseconds)
        {
            if (milliseconds != _lastMilliseconds)
            {
                _lastTimestamp = Timestamp(milliseconds);
                _lastMilliseconds = milliseconds;
            }

            return _lastTimestamp;
        }

        public void StartBatch(IReadOnlyList<string>? header)
        {
        }

        public void Decode(in RawMessage message, IDecodedMessages messages)
        {
            if (SparkplugTopic.TryParse(message.Topic) is not { } topic)
            {
                messages.Reject($"topic '{message.Topic}' is not a Sparkplug B edge node or device topic (spBv1.0/GROUP/TYPE/EDGE[/DEVICE])");
                return;
            }

            if (topic.Type is not (SparkplugMessageType.NBIRTH or SparkplugMessageType.DBIRTH or SparkplugMessageType.NDATA or SparkplugMessageType.DDATA))
            {
                return; // deaths and commands change the host's state; they carry no data
            }

            SparkplugPayload payload;
            SparkplugHostAnnotations? annotations;
            try
            {
                payload = SparkplugCodec.Read(message.Payload.Span, out annotations);
            }
            catch (SparkplugPayloadException ex)
            {
                messages.Reject($"the payload of {topic.Type} from {topic.Group}/{topic.Edge} is not a Sparkplug B protobuf payload: {ex.Message}", ex);
                return;
            }

            Dictionary<ulong, SparkplugAlias>? aliases = null;
            if (annotations is { Aliases.Count: > 0 })
            {
                aliases = new Dictionary<ulong, SparkplugAlias>(annotations.Aliases.Count);
                foreach (var a in annotations.Aliases)
                {
                    aliases[a.Alias] = a;
                }
            }

            var v = _values;
            v[0] = Scalar.FromText(topic.Group);
            v[1] = Scalar.FromText(topic.Edge);
            v[2] = Scalar.FromText(topic.Device);
            v[9] = payload.Seq is { } seq ? Scalar.FromNumber(seq) : new Scalar(ScalarKind.Null);
            v[10] = Scalar.FromText(topic.Type.ToString());
            for (var i = 0; i < payload.Metrics.Count; i++)
            {
                var metric = payload.Metrics[i];
                var name = metric.Name;
                var type = metric.DataType;
                if (name is null)
                {
                    if (metric.Alias is not { } alias)
                    {
                        messages.AddInvalid($"metric {i} of {topic} has neither a name nor an alias");
                        continue;
                    }

                    if (aliases is null || !aliases.TryGetValue(alias, out var known))
                    {
                        messages.AddInvalid($"metric {i} of {topic} has alias {alias}, which no birth of edge node {topic.Group}/{topic.Edge} in force defined"
                            + (annotations?.Note is { } note ? ": " + note : "; nothing is guessed"));
                        continue;
                    }

                    name = known.Name;
                    type ??= known.DataType;
                }

                if (IsProtocolMetric(name))
                {
                    continue;
                }

                if (type is null or SparkplugDataType.Unknown)
                {
                    messages.AddInvalid($"metric '{name}' of {topic} has no datatype, and no birth gives one");
                    continue;
                }

                if (!TryValue(metric, type.Value, out var value, out var error))
                {
                    messages.AddInvalid($"metric '{name}' of {topic}: {error}");
                    continue;
                }

                v[3] = Scalar.FromText(name);
                v[4] = metric.Alias is { } a2 ? Scalar.FromNumber(a2) : new Scalar(ScalarKind.Null);
                v[5] = Scalar.FromText(TypeName(type.Value));
                v[6] = value;
                v[7] = (metric.Timestamp ?? payload.Timestamp) is { } ms ? Scalar.FromText(TimestampText(ms)) : new Scalar(ScalarKind.Null);
                v[8] = new Scalar(metric.IsHistorical ? ScalarKind.True : ScalarKind.False);
                messages.Add(FieldIndex, v);
            }
        }
    }

    private static string Timestamp(ulong milliseconds) =>
        DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Min(milliseconds, 253402300799999UL)).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// The value of <paramref name="metric"/> read as <paramref name="type"/>; a value in a field its type does not
    /// use, or a type not supported yet, is an error that says which.
    /// </summary>
    internal static bool TryValue(SparkplugMetric metric, SparkplugDataType type, out Scalar value, out string? error)
    {
        value = default;
        error = null;
        if (type is SparkplugDataType.DataSet or SparkplugDataType.Template or SparkplugDataType.PropertySet or SparkplugDataType.PropertySetList
            or >= SparkplugDataType.Int8Array)
        {
            error = $"{type} metrics are not supported yet";
            return false;
        }

        if (metric.IsNull)
        {
            value = new Scalar(ScalarKind.Null);
            return true;
        }

        var expected = type switch
        {
            SparkplugDataType.Int8 or SparkplugDataType.Int16 or SparkplugDataType.Int32
                or SparkplugDataType.UInt8 or SparkplugDataType.UInt16 or SparkplugDataType.UInt32 => SparkplugValueCase.Int,
            SparkplugDataType.Int64 or SparkplugDataType.UInt64 or SparkplugDataType.DateTime => SparkplugValueCase.Long,
            SparkplugDataType.Float => SparkplugValueCase.Float,
            SparkplugDataType.Double => SparkplugValueCase.Double,
            SparkplugDataType.Boolean => SparkplugValueCase.Boolean,
            SparkplugDataType.String or SparkplugDataType.Text or SparkplugDataType.UUID => SparkplugValueCase.String,
            SparkplugDataType.Bytes or SparkplugDataType.File => SparkplugValueCase.Bytes,
            _ => SparkplugValueCase.None,
        };

        if (expected == SparkplugValueCase.None)
        {
            error = $"datatype {(uint)type} is not one of the Sparkplug B datatypes";
            return false;
        }

        // Some edge nodes put 32-bit integers in long_value: the bits say the same number.
        var actual = metric.ValueCase == SparkplugValueCase.Long && expected == SparkplugValueCase.Int ? SparkplugValueCase.Int : metric.ValueCase;
        if (actual != expected)
        {
            error = metric.ValueCase == SparkplugValueCase.None
                ? $"a {type} metric without a value (and not is_null)"
                : $"a {type} metric carries a {metric.ValueCase.ToString().ToLowerInvariant()}_value, not the {expected.ToString().ToLowerInvariant()}_value its type uses";
            return false;
        }

        var bits = metric.IntegerBits;
        value = type switch
        {
            SparkplugDataType.Int8 => Scalar.FromNumber((sbyte)(byte)bits),
            SparkplugDataType.Int16 => Scalar.FromNumber((short)(ushort)bits),
            SparkplugDataType.Int32 => Scalar.FromNumber((int)(uint)bits),
            SparkplugDataType.UInt8 => Scalar.FromNumber((byte)bits),
            SparkplugDataType.UInt16 => Scalar.FromNumber((ushort)bits),
            SparkplugDataType.UInt32 => Scalar.FromNumber((uint)bits),
            SparkplugDataType.Int64 => Scalar.FromNumber((long)bits),
            SparkplugDataType.UInt64 => Scalar.FromNumber(bits),
            SparkplugDataType.DateTime => Scalar.FromText(Timestamp(bits)),
            // The shortest text of the float, so that 0.1f reads 0.1 and not 0.10000000149011612.
            SparkplugDataType.Float => Scalar.FromNumber(double.Parse(metric.FloatValue.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)),
            SparkplugDataType.Double => Scalar.FromNumber(metric.DoubleValue),
            SparkplugDataType.Boolean => new Scalar(bits != 0 ? ScalarKind.True : ScalarKind.False),
            SparkplugDataType.Bytes or SparkplugDataType.File => Scalar.FromText(Convert.ToBase64String(metric.BytesValue!)),
            _ => Scalar.FromText(metric.StringValue),
        };
        return true;
    }
}
