using System.Text;

namespace Usine.Pipeline;

/// <summary>What a template can look up besides the message: context levels, the source, record fields.</summary>
public interface ITemplateScope
{
    MessageView Message { get; }

    /// <summary>The value of a name such as <c>plant</c>, <c>station</c>, <c>source</c> or a field; null when unknown or empty.</summary>
    string? Lookup(string name);
}

/// <summary>
/// A string with placeholders: <c>{vin}</c> (a field or context level: plant, shop, line, station, source),
/// <c>{$.a.b}</c> (a path into the message) and <c>{topic}</c> / <c>{topic.2}</c> (the topic, or one segment, from 0).
/// Text without braces is a constant.
/// </summary>
public sealed class Template
{
    private readonly Part[] _parts;

    private Template(string text, Part[] parts)
    {
        Text = text;
        _parts = parts;
        if (parts.All(p => p.Kind == PartKind.Literal))
        {
            Constant = string.Concat(parts.Select(p => p.Literal));
        }
    }

    private enum PartKind
    {
        Literal,
        Path,
        Topic,
        TopicSegment,
        Name,
    }

    private readonly record struct Part(PartKind Kind, string? Literal, JsonPath? Path, int Index);

    public string Text { get; }

    /// <summary>The value when the template has no placeholder.</summary>
    public string? Constant { get; }

    public bool IsConstant => Constant is not null;

    /// <summary>Whether the template reads nothing of the payload (literals and topic levels only): it can be told before the message is decoded.</summary>
    public bool ReadsTopicOnly => _parts.All(p => p.Kind is PartKind.Literal or PartKind.Topic or PartKind.TopicSegment);

    /// <summary>Names of fields and context levels the template reads.</summary>
    public IEnumerable<string> Names => _parts.Where(p => p.Kind == PartKind.Name).Select(p => p.Literal!);

    public override string ToString() => Text;

    public static Template Parse(string text)
    {
        var parts = new List<Part>();
        var i = 0;
        var literal = new StringBuilder();
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '{')
            {
                var close = text.IndexOf('}', i);
                if (close < 0)
                {
                    throw new FormatException($"template '{text}' has '{{' without '}}'");
                }

                var name = text[(i + 1)..close].Trim();
                if (name.Length == 0)
                {
                    throw new FormatException($"template '{text}' has an empty placeholder '{{}}'");
                }

                if (literal.Length > 0)
                {
                    parts.Add(new Part(PartKind.Literal, literal.ToString(), null, 0));
                    literal.Clear();
                }

                if (name.StartsWith('$'))
                {
                    parts.Add(new Part(PartKind.Path, null, JsonPath.Parse(name), 0));
                }
                else if (name == "topic")
                {
                    parts.Add(new Part(PartKind.Topic, null, null, 0));
                }
                else if (name.StartsWith("topic.", StringComparison.Ordinal))
                {
                    if (!int.TryParse(name.AsSpan(6), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var idx))
                    {
                        throw new FormatException($"template '{text}': '{{{name}}}' needs a segment number, like {{topic.2}}");
                    }

                    parts.Add(new Part(PartKind.TopicSegment, null, null, idx));
                }
                else
                {
                    parts.Add(new Part(PartKind.Name, name, null, 0));
                }

                i = close + 1;
            }
            else if (c == '}')
            {
                throw new FormatException($"template '{text}' has '}}' without '{{'");
            }
            else
            {
                literal.Append(c);
                i++;
            }
        }

        if (literal.Length > 0 || parts.Count == 0)
        {
            parts.Add(new Part(PartKind.Literal, literal.ToString(), null, 0));
        }

        return new Template(text, [.. parts]);
    }

    public static Template Of(string constant) => new(constant, [new Part(PartKind.Literal, constant, null, 0)]);

    /// <summary>Renders the template; null when a placeholder has no value (reported by <paramref name="missing"/>).</summary>
    public string? Render(ITemplateScope scope, out string? missing)
    {
        missing = null;
        if (Constant is not null)
        {
            return Constant;
        }

        if (_parts.Length == 1)
        {
            var v = Eval(_parts[0], scope);
            if (string.IsNullOrEmpty(v))
            {
                missing = Describe(_parts[0]);
                return null;
            }

            return v;
        }

        var sb = new StringBuilder();
        foreach (var p in _parts)
        {
            var v = Eval(p, scope);
            if (string.IsNullOrEmpty(v))
            {
                missing = Describe(p);
                return null;
            }

            sb.Append(v);
        }

        return sb.ToString();
    }

    private static string? Eval(in Part p, ITemplateScope scope) => p.Kind switch
    {
        PartKind.Literal => p.Literal,
        PartKind.Path => scope.Message.Text(scope.Message.Resolve(p.Path!)),
        PartKind.Topic => scope.Message.Topic,
        PartKind.TopicSegment => scope.Message.TopicSegment(p.Index),
        _ => scope.Lookup(p.Literal!),
    };

    private static string Describe(in Part p) => p.Kind switch
    {
        PartKind.Path => p.Path!.Text,
        PartKind.Topic => "topic",
        PartKind.TopicSegment => $"topic.{p.Index}",
        _ => p.Literal!,
    };
}
