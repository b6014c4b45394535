using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Connectors.OpcUa.Client;
using Usine.Connectors.OpcUa.Encoding;
using Usine.Connectors.OpcUa.Internal;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Connectors.OpcUa;

/// <summary>
/// The connector of one opcua source, run by a <see cref="SourceRunner"/>: resolves the source's nodes (browse-path
/// patterns and node ids), subscribes to them, and hands each data change over as one JSON message with the next
/// position of the source. The server's notification messages are acknowledged in Publish only once their values
/// are committed, so the server keeps what is not yet stored and can send it again (Republish) after a lost
/// connection; a sequence number that comes twice is dropped, one that is skipped is asked for again, and what
/// the server no longer has is reported as a gap on the source's job and in the log.
/// </summary>
public sealed partial class OpcUaSourceConnector : ISourceConnector
{
    internal const string Basic256Sha256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256";

    private readonly SourceDefinition _source;
    private readonly OpcUaConnectorOptions _options;
    private readonly OpcUaSourceSettings _settings;
    private readonly string _dataDirectory;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentQueue<(uint Subscription, uint Sequence)> _acknowledgements = new();
    private readonly DataChangeJson _json = new();
    private OpcUaClient? _client;
    private long _nextPosition;

    public OpcUaSourceConnector(SourceDefinition source, OpcUaConnectorOptions? options = null, string? dataDirectory = null, ILogger<OpcUaSourceConnector>? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _options = options ?? new OpcUaConnectorOptions();
        _options.Validate();
        _source = source;
        _settings = OpcUaSourceSettings.Parse(source);
        _dataDirectory = dataDirectory ?? Directory.GetCurrentDirectory();
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        Stream = new SourceStream(source.Id, "opcua:" + source.Id);
        RunnerOptions = new SourceRunnerOptions
        {
            BatchSize = _settings.BatchSize,
            BatchWindow = _settings.BatchWindow,
            BufferCapacity = Math.Max(_settings.BatchSize * 2, 1024),
            RetryMinBackoff = _options.IngestRetryMinBackoff,
            RetryMaxBackoff = _options.IngestRetryMaxBackoff,
            DrainTimeout = _options.DrainTimeout,
        };
    }

    /// <summary>The stream the positions belong to: <c>opcua:SOURCE</c>.</summary>
    public SourceStream Stream { get; }

    public string Endpoint => _settings.Endpoint.ToString();

    /// <summary>How the runner batches this source: its batchSize and batchMilliseconds, the options' retries and drain.</summary>
    public SourceRunnerOptions RunnerOptions { get; }

    /// <summary>The nodes subscribed to, once resolved: node id and browse path.</summary>
    public IReadOnlyList<(string Node, string BrowsePath)> Subscribed => [.. _items.Select(i => (i.Node, i.BrowsePath))];

    /// <summary>Gaps reported so far: notification messages or whole outages the server could not send again.</summary>
    public long Gaps => Interlocked.Read(ref _gaps);

    /// <summary>
    /// Connects, subscribes and hands values over until <paramref name="cancellationToken"/> is cancelled. A lost
    /// connection is retried with backoff forever; it throws only for what retrying cannot fix: a refused user, an
    /// endpoint the server does not have, a security policy with no implementation, nodes that resolve to nothing.
    /// </summary>
    public async Task ReceiveAsync(ReceiveContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_client is not null)
        {
            throw new InvalidOperationException("a connector receives once; create a new connector to run the source again");
        }

        _nextPosition = (await context.CheckpointAsync(cancellationToken) ?? 0) + 1;
        LogStarting(_logger, _source.Id, Endpoint, _settings.Mode.ToString(), _settings.UserName ?? "anonymous", _nextPosition);
        _client = new OpcUaClient(ClientOptions(), _logger, _time);
        await ConnectionLoopAsync(_client, context, cancellationToken);
    }

    private OpcUaClientOptions ClientOptions() => new()
    {
        Endpoint = _settings.Endpoint,
        SecurityMode = _settings.Mode,
        SecurityPolicyUri = _settings.Mode == Channel.MessageSecurityMode.None ? Channel.NoSecurity.Uri : Basic256Sha256,
        UserName = _settings.UserName,
        Password = _settings.Password,
        TrustFolder = _settings.Trust is null ? null : Path.GetFullPath(Path.Combine(_dataDirectory, _settings.Trust)),
        DataDirectory = _dataDirectory,
        ApplicationUri = _options.ApplicationUri,
        SessionName = $"Usine {_source.Id}",
        SessionTimeout = _settings.SessionTimeout,
        RequestTimeout = _options.RequestTimeout,
        SecurityProviders = _options.SecurityProviders,
        Channel = new Transport.SecureChannelOptions { ConnectTimeout = _options.ConnectTimeout, TokenLifetime = _options.TokenLifetime },
    };

    /// <summary>Hands committed values' notification messages back to the server: they go with the next Publish.</summary>
    public ValueTask AcknowledgeAsync(IReadOnlyList<ReceivedMessage> committed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(committed);
        foreach (var m in committed)
        {
            if (m.Handle is Acknowledgement a)
            {
                _acknowledgements.Enqueue((a.Subscription, a.Sequence));
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Closes the session (and its subscription) and the channel.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_client is { } client)
        {
            await client.DisposeAsync();
        }

        _handling.Dispose();
    }

    /// <summary>The handle of the last value of a notification message: once it is committed, the message is acknowledged.</summary>
    private sealed record Acknowledgement(uint Subscription, uint Sequence);

    /// <summary>A subscribed node: its handle is its index in the list.</summary>
    private sealed record Item(NodeId NodeId, string Node, string BrowsePath);

    private async ValueTask EmitAsync(ReceiveContext context, uint subscription, NotificationMessage message, CancellationToken ct)
    {
        var values = message.Values;
        var receivedAt = _time.GetUtcNow().UtcDateTime;
        var acknowledgement = new Acknowledgement(subscription, message.SequenceNumber);
        var acknowledged = false;
        for (var i = 0; i < values.Length; i++)
        {
            ref readonly var value = ref values[i];
            if (value.ClientHandle >= (uint)_items.Count)
            {
                LogUnknownHandle(_logger, _source.Id, value.ClientHandle);
                continue;
            }

            // A server may put the same sample in two notification messages when a response was lost with its
            // channel (node-opcua does, sending it again in the next message as well as by Republish). A value of
            // the same item with the same timestamps, status and value is that same sample: dropped.
            ref var last = ref _lastValues[(int)value.ClientHandle];
            if (last.Has && last.Source == value.SourceTimestamp && last.Server == value.ServerTimestamp && last.Status == value.Status && last.Value.Equals(value.Value))
            {
                Interlocked.Increment(ref _repeatedSamples);
                LogRepeatedSample(_logger, _source.Id, message.SequenceNumber, _items[(int)value.ClientHandle].Node);
                continue;
            }

            last = new LastValue(true, value.SourceTimestamp, value.ServerTimestamp, value.Status, value.Value);
            var item = _items[(int)value.ClientHandle];
            var payload = _json.Write(item.Node, item.BrowsePath, value);
            var raw = new RawMessage(_nextPosition++, receivedAt, payload, item.BrowsePath);
            var received = new ReceivedMessage(raw, i == values.Length - 1 ? acknowledgement : null);
            acknowledged |= i == values.Length - 1;
            if (!context.Messages.TryWrite(received))
            {
                await context.Messages.WriteAsync(received, ct);
            }
        }

        _lastValueAt = receivedAt;
        if (!acknowledged)
        {
            // Its last value was dropped: nothing carries the acknowledgement to the runner, so it goes now.
            _acknowledgements.Enqueue((subscription, message.SequenceNumber));
        }
    }

    /// <summary>The last value handed over for an item, to recognise the same sample sent twice.</summary>
    private readonly record struct LastValue(bool Has, DateTime? Source, DateTime? Server, StatusCode Status, Variant Value);

    /// <summary>Values dropped because the server sent the same sample of an item twice.</summary>
    public long RepeatedSamples => Interlocked.Read(ref _repeatedSamples);
}
