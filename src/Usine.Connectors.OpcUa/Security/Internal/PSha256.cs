using System.Security.Cryptography;

namespace Usine.Connectors.OpcUa.Security.Internal;

/// <summary>
/// The P_SHA256 data expansion of RFC 5246 §5, which OPC 10000-6 §6.7.5 uses to derive a channel's keys from
/// the two nonces: A(0) = seed, A(i) = HMAC(secret, A(i-1)), output = HMAC(secret, A(1) + seed) + HMAC(secret,
/// A(2) + seed) + ..., cut to the length asked.
/// </summary>
internal static class PSha256
{
    private const int HashSize = 32;

    public static byte[] Expand(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> seed, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        var output = new byte[length];
        Span<byte> a = stackalloc byte[HashSize];
        Span<byte> block = stackalloc byte[HashSize];
        Span<byte> next = stackalloc byte[HashSize];
        var input = new byte[HashSize + seed.Length];
        seed.CopyTo(input.AsSpan(HashSize));

        HMACSHA256.HashData(secret, seed, a);
        for (var written = 0; written < length; written += HashSize)
        {
            a.CopyTo(input);
            HMACSHA256.HashData(secret, input, block);
            block[..Math.Min(HashSize, length - written)].CopyTo(output.AsSpan(written));
            HMACSHA256.HashData(secret, a, next);
            next.CopyTo(a);
        }
        return output;
    }
}
