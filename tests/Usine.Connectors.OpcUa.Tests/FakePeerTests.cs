using Usine.Connectors.Testing;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Usine.Connectors.OpcUa.Tests;

/// <summary>
/// A peer that sends broken chunks: a small TCP relay in front of the test server that, on its first connection
/// only, replaces the server's chunks after the session is up with a malformed one. The channel must close with the
/// reason logged, and the source reconnect through the relay, which then passes everything through.
/// </summary>
public sealed class FakePeerTests(OpcUaServerFixture fixture, ITestOutputHelper output) : IClassFixture<OpcUaServerFixture>
{
    private readonly OpcUaServerProcess _server = fixture.Server;

    public enum Breakage
    {
        Truncated,
        UnknownMessageType,
        SizeBeyondTheNegotiatedBuffer,
        SequenceNumberSkipped,
        ErrMessage,
    }

    [Theory]
    [InlineData(Breakage.Truncated, "closed the connection")]
    [InlineData(Breakage.UnknownMessageType, "unexpected message type 'XYZ'")]
    [InlineData(Breakage.SizeBeyondTheNegotiatedBuffer, "chunks must be from 16 to the 65535 bytes negotiated")]
    [InlineData(Breakage.SequenceNumberSkipped, "a chunk was lost, repeated or replayed")]
    [InlineData(Breakage.ErrMessage, "BadTcpInternalError (0x80830000): the relay gives up")]
    public async Task A_broken_chunk_closes_the_channel_with_the_reason_logged_and_the_source_reconnects(Breakage breakage, string reason)
    {
        await using var relay = new BreakingRelay(_server.Port, breakage);
        var source = TestSources.OpcUa(new Uri($"opc.tcp://127.0.0.1:{relay.Port}/UA/Usine"), new Dictionary<string, string>
        {
            ["publishingInterval"] = "100ms",
            ["samplingInterval"] = "50ms",
            ["nodes.0.id"] = "ns=1;s=Oven2.Counter",
        });
        var log = new TestLogger<OpcUaSourceConnector>(output);
        var connector = new OpcUaSourceConnector(source, TestSources.Fast, Path.GetTempPath(), log);
        var store = new RecordingStore();
        var runner = new SourceRunner(connector, store, connector.RunnerOptions with { BatchWindow = TimeSpan.FromMilliseconds(20) });
        using var stop = new CancellationTokenSource();
        var run = runner.RunAsync(stop.Token);

        await Wait.UntilAsync(() => relay.Broken, "the relay to send its broken chunk");
        await Wait.UntilAsync(() => log.Lines.Any(l => l.EventId == 2103), "the channel to close with a logged reason");
        var closed = log.Lines.First(l => l.EventId == 2103).Message;
        output.WriteLine("logged: " + closed);
        Assert.Contains(reason, closed, StringComparison.Ordinal);

        var before = store.Committed.Count;
        await Wait.UntilAsync(() => runner.Reconnects >= 1 && store.Committed.Count >= before + 5, "values again after the reconnect");
        await stop.CancelAsync();
        await run;
        var values = store.Committed.Select(c => c.Value.GetInt64()).ToList();
        output.WriteLine("values: " + string.Join(" ", store.Committed.Select(c => $"{c.Position}:{c.Value}@{c.SourceTimestamp:HH:mm:ss.fff}")));
        Assert.Equal(values.Count, values.Distinct().Count());
    }

    /// <summary>Relays UA-TCP chunk by chunk; once only, the 12th chunk from the server on a connection is broken.</summary>
    private sealed class BreakingRelay : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly int _serverPort;
        private readonly Breakage _breakage;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;
        private int _connections;
        private int _breaking;
        private volatile bool _broken;

        public BreakingRelay(int serverPort, Breakage breakage)
        {
            _serverPort = serverPort;
            _breakage = breakage;
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public bool Broken => _broken;

        private async Task AcceptAsync()
        {
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Interlocked.Increment(ref _connections);
                    _ = RelayAsync(client);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        private async Task RelayAsync(TcpClient client)
        {
            using var _ = client;
            using var server = new TcpClient();
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _serverPort, _stop.Token);
                var up = client.GetStream().CopyToAsync(server.GetStream(), _stop.Token);
                var down = DownAsync(server.GetStream(), client.GetStream());
                await Task.WhenAny(up, down);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }

        // Counts the chunks from the server on each connection: the 12th of the first connection that has that many
        // (the session's: discovery takes three) is well inside the session.
        private async Task DownAsync(NetworkStream from, NetworkStream to)
        {
            var header = new byte[8];
            for (var chunk = 1; ; chunk++)
            {
                await from.ReadExactlyAsync(header, _stop.Token);
                var size = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(4));
                var body = new byte[size - 8];
                await from.ReadExactlyAsync(body, _stop.Token);
                if (chunk == 12 && Interlocked.Exchange(ref _breaking, 1) == 0)
                {
                    _broken = true;
                    await SendBrokenAsync(to, header, body);
                    return;
                }

                await to.WriteAsync(header, _stop.Token);
                await to.WriteAsync(body, _stop.Token);
            }
        }

        private async Task SendBrokenAsync(NetworkStream to, byte[] header, byte[] body)
        {
            switch (_breakage)
            {
                case Breakage.Truncated:
                    await to.WriteAsync(header, _stop.Token);
                    await to.WriteAsync(body.AsMemory(0, body.Length / 2), _stop.Token);
                    break;
                case Breakage.UnknownMessageType:
                    "XYZ"u8.CopyTo(header);
                    await to.WriteAsync(header, _stop.Token);
                    await to.WriteAsync(body, _stop.Token);
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                    break;
                case Breakage.SizeBeyondTheNegotiatedBuffer:
                    BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(4), 1 << 24);
                    await to.WriteAsync(header, _stop.Token);
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                    break;
                case Breakage.SequenceNumberSkipped:
                    // Channel id (4) and token id (4) come first in a MSG chunk's body; the sequence number follows.
                    var sequence = BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(8));
                    BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(8), sequence + 5);
                    await to.WriteAsync(header, _stop.Token);
                    await to.WriteAsync(body, _stop.Token);
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                    break;
                case Breakage.ErrMessage:
                    var reason = "the relay gives up"u8.ToArray();
                    var err = new byte[16 + reason.Length];
                    "ERRF"u8.CopyTo(err);
                    BinaryPrimitives.WriteInt32LittleEndian(err.AsSpan(4), err.Length);
                    BinaryPrimitives.WriteUInt32LittleEndian(err.AsSpan(8), 0x80830000);
                    BinaryPrimitives.WriteInt32LittleEndian(err.AsSpan(12), reason.Length);
                    reason.CopyTo(err, 16);
                    await to.WriteAsync(err, _stop.Token);
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                    break;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
