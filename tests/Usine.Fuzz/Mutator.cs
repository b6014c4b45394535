using System.Text;

namespace Usine.Fuzz;

/// <summary>
/// A small, seeded byte mutator over a corpus, for a short deterministic run inside the test suite. It is no
/// substitute for a coverage-guided engine (docs/reliability.md): it only tries, over and over, the kinds of damage
/// that broke the pipeline before — cut, repeated or flipped bytes, and tokens such as escapes, huge numbers, stray
/// UTF-8 bytes and quotes.
/// </summary>
public sealed class Mutator(int seed, IReadOnlyList<byte[]> corpus)
{
    private static readonly byte[][] Tokens =
    [
        .. new[]
        {
            "\\ud800", "\\udfff", "\\ud83d\\ude00", "\\u0000", "\\uFFFD", "\\\"", "\\\\", "\\n", "1e400", "-1e400", "1e-400", "-0",
            "9223372036854775808", "-9223372036854775809", "0.1e1", "NaN", "Infinity", "null", "true", "false", "\"\"", "[]", "{}",
            "[1,2,3]", "{\"a\":{\"b\":{\"c\":1}}}", ",", ":", "\"", "{", "}", "[", "]", "\r\n", "\n", "\t", ";", "\"\"\"", "\",\"",
            "\"VIN\":", "\"time\":", "\"result\":", "\"torque\":", "\"plant\":", "\"line\":", "\"station\":", "\"paint\":",
            "\"voltage\":", "\"current\":", "2026-01-05T08:00:00Z", "2026-01-05T08:00:00+14:00", "9999-12-31T23:59:59Z",
            "1767600000", "1767600000000", "253402300800", "VF1AAAAA111111111", "{topic}", "{plant}", "$.x",
        }.Select(Encoding.UTF8.GetBytes),
        [0xFF], [0xC0, 0xAF], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xEF, 0xBB, 0xBF], [0x00], [0xEF, 0xBF, 0xBD],
    ];

    private readonly Random _random = new(seed);

    public byte[] Next()
    {
        var data = new List<byte>(corpus[_random.Next(corpus.Count)]);
        var steps = 1 + _random.Next(4);
        for (var i = 0; i < steps; i++)
        {
            Mutate(data);
        }

        return [.. data];
    }

    private void Mutate(List<byte> data)
    {
        var at = data.Count == 0 ? 0 : _random.Next(data.Count + 1);
        switch (_random.Next(8))
        {
            case 0 when data.Count > 0:
                var bit = Math.Min(at, data.Count - 1);
                data[bit] ^= (byte)(1 << _random.Next(8));
                break;
            case 1 when data.Count > 0:
                data[Math.Min(at, data.Count - 1)] = (byte)_random.Next(256);
                break;
            case 2 when data.Count > 0:
                var from = Math.Min(at, data.Count - 1);
                data.RemoveRange(from, Math.Min(data.Count - from, 1 + _random.Next(16)));
                break;
            case 3 when data.Count > 0:
                var start = _random.Next(data.Count);
                var length = Math.Min(data.Count - start, 1 + _random.Next(32));
                data.InsertRange(at, data.GetRange(start, length));
                break;
            case 4:
                // Splice: the head of this input with the tail of another.
                var other = corpus[_random.Next(corpus.Count)];
                var cut = other.Length == 0 ? 0 : _random.Next(other.Length);
                data.RemoveRange(at, data.Count - at);
                data.AddRange(other.AsSpan(cut).ToArray());
                break;
            default:
                data.InsertRange(at, Tokens[_random.Next(Tokens.Length)]);
                break;
        }
    }
}
