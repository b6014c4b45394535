using System.Security.Cryptography;

namespace Usine.Connectors.Files.Internal;

/// <summary>Feeds every byte read through a hash, so a file is checked while it is imported, in one pass.</summary>
internal sealed class HashingStream(Stream inner, IncrementalHash hash) : ReadOnlyStream
{
    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = inner.Read(buffer, offset, count);
        hash.AppendData(buffer, offset, n);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        hash.AppendData(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
}

/// <summary>Gives back bytes already read (to sniff gzip) before the rest of the stream.</summary>
internal sealed class PrefixedStream(ReadOnlyMemory<byte> prefix, Stream rest) : ReadOnlyStream
{
    private ReadOnlyMemory<byte> _prefix = prefix;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_prefix.Length > 0)
        {
            var n = Math.Min(buffer.Length, _prefix.Length);
            _prefix.Span[..n].CopyTo(buffer);
            _prefix = _prefix[n..];
            return n;
        }

        return rest.Read(buffer);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_prefix.Length > 0)
        {
            return ValueTask.FromResult(Read(buffer.Span));
        }

        return rest.ReadAsync(buffer, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
}

/// <summary>
/// Reads a gzip file and turns a decompression failure into a sentence an operator can act on, rather than the
/// decompressor's own words ("The archive entry was compressed using an unsupported compression method"): the
/// file is damaged or was cut short, and where.
/// </summary>
/// <remarks>
/// The decompressor reports damaged data but not a file cut short: it just ends early. The last four bytes of a
/// gzip file give the size of its last member's content; a file cut short ends in compressed data instead, which
/// read as a size is almost always larger than everything decompressed, something no whole file can claim (a file
/// of several members claims only its last member's size). Files over 4 GiB, where that size wraps, are not checked.
/// </remarks>
internal sealed class GzipFileStream : ReadOnlyStream
{
    private readonly TailStream _compressed;
    private readonly System.IO.Compression.GZipStream _inner;
    private long _read;

    public GzipFileStream(Stream compressed)
    {
        _compressed = new TailStream(compressed);
        _inner = new System.IO.Compression.GZipStream(_compressed, System.IO.Compression.CompressionMode.Decompress);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        try
        {
            return Count(_inner.Read(buffer), buffer.Length);
        }
        catch (InvalidDataException ex)
        {
            throw Damaged(ex);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return Count(await _inner.ReadAsync(buffer, cancellationToken), buffer.Length);
        }
        catch (InvalidDataException ex)
        {
            throw Damaged(ex);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Count(int n, int asked)
    {
        _read += n;
        if (n == 0 && asked > 0 && _read < uint.MaxValue && _compressed.Size is { } claimed && claimed > _read)
        {
            throw Damaged(null);
        }

        return n;
    }

    private InvalidDataException Damaged(Exception? inner) => new(
        $"the file is gzip-compressed but damaged: it cannot be decompressed past {_read:N0} bytes of content (a copy cut short, or corrupted on the way); "
        + "send the whole file again (records already stored are not stored twice)", inner);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>Passes reads through and keeps the last four bytes read: the size field of a gzip trailer, once at the end.</summary>
internal sealed class TailStream(Stream inner) : ReadOnlyStream
{
    private readonly byte[] _tail = new byte[4];
    private long _total;

    /// <summary>The last four bytes read as a little-endian size, once four were read.</summary>
    public uint? Size => _total >= 4 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(Ordered()) : null;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer);
        Keep(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var n = await inner.ReadAsync(buffer, cancellationToken);
        Keep(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Keep(ReadOnlySpan<byte> bytes)
    {
        for (var j = Math.Max(0, bytes.Length - 4); j < bytes.Length; j++)
        {
            _tail[(_total + j) % 4] = bytes[j];
        }

        _total += bytes.Length;
    }

    private byte[] Ordered() => [.. Enumerable.Range(0, 4).Select(i => _tail[(_total + i) % 4])];
}

/// <summary>What every stream of this file shares: read forward only, once.</summary>
internal abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
