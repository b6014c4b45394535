using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Usine.Models;

namespace Usine.Storage;

/// <summary>
/// The position after the last record of a page. It pins the sort and the filters, so that a cursor is never
/// read against another query, where "after" would mean something else. Every store pages with it, so that a
/// cursor means the same on each.
/// </summary>
public sealed record RecordCursor(string Sort, string Filter, string? Value, Guid RecordId)
{
    public string Encode()
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string?>
        {
            ["s"] = Sort,
            ["f"] = Filter,
            ["v"] = Value,
            ["i"] = RecordId.ToString(),
        });
        return Convert.ToBase64String(json).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    public static RecordCursor Decode(string text)
    {
        const string Message = "cursor: not a cursor of this API; pass the 'next' value of the previous page as it is";
        Dictionary<string, string?>? d;
        try
        {
            var b64 = text.Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + ((4 - (b64.Length % 4)) % 4), '=');
            d = JsonSerializer.Deserialize<Dictionary<string, string?>>(Convert.FromBase64String(b64));
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
            throw new ArgumentException(Message, ex);
        }

        return d is not null && d.GetValueOrDefault("s") is { } sort && d.GetValueOrDefault("f") is { } filter && Guid.TryParse(d.GetValueOrDefault("i"), out var id)
            ? new RecordCursor(sort, filter, d.GetValueOrDefault("v"), id)
            : throw new ArgumentException(Message);
    }

    public static string Fingerprint(RecordFilter filter, RecordSort sort)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(sort + "\u001d" + filter.Canonical));
        return Convert.ToHexString(hash, 0, 12);
    }
}
