using System.Threading.Channels;

namespace Usine.Tests.Connectors;

/// <summary>
/// A peer that holds messages until they are acknowledged, like a broker: it hands everything unacknowledged to
/// each new session, ignores an acknowledgement that arrives on a session that is gone, and can go down and come
/// back. The in-memory counterpart of an MQTT broker for the <see cref="MemoryConnector"/>.
/// </summary>
public sealed class MemoryPeer
{
    private readonly Lock _lock = new();
    private readonly List<(long Id, byte[] Payload)> _unacknowledged = [];
    private long _nextId;
    private Session? _session;
    private bool _up = true;

    /// <summary>Called with the acknowledged message, under no lock.</summary>
    public Action<byte[]>? Acknowledging { get; set; }

    /// <summary>Messages the current session handed to its connector that are not acknowledged yet.</summary>
    public long Taken
    {
        get
        {
            lock (_lock)
            {
                return _session is null ? 0 : _unacknowledged.Count - _session.Messages.Reader.Count;
            }
        }
    }

    public int Unacknowledged
    {
        get
        {
            lock (_lock)
            {
                return _unacknowledged.Count;
            }
        }
    }

    public void Send(byte[] payload)
    {
        lock (_lock)
        {
            var id = ++_nextId;
            _unacknowledged.Add((id, payload));
            _session?.Messages.Writer.TryWrite((id, payload));
        }
    }

    /// <summary>A new session that first receives everything unacknowledged; null while the peer is down.</summary>
    public Session? Connect()
    {
        lock (_lock)
        {
            if (!_up)
            {
                return null;
            }

            _session?.Messages.Writer.TryComplete();
            _session = new Session();
            foreach (var m in _unacknowledged)
            {
                _session.Messages.Writer.TryWrite(m);
            }

            return _session;
        }
    }

    public void Acknowledge(Session session, long id)
    {
        byte[]? payload = null;
        lock (_lock)
        {
            if (!ReferenceEquals(session, _session))
            {
                return; // an acknowledgement of a session that is gone means nothing, as in MQTT
            }

            var i = _unacknowledged.FindIndex(m => m.Id == id);
            if (i >= 0)
            {
                payload = _unacknowledged[i].Payload;
                _unacknowledged.RemoveAt(i);
            }
        }

        if (payload is not null)
        {
            Acknowledging?.Invoke(payload);
        }
    }

    public void Close(Session session)
    {
        lock (_lock)
        {
            session.Messages.Writer.TryComplete();
            if (ReferenceEquals(session, _session))
            {
                _session = null;
            }
        }
    }

    /// <summary>Ends the session and refuses new ones until <see cref="ComeBack"/>.</summary>
    public void GoDown()
    {
        lock (_lock)
        {
            _up = false;
            _session?.Messages.Writer.TryComplete();
            _session = null;
        }
    }

    public void ComeBack()
    {
        lock (_lock)
        {
            _up = true;
        }
    }

    public sealed class Session
    {
        public Channel<(long Id, byte[] Payload)> Messages { get; } = Channel.CreateUnbounded<(long, byte[])>();
    }
}

/// <summary>The peers of the memory sources of a test, by source id.</summary>
public sealed class MemoryPeers
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, MemoryPeer> _peers = new(StringComparer.Ordinal);

    public MemoryPeer For(string sourceId) => _peers.GetOrAdd(sourceId, _ => new MemoryPeer());
}

/// <summary>
/// A connector of a kind Core does not know, defined in this test assembly: it numbers what its peer hands over
/// after the stream's checkpoint, and acknowledges on the session that delivered each message.
/// </summary>
public sealed class MemoryConnector(SourceDefinition source, MemoryPeer peer, TimeProvider time) : ISourceConnector
{
    /// <summary>The kind as its registration names it.</summary>
    public const string Kind = "memory";

    private MemoryPeer.Session? _session;

    /// <summary>The registration of the memory kind: one line adds it to a platform (<see cref="UsineOptions.SourceKinds"/>).</summary>
    public static SourceKindRegistration Registration(MemoryPeers peers, SourceRunnerOptions? options = null) => new()
    {
        Name = Kind,
        Start = (source, context) => context.Run(new MemoryConnector(source, peers.For(source.Id), context.Time), options ?? SourceRunnerOptions.Default),
    };

    public SourceStream Stream { get; } = new(source.Id, "memory:" + source.Id);

    public string Endpoint => "the memory peer of " + source.Id;

    public async Task ReceiveAsync(ReceiveContext context, CancellationToken cancellationToken)
    {
        var next = (await context.CheckpointAsync(cancellationToken) ?? 0) + 1;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                _session = peer.Connect();
                if (_session is null)
                {
                    context.Disconnected(new IOException($"{Endpoint} is down"));
                    await Task.Delay(TimeSpan.FromMilliseconds(20), time, cancellationToken);
                    continue;
                }

                context.Connected();
                await foreach (var (id, payload) in _session.Messages.Reader.ReadAllAsync(cancellationToken))
                {
                    var message = new RawMessage(next++, time.GetUtcNow().UtcDateTime, payload);
                    await context.Messages.WriteAsync(new ReceivedMessage(message, (_session, id)), cancellationToken);
                }

                context.Disconnected(new IOException($"{Endpoint} went away"));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    public ValueTask AcknowledgeAsync(IReadOnlyList<ReceivedMessage> committed, CancellationToken cancellationToken)
    {
        foreach (var m in committed)
        {
            var (session, id) = ((MemoryPeer.Session, long))m.Handle!;
            peer.Acknowledge(session, id);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        if (_session is { } session)
        {
            peer.Close(session);
        }

        return ValueTask.CompletedTask;
    }
}
