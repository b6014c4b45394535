using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Usine.Connectors.OpcUa.Security.Internal;

/// <summary>
/// The footer and the transformations of OPC 10000-6 §6.7.2 for algorithms without authenticated encryption:
/// PaddingSize, Padding and (for keys over 2048 bits) ExtraPaddingSize so that the sequence header through the
/// signature fill whole plain-text blocks, a signature over everything before it, and encryption of the
/// sequence header through the signature. Subclasses bring the algorithms: RSA for OpenSecureChannel, AES and
/// HMAC for the messages of a token. The layout can differ per direction (the two RSA keys need not have the
/// same size), so the sending and receiving ones are separate.
/// </summary>
internal abstract class ChunkProtection
{
    private const int MessageHeaderSize = 8;
    private const int SequenceHeaderSize = 8;

    protected readonly record struct Layout(bool Encrypted, int PlainBlock, int CipherBlock, int SignatureSize, bool ExtraPadding)
    {
        public int ExtraPaddingBytes => ExtraPadding ? 1 : 0;
    }

    protected abstract Layout SendLayout { get; }

    protected abstract Layout ReceiveLayout { get; }

    /// <summary>Names what is being opened in error messages, e.g. "OpenSecureChannel chunk".</summary>
    protected abstract string What { get; }

    protected abstract void Sign(ReadOnlySpan<byte> data, Span<byte> signature);

    protected abstract bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature);

    /// <summary>Encrypts whole plain-text blocks into whole cipher-text blocks.</summary>
    protected abstract void Encrypt(ReadOnlySpan<byte> plain, Span<byte> cipher);

    /// <summary>Decrypts whole cipher-text blocks; throws <see cref="CryptographicException"/> saying why it cannot.</summary>
    protected abstract void Decrypt(ReadOnlySpan<byte> cipher, Span<byte> plain);

    public int MaxBodySize(int chunkSize, int headerSize) => MaxBodySize(SendLayout, chunkSize, headerSize);

    protected static int MaxBodySize(Layout layout, int chunkSize, int headerSize)
    {
        var room = chunkSize - headerSize;
        var max = layout.Encrypted
            ? room / layout.CipherBlock * layout.PlainBlock - SequenceHeaderSize - layout.SignatureSize - 1 - layout.ExtraPaddingBytes
            : room - SequenceHeaderSize - layout.SignatureSize;
        if (max <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkSize),
                $"A chunk of {chunkSize} bytes with {headerSize} bytes of headers leaves no room for a body once the " +
                $"sequence header, the padding and a {layout.SignatureSize}-byte signature are in.");
        }
        return max;
    }

    public byte[] Seal(ReadOnlySpan<byte> plain, int securityHeaderEnd)
    {
        if (securityHeaderEnd < MessageHeaderSize || plain.Length < securityHeaderEnd + SequenceHeaderSize)
        {
            throw new ArgumentException(
                $"A chunk of {plain.Length} bytes cannot have its security header end at {securityHeaderEnd} and still hold the sequence header.",
                nameof(securityHeaderEnd));
        }

        var layout = SendLayout;
        var padding = 0;
        var footer = 0;
        if (layout.Encrypted)
        {
            var unpadded = plain.Length - securityHeaderEnd + 1 + layout.ExtraPaddingBytes + layout.SignatureSize;
            padding = (layout.PlainBlock - unpadded % layout.PlainBlock) % layout.PlainBlock;
            footer = 1 + padding + layout.ExtraPaddingBytes;
        }

        var signedLength = plain.Length + footer;
        var totalPlain = signedLength + layout.SignatureSize;
        var wireLength = layout.Encrypted
            ? securityHeaderEnd + (totalPlain - securityHeaderEnd) / layout.PlainBlock * layout.CipherBlock
            : totalPlain;

        var buffer = new byte[totalPlain];
        plain.CopyTo(buffer);
        if (layout.Encrypted)
        {
            buffer.AsSpan(plain.Length, 1 + padding).Fill((byte)padding);
            if (layout.ExtraPadding)
            {
                buffer[plain.Length + 1 + padding] = (byte)(padding >> 8);
            }
        }
        // The size field is signed, so it must already hold the size of the chunk as it goes on the wire.
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), (uint)wireLength);
        Sign(buffer.AsSpan(0, signedLength), buffer.AsSpan(signedLength));
        if (!layout.Encrypted)
        {
            return buffer;
        }

        var wire = new byte[wireLength];
        buffer.AsSpan(0, securityHeaderEnd).CopyTo(wire);
        Encrypt(buffer.AsSpan(securityHeaderEnd), wire.AsSpan(securityHeaderEnd));
        CryptographicOperations.ZeroMemory(buffer);
        return wire;
    }

    public byte[] Open(ReadOnlySpan<byte> chunk, int securityHeaderEnd)
    {
        var layout = ReceiveLayout;
        if (securityHeaderEnd < MessageHeaderSize || chunk.Length < securityHeaderEnd + SequenceHeaderSize + layout.SignatureSize)
        {
            throw Fail($"is {chunk.Length} bytes long, too short for its headers and a {layout.SignatureSize}-byte signature");
        }
        var declared = BinaryPrimitives.ReadUInt32LittleEndian(chunk[4..]);
        if (declared != chunk.Length)
        {
            throw Fail($"says it is {declared} bytes long but is {chunk.Length}");
        }

        byte[] buffer;
        if (layout.Encrypted)
        {
            var cipherLength = chunk.Length - securityHeaderEnd;
            if (cipherLength % layout.CipherBlock != 0)
            {
                throw Fail($"has {cipherLength} encrypted bytes, not a whole number of {layout.CipherBlock}-byte blocks");
            }
            buffer = new byte[securityHeaderEnd + cipherLength / layout.CipherBlock * layout.PlainBlock];
            chunk[..securityHeaderEnd].CopyTo(buffer);
            Decrypt(chunk[securityHeaderEnd..], buffer.AsSpan(securityHeaderEnd));
        }
        else
        {
            buffer = chunk.ToArray();
        }

        var signedLength = buffer.Length - layout.SignatureSize;
        if (signedLength < securityHeaderEnd + SequenceHeaderSize)
        {
            throw Fail("is too short for its sequence header once decrypted");
        }
        if (!Verify(buffer.AsSpan(0, signedLength), buffer.AsSpan(signedLength)))
        {
            throw Fail("has a signature that does not verify: it was changed on the way or not signed with the key this channel expects");
        }

        var end = signedLength;
        if (layout.Encrypted)
        {
            // Read back to front: [ExtraPaddingSize], then the last padding byte, which repeats PaddingSize.
            var low = buffer[end - layout.ExtraPaddingBytes - 1];
            var padding = layout.ExtraPadding ? buffer[end - 1] << 8 | low : low;
            var paddingStart = end - layout.ExtraPaddingBytes - padding - 1;
            if (paddingStart < securityHeaderEnd + SequenceHeaderSize
                || buffer.AsSpan(paddingStart, padding + 1).ContainsAnyExcept(low))
            {
                throw Fail("has padding that is not well formed");
            }
            end = paddingStart;
        }

        var opened = buffer.AsSpan(0, end).ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(opened.AsSpan(4), (uint)opened.Length);
        return opened;
    }

    protected CryptographicException Fail(string problem, Exception? inner = null) =>
        new($"The received {What} {problem}.", inner);
}
