using System.Text.Json;

namespace Usine.Pipeline;

public enum ScalarKind : byte
{
    Missing,
    Null,
    String,
    Number,
    True,
    False,
    Complex,
}

/// <summary>A value read from a decoded message before it is typed by the model: a JSON value or CSV text.</summary>
public readonly struct Scalar
{
    public Scalar(ScalarKind kind, JsonElement element = default, string? text = null, double number = 0)
    {
        Kind = kind;
        Element = element;
        Text = text;
        NumberValue = number;
    }

    public static Scalar Missing => default;

    public static Scalar FromText(string? text) =>
        text is null ? new Scalar(ScalarKind.Null) : new Scalar(ScalarKind.String, text: text);

    public static Scalar FromNumber(double d) => new(ScalarKind.Number, number: d, text: null);

    public ScalarKind Kind { get; }

    /// <summary>The JSON element, when the value came from JSON (default otherwise).</summary>
    public JsonElement Element { get; }

    /// <summary>Text of a string value, or of a CSV cell.</summary>
    public string? Text { get; }

    /// <summary>A computed number (expressions, constants), used when <see cref="Element"/> is not set.</summary>
    public double NumberValue { get; }

    public bool IsAbsent => Kind is ScalarKind.Missing or ScalarKind.Null;

    public bool FromJson => Element.ValueKind != JsonValueKind.Undefined;

    public static Scalar FromJsonElement(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => new Scalar(ScalarKind.String, e),
        JsonValueKind.Number => new Scalar(ScalarKind.Number, e),
        JsonValueKind.True => new Scalar(ScalarKind.True, e),
        JsonValueKind.False => new Scalar(ScalarKind.False, e),
        JsonValueKind.Null => new Scalar(ScalarKind.Null, e),
        JsonValueKind.Undefined => Missing,
        _ => new Scalar(ScalarKind.Complex, e),
    };

    /// <summary>A short rendering for error messages.</summary>
    public string Describe()
    {
        if (Kind == ScalarKind.Missing)
        {
            return "missing";
        }

        if (FromJson)
        {
            var raw = Element.GetRawText();
            return raw.Length > 60 ? raw[..57] + "..." : raw;
        }

        if (Kind == ScalarKind.Number)
        {
            return NumberValue.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var t = Text ?? "null";
        return t.Length > 60 ? "\"" + t[..57] + "...\"" : "\"" + t + "\"";
    }

    /// <summary>The value as text, for templates.</summary>
    public string? AsText()
    {
        if (FromJson)
        {
            return Element.ValueKind switch
            {
                JsonValueKind.String => Element.GetString(),
                JsonValueKind.Null or JsonValueKind.Undefined => null,
                _ => Element.GetRawText(),
            };
        }

        return Kind switch
        {
            ScalarKind.Number => NumberValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ScalarKind.True => "true",
            ScalarKind.False => "false",
            ScalarKind.String => Text,
            _ => null,
        };
    }
}

/// <summary>A decoded message: a JSON object or a flat row of named values (a CSV line...), plus where it arrived.</summary>
public sealed class MessageView
{
    private readonly Internal.StringPool _strings = new();
    private JsonElement _root;
    private IReadOnlyDictionary<string, int>? _names;
    private Scalar[]? _values;
    private string[]? _topicSegments;

    public string? Topic { get; private set; }

    internal void SetJson(JsonElement root, string? topic)
    {
        _root = root;
        _values = null;
        _names = null;
        SetTopic(topic);
    }

    internal void SetFields(IReadOnlyDictionary<string, int> names, Scalar[] values, string? topic)
    {
        _root = default;
        _names = names;
        _values = values;
        SetTopic(topic);
    }

    /// <summary>A message that could not be decoded: only its topic can be read.</summary>
    internal void SetUndecoded(string? topic)
    {
        _root = default;
        _values = null;
        _names = null;
        SetTopic(topic);
    }

    private void SetTopic(string? topic)
    {
        if (!ReferenceEquals(topic, Topic))
        {
            Topic = topic;
            _topicSegments = null;
        }
    }

    /// <summary>The value as text, like <see cref="Scalar.AsText"/>, without allocating the values that repeat.</summary>
    public string? Text(in Scalar s)
    {
        if (s.Kind == ScalarKind.String && s.FromJson)
        {
            var raw = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(s.Element);
            if (raw.Length >= 2 && raw.IndexOf((byte)'\\') < 0)
            {
                return _strings.Get(raw[1..^1]);
            }
        }

        return s.AsText();
    }

    public string? TopicSegment(int index)
    {
        if (Topic is null)
        {
            return null;
        }

        _topicSegments ??= Topic.Split('/');
        return index >= 0 && index < _topicSegments.Length ? _topicSegments[index] : null;
    }

    public Scalar Resolve(JsonPath path)
    {
        if (_values is not null)
        {
            // A row is flat: only the first segment names a value.
            return path.Segments.Length == 1 && path.Segments[0].Name is { } name
                && _names!.TryGetValue(name, out var i) && (uint)i < (uint)_values.Length
                ? _values[i]
                : Scalar.Missing;
        }

        var e = _root;
        foreach (var seg in path.Segments)
        {
            if (seg.Name is { } name)
            {
                if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out e))
                {
                    return Scalar.Missing;
                }
            }
            else
            {
                if (e.ValueKind != JsonValueKind.Array || seg.Index >= e.GetArrayLength())
                {
                    return Scalar.Missing;
                }

                e = e[seg.Index];
            }
        }

        return Scalar.FromJsonElement(e);
    }
}

/// <summary>A parsed path such as <c>$.result.torque</c>, <c>$.values[0]</c> or <c>$['odd name']</c>.</summary>
public sealed class JsonPath
{
    private JsonPath(string text, Segment[] segments)
    {
        Text = text;
        Segments = segments;
    }

    public readonly record struct Segment(string? Name, int Index);

    public string Text { get; }

    public Segment[] Segments { get; }

    public override string ToString() => Text;

    public static JsonPath ForProperty(string name) => new("$." + name, [new Segment(name, 0)]);

    public static JsonPath Parse(string text)
    {
        if (!text.StartsWith('$'))
        {
            throw new FormatException($"path '{text}' must start with '$', like $.result.torque");
        }

        var segs = new List<Segment>();
        var i = 1;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '.')
            {
                var start = ++i;
                while (i < text.Length && text[i] != '.' && text[i] != '[')
                {
                    i++;
                }

                if (i == start)
                {
                    throw new FormatException($"path '{text}' has an empty property name at character {start + 1}");
                }

                segs.Add(new Segment(text[start..i], 0));
            }
            else if (c == '[')
            {
                var close = text.IndexOf(']', i);
                if (close < 0)
                {
                    throw new FormatException($"path '{text}' has '[' without ']'");
                }

                var inner = text[(i + 1)..close].Trim();
                if (inner.Length >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[^1] == inner[0])
                {
                    segs.Add(new Segment(inner[1..^1], 0));
                }
                else if (int.TryParse(inner, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var idx))
                {
                    segs.Add(new Segment(null, idx));
                }
                else
                {
                    throw new FormatException($"path '{text}': '[{inner}]' is neither an index nor a quoted name");
                }

                i = close + 1;
            }
            else
            {
                throw new FormatException($"path '{text}': unexpected '{c}' at character {i + 1}");
            }
        }

        return new JsonPath(text, [.. segs]);
    }
}
