using System.Text;

namespace Usine.Internal;

/// <summary>
/// Gives back one string instance per distinct short text, so that the values that repeat in every message
/// (plants, stations, statuses, programs) are not allocated again for each one. Bounded: past
/// <see cref="Capacity"/> distinct values, new ones are allocated as usual and not kept.
/// </summary>
internal sealed class StringPool
{
    private const int MaxChars = 64;
    private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public StringPool(int capacity = 50_000)
    {
        Capacity = capacity;
        _lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Capacity { get; }

    public string Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxChars)
        {
            return Encoding.UTF8.GetString(utf8);
        }

        Span<char> chars = stackalloc char[MaxChars];
        var n = Encoding.UTF8.GetChars(utf8, chars);
        var span = chars[..n];
        if (_lookup.TryGetValue(span, out var s))
        {
            return s;
        }

        s = new string(span);
        if (_strings.Count < Capacity)
        {
            _strings[s] = s;
        }

        return s;
    }
}
