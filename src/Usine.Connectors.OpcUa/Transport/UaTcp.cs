using System.Buffers.Binary;
using Usine.Connectors.OpcUa.Encoding;

namespace Usine.Connectors.OpcUa.Transport;

/// <summary>The message types of UA-TCP and UA-SecureConversation (OPC 10000-6 §7.1.2), as their three ASCII letters.</summary>
internal static class MessageTypes
{
    public const uint Hello = 'H' | ('E' << 8) | ('L' << 16);
    public const uint Acknowledge = 'A' | ('C' << 8) | ('K' << 16);
    public const uint Error = 'E' | ('R' << 8) | ('R' << 16);
    public const uint ReverseHello = 'R' | ('H' << 8) | ('E' << 16);
    public const uint Message = 'M' | ('S' << 8) | ('G' << 16);
    public const uint Open = 'O' | ('P' << 8) | ('N' << 16);
    public const uint Close = 'C' | ('L' << 8) | ('O' << 16);

    public const byte Final = (byte)'F';
    public const byte Intermediate = (byte)'C';
    public const byte Abort = (byte)'A';

    public static string Name(uint type) => new([(char)(type & 0xFF), (char)((type >> 8) & 0xFF), (char)((type >> 16) & 0xFF)]);

    public static void WriteHeader(Span<byte> header, uint type, byte chunkType, uint size)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, type | ((uint)chunkType << 24));
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], size);
    }
}

/// <summary>What each side of a UA-TCP connection said it can take (OPC 10000-6 §7.1.2.3 and §7.1.2.4).</summary>
/// <param name="ReceiveBufferSize">The largest chunk the sender of this message can receive.</param>
/// <param name="SendBufferSize">The largest chunk the sender of this message will send.</param>
/// <param name="MaxMessageSize">The largest message the sender of this message can receive; 0: no limit.</param>
/// <param name="MaxChunkCount">The most chunks of one message the sender of this message can receive; 0: no limit.</param>
public sealed record TransportLimits(uint ReceiveBufferSize, uint SendBufferSize, uint MaxMessageSize, uint MaxChunkCount)
{
    /// <summary>The smallest buffer the specification lets either side announce.</summary>
    public const uint MinBufferSize = 8192;

    public static readonly TransportLimits Default = new(65535, 65535, 16 * 1024 * 1024, 4096);

    internal void Write(BinaryEncoder e)
    {
        e.WriteUInt32(0); // protocol version
        e.WriteUInt32(ReceiveBufferSize);
        e.WriteUInt32(SendBufferSize);
        e.WriteUInt32(MaxMessageSize);
        e.WriteUInt32(MaxChunkCount);
    }

    internal static TransportLimits Read(ref BinaryDecoder d)
    {
        d.ReadUInt32(); // protocol version: the server's, which may be higher; version 0 is what both speak
        return new TransportLimits(d.ReadUInt32(), d.ReadUInt32(), d.ReadUInt32(), d.ReadUInt32());
    }
}
