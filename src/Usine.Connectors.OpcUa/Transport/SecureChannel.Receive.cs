using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Encoding;

namespace Usine.Connectors.OpcUa.Transport;

public sealed partial class SecureChannel
{
    private byte[] _clientNonce = [];

    private async Task ReadLoopAsync()
    {
        var header = new byte[8];
        var limit = _options.Limits.ReceiveBufferSize;
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                await _stream!.ReadExactlyAsync(header, _stopping.Token);
                var word = BinaryPrimitives.ReadUInt32LittleEndian(header);
                var type = word & 0xFFFFFF;
                var chunkType = (byte)(word >> 24);
                var size = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
                if (size < 16 || size > limit)
                {
                    throw new ProtocolViolation($"a {MessageTypes.Name(type)} chunk announces {size} bytes; chunks must be from 16 to the {limit} bytes negotiated");
                }

                var chunk = ArrayPool<byte>.Shared.Rent((int)size);
                try
                {
                    header.CopyTo(chunk, 0);
                    await _stream.ReadExactlyAsync(chunk.AsMemory(8, (int)size - 8), _stopping.Token);
                    Dispatch(type, chunkType, chunk.AsSpan(0, (int)size));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(chunk);
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (EndOfStreamException)
        {
            Fail(new OpcUaException($"{_endpoint} closed the connection", new StatusCode(0x80AE0000), true));
        }
        catch (IOException ex)
        {
            Fail(new OpcUaException($"the connection to {_endpoint} broke: {ex.Message}", new StatusCode(0x80AE0000), true, ex));
        }
        catch (ObjectDisposedException) when (_closed.Task.IsCompleted)
        {
        }
        catch (ProtocolViolation ex)
        {
            Fail(new OpcUaException($"{_endpoint} sent a malformed chunk: {ex.Message}; the channel is closed", new StatusCode(0x80070000), true, ex));
        }
        catch (DecodingException ex)
        {
            Fail(new OpcUaException($"{_endpoint} sent a chunk that does not decode: {ex.Message}; the channel is closed", new StatusCode(0x80070000), true, ex));
        }
        catch (CryptographicException ex)
        {
            Fail(new OpcUaException($"a chunk from {_endpoint} failed its security check: {ex.Message}; the channel is closed", new StatusCode(0x80140000), true, ex));
        }
        catch (OpcUaException ex)
        {
            Fail(ex);
        }
    }

    private void Dispatch(uint type, byte chunkType, ReadOnlySpan<byte> chunk)
    {
        if (type == MessageTypes.Error)
        {
            var d = new BinaryDecoder(chunk[8..]);
            throw ErrorMessage(ref d);
        }

        var asymmetric = type == MessageTypes.Open;
        if (!asymmetric && type != MessageTypes.Message && type != MessageTypes.Close)
        {
            throw new ProtocolViolation($"unexpected message type '{MessageTypes.Name(type)}'");
        }

        if (chunkType is not (MessageTypes.Final or MessageTypes.Intermediate or MessageTypes.Abort))
        {
            throw new ProtocolViolation($"unknown chunk type '{(char)chunkType}'");
        }

        var header = new BinaryDecoder(chunk);
        header.Skip(8);
        var channelId = header.ReadUInt32();
        if (_channelId != 0 && channelId != _channelId)
        {
            throw new ProtocolViolation($"a chunk names secure channel {channelId}, but this channel is {_channelId}");
        }

        uint tokenId = 0;
        if (asymmetric)
        {
            var policy = header.ReadString();
            header.ReadByteString(); // the server's certificate: the policy checks it in Open
            header.ReadByteString();
            if (policy != _security.PolicyUri)
            {
                throw new ProtocolViolation($"the server answered with security policy {policy}, not {_security.PolicyUri}");
            }
        }
        else
        {
            tokenId = header.ReadUInt32();
            if (tokenId != _tokenId && tokenId != _previousTokenId)
            {
                throw new ProtocolViolation($"a chunk uses security token {tokenId}, which this channel does not know (current {_tokenId})");
            }
        }

        var securityHeaderEnd = header.Position;
        var plain = _security.Open(chunk, securityHeaderEnd, asymmetric, tokenId);
        if (plain.Length < securityHeaderEnd + 8)
        {
            throw new ProtocolViolation("a chunk ends inside its sequence header");
        }

        var sequence = BinaryPrimitives.ReadUInt32LittleEndian(plain.AsSpan(securityHeaderEnd));
        var requestId = BinaryPrimitives.ReadUInt32LittleEndian(plain.AsSpan(securityHeaderEnd + 4));
        CheckSequence(sequence);
        var body = plain.AsSpan(securityHeaderEnd + 8);

        if (type == MessageTypes.Close)
        {
            throw new OpcUaException($"{_endpoint} closed the secure channel", new StatusCode(0x80870000), true);
        }

        if (chunkType == MessageTypes.Abort)
        {
            _partial.Remove(requestId);
            var d = new BinaryDecoder(body);
            var status = d.ReadStatusCode();
            var reason = d.ReadString();
            if (_pending.TryGetValue(requestId, out var aborted))
            {
                aborted.TrySetException(OpcUaException.FromStatus("the response", status, "the server aborted it" + (reason is null ? "" : ": " + reason)));
            }

            return;
        }

        byte[] message;
        if (chunkType == MessageTypes.Intermediate || _partial.ContainsKey(requestId))
        {
            if (!_partial.TryGetValue(requestId, out var parts))
            {
                parts = _partial[requestId] = new ArrayBufferWriter<byte>(body.Length * 2);
            }

            parts.Write(body);
            var max = _options.Limits.MaxMessageSize;
            if (max != 0 && parts.WrittenCount > max)
            {
                throw new ProtocolViolation($"a response grows beyond the {max} bytes negotiated");
            }

            if (chunkType == MessageTypes.Intermediate)
            {
                return;
            }

            _partial.Remove(requestId);
            message = parts.WrittenSpan.ToArray();
        }
        else
        {
            message = body.ToArray();
        }

        var decoder = new BinaryDecoder(message);
        var typeId = decoder.ReadNodeId();
        var response = new ServiceResponse(typeId, message, decoder.Position);
        if (_pending.TryGetValue(requestId, out var pending))
        {
            pending.TrySetResult(response);
        }
        else
        {
            LogUnexpectedResponse(_logger, _endpoint.ToString(), requestId);
        }
    }

    private void CheckSequence(uint sequence)
    {
        if (_receivedAny)
        {
            var expected = _receiveSequence >= SequenceWrapLimit ? sequence < 1024 : sequence == _receiveSequence + 1;
            if (!expected)
            {
                throw new ProtocolViolation($"sequence number {sequence} follows {_receiveSequence}; a chunk was lost, repeated or replayed");
            }
        }

        _receivedAny = true;
        _receiveSequence = sequence;
    }

    private async Task OpenSecureChannelAsync(bool renew, CancellationToken ct)
    {
        var requestId = NextRequestId();
        var pending = new TaskCompletionSource<ServiceResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[requestId] = pending;
        ServiceResponse response;
        try
        {
            _clientNonce = _security.CreateClientNonce();
            await SendMessageAsync(MessageTypes.Open, requestId, OpenSecureChannelRequestId, (self: this, renew), static (e, s) =>
            {
                s.self.WriteRequestHeader(e, NodeId.Null, 0);
                e.WriteUInt32(0); // client protocol version
                e.WriteInt32(s.renew ? 1 : 0); // RequestType Issue or Renew
                e.WriteInt32((int)s.self._security.Mode);
                e.WriteByteString(s.self._clientNonce);
                e.WriteUInt32((uint)s.self._options.TokenLifetime.TotalMilliseconds);
            }, ct);
            response = await pending.Task.WaitAsync(_options.ConnectTimeout, _time, ct);
        }
        catch (TimeoutException)
        {
            var timedOut = new OpcUaException($"{_endpoint} did not answer OpenSecureChannel within {_options.ConnectTimeout.TotalSeconds:0.#} s", new StatusCode(0x800C0000), true);
            Fail(timedOut);
            throw timedOut;
        }
        finally
        {
            _pending.TryRemove(requestId, out _);
        }

        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        var result = ResponseHeader.Read(ref d, response.TypeId, "OpenSecureChannel");
        if (response.TypeId.Numeric != OpenSecureChannelResponseId)
        {
            throw new OpcUaException($"{_endpoint} answered OpenSecureChannel with message type {response.TypeId}", new StatusCode(0x800B0000), true);
        }

        _ = result;
        d.ReadUInt32(); // server protocol version
        var channelId = d.ReadUInt32();
        var tokenId = d.ReadUInt32();
        d.ReadDateTime(); // created at, by the server's clock
        var lifetime = d.ReadUInt32();
        var serverNonce = d.ReadByteString() ?? [];
        _security.DeriveKeys(tokenId, _clientNonce, serverNonce);

        await _sendLock.WaitAsync(ct);
        _channelId = channelId;
        _previousTokenId = _tokenId;
        _tokenId = tokenId;
        _revisedLifetime = lifetime;
        _sendLock.Release();

        if (renew)
        {
            Renewals++;
            LogRenewed(_logger, _endpoint.ToString(), channelId, tokenId, lifetime);
        }
        else
        {
            LogOpened(_logger, _endpoint.ToString(), channelId, tokenId, _security.PolicyUri, _security.Mode.ToString(), lifetime);
        }

        ScheduleRenewal();
    }

    private void ScheduleRenewal()
    {
        // Renewed at 75% of the lifetime (OPC 10000-4 §5.5.2), leaving a quarter for the exchange to succeed.
        var due = TimeSpan.FromMilliseconds(Math.Max(1000, _revisedLifetime * 0.75));
        _renewal?.Dispose();
        _renewal = _time.CreateTimer(static s => ((SecureChannel)s!).Renew(), this, due, Timeout.InfiniteTimeSpan);
    }

    private void Renew() => _ = Task.Run(async () =>
    {
        try
        {
            await OpenSecureChannelAsync(renew: true, _stopping.Token);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (!_closed.Task.IsCompleted)
            {
                Fail(ex as OpcUaException ?? new OpcUaException($"renewing the security token with {_endpoint} failed: {ex.Message}", new StatusCode(0x80880000), true, ex));
            }
        }
    });

    /// <summary>A chunk breaks the protocol; the channel closes with this reason.</summary>
    private sealed class ProtocolViolation(string message) : Exception(message);

    // Log events 2100-2119: the channel.
    [LoggerMessage(2100, LogLevel.Debug, "OPC UA {Endpoint}: acknowledged, server receives chunks up to {ReceiveBuffer} bytes, sends up to {SendBuffer}, messages up to {MaxMessage} bytes in {MaxChunks} chunks (0: no limit)")]
    private static partial void LogHello(ILogger logger, string endpoint, uint receiveBuffer, uint sendBuffer, uint maxMessage, uint maxChunks);

    [LoggerMessage(2101, LogLevel.Information, "OPC UA {Endpoint}: secure channel {ChannelId} open (token {TokenId}, {Policy}, {Mode}, lifetime {Lifetime} ms)")]
    private static partial void LogOpened(ILogger logger, string endpoint, uint channelId, uint tokenId, string policy, string mode, uint lifetime);

    [LoggerMessage(2102, LogLevel.Debug, "OPC UA {Endpoint}: secure channel {ChannelId} renewed, token {TokenId}, lifetime {Lifetime} ms")]
    private static partial void LogRenewed(ILogger logger, string endpoint, uint channelId, uint tokenId, uint lifetime);

    [LoggerMessage(2103, LogLevel.Warning, "OPC UA {Endpoint}: secure channel closed: {Reason}")]
    private static partial void LogChannelClosed(ILogger logger, Exception exception, string endpoint, string reason);

    [LoggerMessage(2104, LogLevel.Debug, "OPC UA {Endpoint}: a response to request {RequestId} came after its caller stopped waiting")]
    private static partial void LogUnexpectedResponse(ILogger logger, string endpoint, uint requestId);
}
