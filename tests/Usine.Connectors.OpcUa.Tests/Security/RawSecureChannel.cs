using System.Buffers.Binary;
using System.Net.Sockets;
using Usine.Connectors.OpcUa.Channel;

namespace Usine.Connectors.OpcUa.Tests.Security;

/// <summary>
/// Just enough of UA-TCP and the secure channel, laid out by hand, to drive a policy against a real server
/// without the client: Hello/Acknowledge, OpenSecureChannel, one GetEndpoints under the token's keys, and
/// CloseSecureChannel. It checks the policy's wire format on its own, independent of the channel code.
/// </summary>
internal sealed class RawSecureChannel : IAsyncDisposable
{
    private const ushort OpenSecureChannelRequestId = 446;
    private const ushort OpenSecureChannelResponseId = 449;
    private const ushort CloseSecureChannelRequestId = 452;
    private const ushort GetEndpointsRequestId = 428;
    private const ushort GetEndpointsResponseId = 431;
    private const int SymmetricHeaderEnd = 16;

    private readonly TcpClient _tcp = new();
    private readonly IChannelSecurity _security;
    private readonly string _endpointUrl;
    private NetworkStream _stream = null!;
    private uint _channelId;
    private uint _sequenceNumber;
    private uint _requestId;

    public RawSecureChannel(IChannelSecurity security, string endpointUrl)
    {
        _security = security;
        _endpointUrl = endpointUrl;
    }

    public uint TokenId { get; private set; }

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var uri = new Uri(_endpointUrl);
        await _tcp.ConnectAsync(uri.Host, uri.Port, cancellationToken);
        _stream = _tcp.GetStream();

        var hello = new Writer();
        hello.Bytes("HELF"u8);
        hello.UInt32(0);
        hello.UInt32(0); // protocol version
        hello.UInt32(65536); // receive buffer
        hello.UInt32(65536); // send buffer
        hello.UInt32(0); // max message size: no limit
        hello.UInt32(0); // max chunk count: no limit
        hello.String(_endpointUrl);
        await SendAsync(hello.WithSize(), cancellationToken);
        var ack = await ReceiveAsync(cancellationToken);
        if (!ack.AsSpan(0, 4).SequenceEqual("ACKF"u8))
        {
            throw new InvalidOperationException($"The server answered Hello with {Describe(ack)}.");
        }
    }

    /// <summary>Opens the channel with the policy; returns the server's nonce.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        var clientNonce = _security.CreateClientNonce();
        var chunk = new Writer();
        chunk.Bytes("OPNF"u8);
        chunk.UInt32(0);
        chunk.UInt32(0); // SecureChannelId: none yet
        chunk.String(_security.PolicyUri);
        chunk.ByteString(_security.LocalCertificate.Span);
        chunk.ByteString(_security.RemoteCertificateThumbprint.Span);
        var securityHeaderEnd = chunk.Length;
        SequenceHeader(chunk);
        chunk.NodeId(OpenSecureChannelRequestId);
        RequestHeader(chunk);
        chunk.UInt32(0); // client protocol version
        chunk.UInt32(0); // request type: Issue
        chunk.UInt32((uint)_security.Mode);
        chunk.ByteString(clientNonce);
        chunk.UInt32(600_000); // requested lifetime, ms

        await SendAsync(_security.Seal(chunk.ToArray(), securityHeaderEnd, asymmetric: true, tokenId: 0), cancellationToken);
        var response = await ReceiveAsync(cancellationToken);
        if (!response.AsSpan(0, 4).SequenceEqual("OPNF"u8))
        {
            throw new InvalidOperationException($"The server answered OpenSecureChannel with {Describe(response)}.");
        }
        var plain = _security.Open(response, AsymmetricHeaderEnd(response), asymmetric: true, tokenId: 0);

        var reader = new Reader(plain, AsymmetricHeaderEnd(plain) + 8);
        reader.ExpectNodeId(OpenSecureChannelResponseId);
        reader.ResponseHeader();
        reader.UInt32(); // server protocol version
        _channelId = reader.UInt32();
        TokenId = reader.UInt32();
        reader.Skip(8 + 4); // createdAt, revisedLifetime
        var serverNonce = reader.ByteString();
        reader.ExpectEnd("OpenSecureChannel response");
        _security.DeriveKeys(TokenId, clientNonce, serverNonce);
    }

    /// <summary>Sends GetEndpoints under the token's keys and returns how many endpoints the server described, and the raw response.</summary>
    public async Task<(int Endpoints, byte[] Body)> GetEndpointsAsync(CancellationToken cancellationToken)
    {
        var chunk = SymmetricChunk("MSGF"u8);
        chunk.NodeId(GetEndpointsRequestId);
        RequestHeader(chunk);
        chunk.String(_endpointUrl);
        chunk.Int32(-1); // locale ids
        chunk.Int32(-1); // profile uris
        await SendAsync(_security.Seal(chunk.ToArray(), SymmetricHeaderEnd, asymmetric: false, TokenId), cancellationToken);

        var response = await ReceiveAsync(cancellationToken);
        if (!response.AsSpan(0, 4).SequenceEqual("MSGF"u8))
        {
            throw new InvalidOperationException($"The server answered GetEndpoints with {Describe(response)}.");
        }
        var tokenId = BinaryPrimitives.ReadUInt32LittleEndian(response.AsSpan(12));
        var plain = _security.Open(response, SymmetricHeaderEnd, asymmetric: false, tokenId);
        var reader = new Reader(plain, SymmetricHeaderEnd + 8);
        reader.ExpectNodeId(GetEndpointsResponseId);
        reader.ResponseHeader();
        return (reader.Int32(), plain);
    }

    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        var chunk = SymmetricChunk("CLOF"u8);
        chunk.NodeId(CloseSecureChannelRequestId);
        RequestHeader(chunk);
        await SendAsync(_security.Seal(chunk.ToArray(), SymmetricHeaderEnd, asymmetric: false, TokenId), cancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }

    private Writer SymmetricChunk(ReadOnlySpan<byte> type)
    {
        var chunk = new Writer();
        chunk.Bytes(type);
        chunk.UInt32(0);
        chunk.UInt32(_channelId);
        chunk.UInt32(TokenId);
        SequenceHeader(chunk);
        return chunk;
    }

    private void SequenceHeader(Writer chunk)
    {
        chunk.UInt32(++_sequenceNumber);
        chunk.UInt32(++_requestId);
    }

    private void RequestHeader(Writer chunk)
    {
        chunk.Bytes([0x00, 0x00]); // authentication token: null NodeId
        chunk.Int64(DateTime.UtcNow.ToFileTimeUtc());
        chunk.UInt32(_requestId); // request handle
        chunk.UInt32(0); // return diagnostics
        chunk.Int32(-1); // audit entry id
        chunk.UInt32(10_000); // timeout hint
        chunk.Bytes([0x00, 0x00, 0x00]); // additional header: null ExtensionObject
    }

    private static int AsymmetricHeaderEnd(byte[] chunk)
    {
        var offset = 12;
        for (var field = 0; field < 3; field++)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(chunk.AsSpan(offset));
            offset += 4 + Math.Max(0, length);
        }
        return offset;
    }

    private static string Describe(byte[] message)
    {
        var type = System.Text.Encoding.ASCII.GetString(message, 0, 4);
        if (type != "ERRF")
        {
            return $"a {type} message";
        }
        var code = BinaryPrimitives.ReadUInt32LittleEndian(message.AsSpan(8));
        var length = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(12));
        var reason = length > 0 ? System.Text.Encoding.UTF8.GetString(message, 16, length) : "";
        return $"error 0x{code:X8} '{reason}'";
    }

    private async Task SendAsync(byte[] message, CancellationToken cancellationToken) =>
        await _stream.WriteAsync(message, cancellationToken);

    private async Task<byte[]> ReceiveAsync(CancellationToken cancellationToken)
    {
        var header = new byte[8];
        await _stream.ReadExactlyAsync(header, cancellationToken);
        var size = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4));
        var message = new byte[size];
        header.CopyTo(message, 0);
        await _stream.ReadExactlyAsync(message.AsMemory(8), cancellationToken);
        return message;
    }

    private sealed class Writer
    {
        private readonly List<byte> _bytes = [];

        public int Length => _bytes.Count;

        public void Bytes(ReadOnlySpan<byte> value) => _bytes.AddRange(value.ToArray());

        public void UInt32(uint value) => _bytes.AddRange(BitConverter.GetBytes(value));

        public void Int32(int value) => _bytes.AddRange(BitConverter.GetBytes(value));

        public void Int64(long value) => _bytes.AddRange(BitConverter.GetBytes(value));

        public void String(string value) => ByteString(System.Text.Encoding.UTF8.GetBytes(value));

        public void ByteString(ReadOnlySpan<byte> value)
        {
            Int32(value.Length);
            Bytes(value);
        }

        // Four-byte NodeId encoding: namespace 0, numeric identifier.
        public void NodeId(ushort id)
        {
            _bytes.Add(0x01);
            _bytes.Add(0x00);
            _bytes.AddRange(BitConverter.GetBytes(id));
        }

        public byte[] ToArray() => [.. _bytes];

        public byte[] WithSize()
        {
            var bytes = ToArray();
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length);
            return bytes;
        }
    }

    private sealed class Reader(byte[] bytes, int offset)
    {
        private int _offset = offset;

        public uint UInt32()
        {
            var value = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(_offset));
            _offset += 4;
            return value;
        }

        public int Int32() => (int)UInt32();

        public void Skip(int count) => _offset += count;

        public byte[] ByteString()
        {
            var length = Int32();
            if (length <= 0)
            {
                return [];
            }
            var value = bytes.AsSpan(_offset, length).ToArray();
            _offset += length;
            return value;
        }

        public void ExpectNodeId(ushort id)
        {
            if (bytes[_offset] != 0x01 || bytes[_offset + 1] != 0x00 || BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(_offset + 2)) != id)
            {
                throw new InvalidOperationException($"Expected the type id i={id}, found bytes {Convert.ToHexString(bytes, _offset, 4)}.");
            }
            _offset += 4;
        }

        /// <summary>What Open gave back ends with the message: no padding or signature left behind.</summary>
        public void ExpectEnd(string what)
        {
            if (_offset != bytes.Length)
            {
                throw new InvalidOperationException($"The opened {what} has {bytes.Length - _offset} bytes after its last field.");
            }
        }

        public void ResponseHeader()
        {
            Skip(8 + 4); // timestamp, request handle
            var serviceResult = UInt32();
            if (serviceResult != 0)
            {
                throw new InvalidOperationException($"The server answered with service result 0x{serviceResult:X8}.");
            }
            if (bytes[_offset++] != 0)
            {
                throw new InvalidOperationException("The response carries diagnostics, which this reader does not skip.");
            }
            var strings = Int32();
            for (var i = 0; i < strings; i++)
            {
                ByteString();
            }
            Skip(3); // additional header: null ExtensionObject
        }
    }
}
