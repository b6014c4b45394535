using System.Globalization;
using System.Text.Json;

namespace Usine.Pipeline;

/// <summary>How one field of a record is computed from a message.</summary>
/// <remarks>
/// In YAML: a string starting with <c>$</c> is a path; a string with <c>{...}</c> is a template; another string
/// or a number is a constant; <c>{ path: "$.t", unit: degF }</c> reads a number given in another unit and
/// converts it to the field's unit; <c>{ expr: "$.u * $.i / 1000" }</c> derives a number.
/// </remarks>
public abstract class FieldMapping
{
    public abstract string Describe();

    public abstract Scalar Evaluate(ITemplateScope scope);

    /// <summary>The unit the mapped number is expressed in, when it differs from the field's unit.</summary>
    public string? FromUnit { get; init; }

    public static FieldMapping Path(string path, string? fromUnit = null) => new PathMapping(JsonPath.Parse(path)) { FromUnit = fromUnit };

    public static FieldMapping Constant(string text) => new ConstantMapping(text);

    public static FieldMapping Interpolated(string template) => new TemplateMapping(Template.Parse(template));

    public static FieldMapping Expression(string expression, string? fromUnit = null) =>
        new ExpressionMapping(expression, ExpressionParser.Parse(expression)) { FromUnit = fromUnit };

    /// <summary>Reads a YAML scalar the way the docs describe.</summary>
    public static FieldMapping FromText(string text)
    {
        if (text.StartsWith('$'))
        {
            return Path(text);
        }

        return text.Contains('{', StringComparison.Ordinal) ? Interpolated(text) : Constant(text);
    }

    private sealed class PathMapping(JsonPath path) : FieldMapping
    {
        public override string Describe() => path.Text;

        public override Scalar Evaluate(ITemplateScope scope) => scope.Message.Resolve(path);
    }

    private sealed class ConstantMapping(string text) : FieldMapping
    {
        private readonly Scalar _value = Scalar.FromText(text);

        public override string Describe() => $"constant '{text}'";

        public override Scalar Evaluate(ITemplateScope scope) => _value;
    }

    private sealed class TemplateMapping(Template template) : FieldMapping
    {
        public override string Describe() => $"template '{template.Text}'";

        public override Scalar Evaluate(ITemplateScope scope)
        {
            var s = template.Render(scope, out _);
            return s is null ? Scalar.Missing : Scalar.FromText(s);
        }
    }

    private sealed class ExpressionMapping(string text, ExpressionParser.Node root) : FieldMapping
    {
        public override string Describe() => $"expression '{text}'";

        public override Scalar Evaluate(ITemplateScope scope)
        {
            var v = root.Eval(scope);
            return double.IsNaN(v) ? Scalar.Missing : Scalar.FromNumber(v);
        }
    }
}

/// <summary>Arithmetic over message paths, earlier fields and numbers: + - * / ( ) and abs, min, max, round.</summary>
internal static class ExpressionParser
{
    internal abstract class Node
    {
        /// <summary>NaN when an operand is missing: the field is then absent, and "required" decides.</summary>
        public abstract double Eval(ITemplateScope scope);
    }

    private sealed class Num(double v) : Node
    {
        public override double Eval(ITemplateScope scope) => v;
    }

    private sealed class PathNode(JsonPath path) : Node
    {
        public override double Eval(ITemplateScope scope) => ToNumber(scope.Message.Resolve(path), path.Text);
    }

    private sealed class NameNode(string name) : Node
    {
        public override double Eval(ITemplateScope scope)
        {
            var s = scope.Lookup(name);
            if (s is null)
            {
                return double.NaN;
            }

            return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                ? d
                : throw new FormatException($"'{name}' = \"{s}\" is not a number");
        }
    }

    private sealed class Unary(Node operand) : Node
    {
        public override double Eval(ITemplateScope scope) => -operand.Eval(scope);
    }

    private sealed class Binary(char op, Node l, Node r) : Node
    {
        public override double Eval(ITemplateScope scope)
        {
            var a = l.Eval(scope);
            var b = r.Eval(scope);
            return op switch
            {
                '+' => a + b,
                '-' => a - b,
                '*' => a * b,
                _ => b == 0 ? throw new FormatException("division by zero") : a / b,
            };
        }
    }

    private sealed class Call(string fn, Node[] args) : Node
    {
        public override double Eval(ITemplateScope scope)
        {
            var v = args.Select(a => a.Eval(scope)).ToArray();
            if (v.Any(double.IsNaN))
            {
                return double.NaN;
            }

            return fn switch
            {
                "abs" => Math.Abs(v[0]),
                "round" => v.Length > 1 ? Math.Round(v[0], (int)v[1], MidpointRounding.AwayFromZero) : Math.Round(v[0], MidpointRounding.AwayFromZero),
                "min" => v.Min(),
                _ => v.Max(),
            };
        }
    }

    internal static double ToNumber(Scalar s, string what)
    {
        switch (s.Kind)
        {
            case ScalarKind.Missing or ScalarKind.Null:
                return double.NaN;
            case ScalarKind.Number:
                return s.FromJson ? s.Element.GetDouble() : s.NumberValue;
            case ScalarKind.String:
                var text = s.FromJson ? s.Element.GetString() : s.Text;
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d))
                {
                    return d;
                }

                break;
        }

        throw new FormatException($"{what} = {s.Describe()} is not a number");
    }

    public static Node Parse(string text)
    {
        var p = new Parser(text);
        var n = p.ParseSum();
        p.SkipSpace();
        if (p.Pos < text.Length)
        {
            throw new FormatException($"expression '{text}': unexpected '{text[p.Pos]}' at character {p.Pos + 1}");
        }

        return n;
    }

    private sealed class Parser(string text)
    {
        public int Pos;

        public void SkipSpace()
        {
            while (Pos < text.Length && char.IsWhiteSpace(text[Pos]))
            {
                Pos++;
            }
        }

        private bool Eat(char c)
        {
            SkipSpace();
            if (Pos < text.Length && text[Pos] == c)
            {
                Pos++;
                return true;
            }

            return false;
        }

        public Node ParseSum()
        {
            var left = ParseProduct();
            while (true)
            {
                if (Eat('+'))
                {
                    left = new Binary('+', left, ParseProduct());
                }
                else if (Eat('-'))
                {
                    left = new Binary('-', left, ParseProduct());
                }
                else
                {
                    return left;
                }
            }
        }

        private Node ParseProduct()
        {
            var left = ParseUnary();
            while (true)
            {
                if (Eat('*'))
                {
                    left = new Binary('*', left, ParseUnary());
                }
                else if (Eat('/'))
                {
                    left = new Binary('/', left, ParseUnary());
                }
                else
                {
                    return left;
                }
            }
        }

        private Node ParseUnary() => Eat('-') ? new Unary(ParseUnary()) : ParseAtom();

        private Node ParseAtom()
        {
            SkipSpace();
            if (Pos >= text.Length)
            {
                throw new FormatException($"expression '{text}' ends where a value was expected");
            }

            var c = text[Pos];
            if (Eat('('))
            {
                var inner = ParseSum();
                if (!Eat(')'))
                {
                    throw new FormatException($"expression '{text}': missing ')'");
                }

                return inner;
            }

            if (c == '$')
            {
                var start = Pos;
                while (Pos < text.Length && !char.IsWhiteSpace(text[Pos]) && "+-*/(),".IndexOf(text[Pos], StringComparison.Ordinal) < 0)
                {
                    Pos++;
                }

                return new PathNode(JsonPath.Parse(text[start..Pos]));
            }

            if (char.IsDigit(c) || c == '.')
            {
                var start = Pos;
                while (Pos < text.Length && (char.IsDigit(text[Pos]) || text[Pos] is '.' or 'e' or 'E'
                    || (text[Pos] is '+' or '-' && Pos > start && text[Pos - 1] is 'e' or 'E')))
                {
                    Pos++;
                }

                return new Num(double.Parse(text.AsSpan(start, Pos - start), NumberStyles.Float, CultureInfo.InvariantCulture));
            }

            if (char.IsLetter(c) || c == '_')
            {
                var start = Pos;
                while (Pos < text.Length && (char.IsLetterOrDigit(text[Pos]) || text[Pos] == '_'))
                {
                    Pos++;
                }

                var name = text[start..Pos];
                if (Eat('('))
                {
                    if (name is not ("abs" or "round" or "min" or "max"))
                    {
                        throw new FormatException($"expression '{text}': unknown function '{name}' (known: abs, round, min, max)");
                    }

                    var args = new List<Node> { ParseSum() };
                    while (Eat(','))
                    {
                        args.Add(ParseSum());
                    }

                    if (!Eat(')'))
                    {
                        throw new FormatException($"expression '{text}': missing ')' after the arguments of {name}");
                    }

                    return new Call(name, [.. args]);
                }

                return new NameNode(name);
            }

            throw new FormatException($"expression '{text}': unexpected '{c}' at character {Pos + 1}");
        }
    }
}
