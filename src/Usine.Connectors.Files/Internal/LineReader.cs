using System.Buffers;
using System.IO.Pipelines;

namespace Usine.Connectors.Files.Internal;

/// <summary>
/// Splits a byte stream into lines without holding more than one line: a line longer than the size limit
/// is cut (its first bytes kept, its full length counted) so that a runaway file cannot exhaust memory.
/// </summary>
internal sealed class LineReader(PipeReader reader, int maxLineBytes)
{
    private readonly ArrayBufferWriter<byte> _line = new();
    private long _number;
    private bool _done;

    /// <summary>A line; <see cref="Bytes"/> is only valid until the next call.</summary>
    public readonly record struct Line(long Number, ReadOnlyMemory<byte> Bytes, long ReceivedLength);

    public async ValueTask<Line?> NextAsync(CancellationToken ct)
    {
        if (_done)
        {
            return null;
        }

        _line.Clear();
        long length = 0;
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            var buffer = result.Buffer;
            var eol = buffer.PositionOf((byte)'\n');
            var chunk = eol is null ? buffer : buffer.Slice(0, eol.Value);
            foreach (var seg in chunk)
            {
                length += seg.Length;
                var room = maxLineBytes + 1 - _line.WrittenCount;
                if (room > 0)
                {
                    _line.Write(seg.Span[..Math.Min(room, seg.Length)]);
                }
            }

            if (eol is not null)
            {
                reader.AdvanceTo(buffer.GetPosition(1, eol.Value));
                return Make(length);
            }

            reader.AdvanceTo(buffer.End);
            if (result.IsCompleted)
            {
                _done = true;
                return length == 0 ? null : Make(length);
            }
        }
    }

    private Line Make(long length)
    {
        _number++;
        var bytes = _line.WrittenMemory;
        if (length == bytes.Length && bytes.Length > 0 && bytes.Span[^1] == '\r')
        {
            bytes = bytes[..^1];
            length--;
        }

        return new Line(_number, bytes, length > bytes.Length ? length : 0);
    }

    /// <summary>The first byte that is not white space, without consuming anything.</summary>
    public async ValueTask<byte?> PeekFirstByteAsync(CancellationToken ct)
    {
        while (true)
        {
            var result = await reader.ReadAsync(ct);
            foreach (var seg in result.Buffer)
            {
                foreach (var b in seg.Span)
                {
                    if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or 0xEF or 0xBB or 0xBF))
                    {
                        reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                        return b;
                    }
                }
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted)
            {
                return null;
            }
        }
    }

    /// <summary>Hands the rest of the input to a streaming parser.</summary>
    public Task DrainToAsync(Func<Stream, Task> consume) => consume(reader.AsStream(leaveOpen: true));
}
