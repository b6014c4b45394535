using System.Diagnostics.CodeAnalysis;

namespace Usine.Pipeline;

/// <summary>The checks every text format makes before reading a payload, so that they fail the same way.</summary>
public static class Utf8Text
{
    private static ReadOnlySpan<byte> Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>
    /// The payload without its byte-order mark in <paramref name="text"/>, or false with the reason it is no UTF-8
    /// text. Checked before anything reads text: a lenient decoder would store U+FFFD in place of the bad bytes.
    /// </summary>
    public static bool TryRead(ReadOnlyMemory<byte> payload, out ReadOnlyMemory<byte> text, [NotNullWhen(false)] out string? problem)
    {
        // A byte-order mark is how some editors and PLC gateways start UTF-8 text, not part of the message.
        if (payload.Span.StartsWith(Bom))
        {
            payload = payload[Bom.Length..];
        }

        text = payload;
        problem = System.Text.Unicode.Utf8.IsValid(payload.Span) ? null : InvalidReason(payload.Span);
        return problem is null;
    }

    private static string InvalidReason(ReadOnlySpan<byte> payload)
    {
        var offset = 0;
        while (offset < payload.Length && System.Text.Rune.DecodeFromUtf8(payload[offset..], out _, out var consumed) == System.Buffers.OperationStatus.Done)
        {
            offset += consumed;
        }

        var b = offset < payload.Length ? payload[offset] : (byte)0;
        return $"payload is not valid UTF-8: byte 0x{b:X2} at offset {offset} starts no character (send text as UTF-8, or binary values base64-encoded)";
    }
}
