using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Encoding;

namespace Usine.Connectors.OpcUa.Transport;

/// <summary>A service response as the channel reassembled it: the type id of its encoding and its body after that id.</summary>
public readonly record struct ServiceResponse(NodeId TypeId, byte[] Buffer, int Offset);

/// <summary>
/// One UA-TCP connection with its secure channel (OPC 10000-6 §6.7 and §7.1): Hello/Acknowledge with the buffer,
/// message and chunk limits negotiated, OpenSecureChannel, requests cut into chunks and responses reassembled from
/// them, sequence numbers checked on every chunk, request ids matched, the token renewed at 75% of its lifetime,
/// CloseSecureChannel. Every chunk, sent or received, passes through the <see cref="IChannelSecurity"/> of the
/// channel. Anything malformed (a chunk beyond the limits, a sequence number out of order, a message that does not
/// decode) closes the channel with the reason in <see cref="Closed"/> and the log; the caller reconnects.
/// </summary>
public sealed partial class SecureChannel : IAsyncDisposable
{
    private const uint OpenSecureChannelRequestId = 446;
    private const uint OpenSecureChannelResponseId = 449;
    private const uint CloseSecureChannelRequestId = 452;

    // Sequence numbers wrap to below 1024 once past UInt32.MaxValue - 1024 (OPC 10000-6 §6.7.2.4).
    private const uint SequenceWrapLimit = uint.MaxValue - 1024;

    private readonly Uri _endpoint;
    private readonly IChannelSecurity _security;
    private readonly SecureChannelOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly BinaryEncoder _body = new(8192);
    private readonly BinaryEncoder _chunk = new(8192);
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<ServiceResponse>> _pending = new();
    private readonly Dictionary<uint, ArrayBufferWriter<byte>> _partial = [];
    private readonly TaskCompletionSource<Exception> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();

    private TcpClient? _tcp;
    private NetworkStream? _stream;
    private Task? _reader;
    private ITimer? _renewal;
    private uint _channelId;
    private uint _tokenId;
    private uint _previousTokenId;
    private uint _sendSequence;
    private uint _receiveSequence;
    private bool _receivedAny;
    private int _requestId;
    private uint _revisedLifetime;

    public SecureChannel(Uri endpoint, IChannelSecurity security, SecureChannelOptions? options = null, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(security);
        _endpoint = endpoint;
        _security = security;
        _options = options ?? new SecureChannelOptions();
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The limits both sides agreed on in Hello/Acknowledge: what the server takes (send side) and what it sends.</summary>
    public TransportLimits? ServerLimits { get; private set; }

    public uint ChannelId => _channelId;

    public uint TokenId => _tokenId;

    /// <summary>How many times the token was renewed.</summary>
    public int Renewals { get; private set; }

    public IChannelSecurity Security => _security;

    /// <summary>Completes once the channel is closed, with the reason (a <see cref="ChannelClosedException"/> when closed on request).</summary>
    public Task<Exception> Closed => _closed.Task;

    public bool IsOpen => !_closed.Task.IsCompleted && _stream is not null;

    /// <summary>Connects, exchanges Hello/Acknowledge and opens the secure channel.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        if (_tcp is not null)
        {
            throw new InvalidOperationException("a secure channel opens once; create a new one to reconnect");
        }

        if (!string.Equals(_endpoint.Scheme, "opc.tcp", StringComparison.OrdinalIgnoreCase))
        {
            throw new OpcUaException($"endpoint {_endpoint} is not an opc.tcp:// URL", new StatusCode(0x80840000), false);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        _tcp = new TcpClient { NoDelay = true };
        try
        {
            await _tcp.ConnectAsync(_endpoint.Host, _endpoint.Port < 0 ? 4840 : _endpoint.Port, timeout.Token);
            _stream = _tcp.GetStream();
            await HelloAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Fail(new OpcUaException($"no answer from {_endpoint} within {_options.ConnectTimeout.TotalSeconds:0.#} s", new StatusCode(0x800C0000), true));
            throw (Exception)_closed.Task.Result;
        }
        catch (SocketException ex)
        {
            Fail(new OpcUaException($"cannot connect to {_endpoint}: {ex.Message}", new StatusCode(0x80AC0000), true, ex));
            throw (Exception)_closed.Task.Result;
        }
        catch (Exception ex) when (ex is not OpcUaException)
        {
            Fail(new OpcUaException($"the Hello to {_endpoint} failed: {ex.Message}", new StatusCode(0x80050000), true, ex));
            throw (Exception)_closed.Task.Result;
        }
        catch (OpcUaException ex)
        {
            Fail(ex);
            throw;
        }

        _reader = Task.Run(ReadLoopAsync, CancellationToken.None);
        await OpenSecureChannelAsync(renew: false, cancellationToken);
    }

    private async Task HelloAsync(CancellationToken ct)
    {
        var mine = _options.Limits;
        var hello = new BinaryEncoder(256);
        hello.Position = 8;
        mine.Write(hello);
        hello.WriteString(_endpoint.ToString());
        var bytes = hello.ToArray();
        MessageTypes.WriteHeader(bytes, MessageTypes.Hello, MessageTypes.Final, (uint)bytes.Length);
        await _stream!.WriteAsync(bytes, ct);

        var header = new byte[8];
        await _stream.ReadExactlyAsync(header, ct);
        var type = BinaryPrimitives.ReadUInt32LittleEndian(header) & 0xFFFFFF;
        var size = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
        if (size < 8 || size > TransportLimits.MinBufferSize)
        {
            throw new OpcUaException($"{_endpoint} answered the Hello with a message of {size} bytes; an Acknowledge is 28", new StatusCode(0x807F0000), true);
        }

        var body = new byte[size - 8];
        await _stream.ReadExactlyAsync(body, ct);
        var d = new BinaryDecoder(body);
        if (type == MessageTypes.Error)
        {
            throw ErrorMessage(ref d);
        }

        if (type != MessageTypes.Acknowledge)
        {
            throw new OpcUaException($"{_endpoint} answered the Hello with a {MessageTypes.Name(type)} message instead of ACK", new StatusCode(0x807F0000), true);
        }

        var server = TransportLimits.Read(ref d);
        if (server.ReceiveBufferSize < TransportLimits.MinBufferSize || server.SendBufferSize < TransportLimits.MinBufferSize)
        {
            throw new OpcUaException($"{_endpoint} announced buffers of {server.ReceiveBufferSize}/{server.SendBufferSize} bytes, below the minimum of {TransportLimits.MinBufferSize}", new StatusCode(0x80820000), true);
        }

        if (server.SendBufferSize > mine.ReceiveBufferSize)
        {
            throw new OpcUaException($"{_endpoint} would send chunks of {server.SendBufferSize} bytes, more than the {mine.ReceiveBufferSize} this client offered", new StatusCode(0x80820000), true);
        }

        ServerLimits = server;
        LogHello(_logger, _endpoint.ToString(), server.ReceiveBufferSize, server.SendBufferSize, server.MaxMessageSize, server.MaxChunkCount);
    }

    private OpcUaException ErrorMessage(ref BinaryDecoder d)
    {
        var status = d.ReadStatusCode();
        var reason = d.ReadString();
        return new OpcUaException(
            $"{_endpoint} closed the connection: {status.Name} (0x{status.Code:X8}){(string.IsNullOrEmpty(reason) ? "" : ": " + reason)}",
            status,
            !OpcUaException.IsPermanent(status));
    }

    /// <summary>
    /// Sends a request whose body (its RequestHeader first) <paramref name="writeBody"/> writes after the type id
    /// <paramref name="typeId"/>, and returns the response. Throws <see cref="OpcUaException"/> when the channel
    /// closes first or no response comes within <paramref name="timeout"/>.
    /// </summary>
    public async Task<ServiceResponse> SendAsync<TState>(uint typeId, TState state, Action<BinaryEncoder, TState> writeBody, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(writeBody);
        var requestId = NextRequestId();
        var pending = new TaskCompletionSource<ServiceResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[requestId] = pending;
        try
        {
            await SendMessageAsync(MessageTypes.Message, requestId, typeId, state, writeBody, cancellationToken);
            return await pending.Task.WaitAsync(timeout, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new OpcUaException($"no response from {_endpoint} within {timeout.TotalSeconds:0.#} s", new StatusCode(0x800C0000), true);
        }
        finally
        {
            _pending.TryRemove(requestId, out _);
        }
    }

    private uint NextRequestId()
    {
        var id = (uint)Interlocked.Increment(ref _requestId);
        return id == 0 ? (uint)Interlocked.Increment(ref _requestId) : id;
    }

    private async Task SendMessageAsync<TState>(uint messageType, uint requestId, uint typeId, TState state, Action<BinaryEncoder, TState> writeBody, CancellationToken ct)
    {
        await _sendLock.WaitAsync(ct);
        try
        {
            if (_closed.Task.IsCompleted)
            {
                throw Closing(_closed.Task.Result);
            }

            _body.Reset();
            _body.WriteNodeId(new NodeId(0, typeId));
            writeBody(_body, state);
            await WriteChunksAsync(messageType, requestId, ct);
        }
        catch (IOException ex)
        {
            var reason = new OpcUaException($"sending to {_endpoint} failed: {ex.Message}", new StatusCode(0x80AD0000), true, ex);
            Fail(reason);
            throw reason;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private static OpcUaException Closing(Exception reason) =>
        reason as OpcUaException ?? new OpcUaException(reason.Message, new StatusCode(0x80870000), true, reason);

    private async Task WriteChunksAsync(uint messageType, uint requestId, CancellationToken ct)
    {
        var limits = ServerLimits!;
        var asymmetric = messageType == MessageTypes.Open;
        var body = _body.WrittenMemory;
        if (limits.MaxMessageSize != 0 && body.Length > limits.MaxMessageSize)
        {
            throw new OpcUaException($"a request of {body.Length} bytes exceeds the {limits.MaxMessageSize} bytes {_endpoint} accepts", new StatusCode(0x80090000), false);
        }

        var chunkSize = (int)Math.Min(limits.ReceiveBufferSize, _options.Limits.SendBufferSize);
        var chunks = 0;
        var offset = 0;
        do
        {
            _chunk.Reset();
            _chunk.Position = 8;
            _chunk.WriteUInt32(_channelId);
            if (asymmetric)
            {
                _chunk.WriteString(_security.PolicyUri);
                _chunk.WriteByteString(_security.LocalCertificate.Span, _security.LocalCertificate.IsEmpty);
                _chunk.WriteByteString(_security.RemoteCertificateThumbprint.Span, _security.RemoteCertificateThumbprint.IsEmpty);
            }
            else
            {
                _chunk.WriteUInt32(_tokenId);
            }

            var securityHeaderEnd = _chunk.Position;
            var room = _security.MaxBodySize(chunkSize, securityHeaderEnd, asymmetric);
            if (room <= 0)
            {
                throw new OpcUaException($"chunks of {chunkSize} bytes leave no room for a body under {_security.PolicyUri}", new StatusCode(0x80080000), false);
            }

            var take = Math.Min(room, body.Length - offset);
            var final = offset + take == body.Length;
            if (++chunks > limits.MaxChunkCount && limits.MaxChunkCount != 0)
            {
                throw new OpcUaException($"a request needs more than the {limits.MaxChunkCount} chunks {_endpoint} accepts", new StatusCode(0x80090000), false);
            }

            _chunk.WriteUInt32(NextSendSequence());
            _chunk.WriteUInt32(requestId);
            _chunk.WriteBytes(body.Span.Slice(offset, take));
            _chunk.PatchUInt32(0, messageType | ((uint)(final ? MessageTypes.Final : MessageTypes.Intermediate) << 24));
            _chunk.PatchUInt32(4, (uint)_chunk.Position);
            var sealedChunk = _security.Seal(_chunk.Written, securityHeaderEnd, asymmetric, _tokenId);
            await _stream!.WriteAsync(sealedChunk, ct);
            offset += take;
        }
        while (offset < body.Length);
    }

    private uint NextSendSequence()
    {
        _sendSequence = _sendSequence >= SequenceWrapLimit ? 1 : _sendSequence + 1;
        return _sendSequence;
    }

    /// <summary>Closes the channel: CloseSecureChannel, then the socket. Pending requests fail.</summary>
    public async Task CloseAsync()
    {
        if (_closed.Task.IsCompleted || _stream is null)
        {
            Fail(new ChannelClosedException($"the channel to {_endpoint} was closed"));
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), _time);
            await SendMessageAsync(MessageTypes.Close, NextRequestId(), CloseSecureChannelRequestId, this, static (e, self) => self.WriteRequestHeader(e, NodeId.Null, 0), timeout.Token);
        }
        catch (Exception ex) when (ex is OpcUaException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The server drops the channel when the socket closes just as well.
        }

        Fail(new ChannelClosedException($"the channel to {_endpoint} was closed"));
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        if (_reader is not null)
        {
            await _reader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _stopping.Dispose();
        _sendLock.Dispose();
    }

    /// <summary>Writes a RequestHeader (OPC 10000-4 §7.33) with the session's authentication token.</summary>
    public void WriteRequestHeader(BinaryEncoder e, NodeId authenticationToken, uint timeoutHint)
    {
        ArgumentNullException.ThrowIfNull(e);
        e.WriteNodeId(authenticationToken);
        e.WriteDateTime(_time.GetUtcNow().UtcDateTime);
        e.WriteUInt32((uint)Interlocked.Increment(ref _requestHandle));
        e.WriteUInt32(0); // return diagnostics
        e.WriteString(null); // audit entry id
        e.WriteUInt32(timeoutHint);
        e.WriteExtensionObject(null);
    }

    private int _requestHandle;

    /// <summary>Closes the channel with <paramref name="reason"/>: the socket shuts, pending requests fail, <see cref="Closed"/> completes.</summary>
    internal void Fail(Exception reason)
    {
        if (!_closed.TrySetResult(reason))
        {
            return;
        }

        if (reason is not ChannelClosedException)
        {
            LogChannelClosed(_logger, reason, _endpoint.ToString(), reason.Message);
        }

        _renewal?.Dispose();
        _stopping.Cancel();
        try
        {
            _tcp?.Client?.Close(0);
        }
        catch (ObjectDisposedException)
        {
        }

        _tcp?.Dispose();
        var failure = Closing(reason);
        foreach (var (_, pending) in _pending)
        {
            pending.TrySetException(failure);
        }
    }
}

/// <summary>The channel was closed on request.</summary>
public sealed class ChannelClosedException(string message) : Exception(message)
{
    public ChannelClosedException() : this("the channel was closed") { }

    public ChannelClosedException(string message, Exception inner) : this(message + ": " + inner.Message) { }
}

/// <summary>How a secure channel connects and what it offers in its Hello.</summary>
public sealed record SecureChannelOptions
{
    /// <summary>The buffers, message size and chunk count this client offers (default 64 KiB chunks, 16 MiB messages, 4096 chunks).</summary>
    public TransportLimits Limits { get; init; } = TransportLimits.Default;

    /// <summary>How long the TCP connection and the Hello may take (default 10 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The lifetime of a security token the client asks for (default 1 hour); the server may revise it. Renewed at 75%.</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromHours(1);
}
