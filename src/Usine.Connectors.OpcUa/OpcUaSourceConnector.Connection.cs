using Microsoft.Extensions.Logging;
using Usine.Connectors.OpcUa.Client;
using Usine.Connectors.OpcUa.Encoding;
using Usine.Operations;
using Usine.Sources;

namespace Usine.Connectors.OpcUa;

public sealed partial class OpcUaSourceConnector
{
    private const uint BadNoSubscription = 0x80790000;
    private const uint BadTooManyPublishRequests = 0x80780000;
    private const uint BadMessageNotAvailable = 0x807B0000;
    private const uint BadTooManyOperations = 0x80120000;

    // Notification messages are handled one at a time, in sequence order, whichever Publish brought them.
    private readonly SemaphoreSlim _handling = new(1, 1);
    private List<Item> _items = [];
    private LastValue[] _lastValues = [];
    private long _repeatedSamples;
    private uint _subscriptionId;
    private uint _lastSequence;
    private bool _hasLastSequence;
    private bool _subscriptionLost;
    private DateTime? _lastValueAt;
    private readonly List<Exception> _toReport = [];
    private volatile bool _connected;
    private long _gaps;
    private const int MaxGapsKept = 1000;
    private readonly Queue<SequenceGap> _gapLog = new();

    /// <summary>Raised for each gap reported, with the sequence numbers around it (see <see cref="SequenceGaps"/>).</summary>
    public event Action<SequenceGap>? GapReported;

    /// <summary>
    /// The gaps reported since the source started, oldest first (the latest 1,000): the notification sequence numbers
    /// either side and how many are missing, for reconciliation. For a subscription lost with its session, the old
    /// subscription's last number, and at most one notification message per publishing interval of the outage.
    /// </summary>
    public IReadOnlyList<SequenceGap> SequenceGaps
    {
        get
        {
            lock (_gapLog)
            {
                return [.. _gapLog];
            }
        }
    }
    private TimeSpan _keepAlive;

    private async Task ConnectionLoopAsync(OpcUaClient client, ReceiveContext context, CancellationToken ct)
    {
        var failures = 0;
        var connected = false;
        DateTime? lostAt = null;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (!connected)
                {
                    await client.ConnectAsync(ct);
                    connected = true;
                    await SubscribeAsync(client, context, ct);
                }
                else
                {
                    var recovery = await client.ReconnectAsync(ct);
                    await RecoverAsync(client, context, recovery, lostAt, ct);
                }

                failures = 0;
                context.Connected();
                _connected = true;
                LogConnected(_logger, _source.Id, Endpoint, _subscriptionId, _items.Count);
                foreach (var problem in _toReport)
                {
                    Report(context, problem);
                }

                _toReport.Clear();
                var reason = await RunAsync(client, context, ct);
                _connected = false;
                lostAt = _lastValueAt ?? _time.GetUtcNow().UtcDateTime;
                context.Disconnected(reason);
                LogConnectionLost(_logger, reason, _source.Id, Endpoint, reason.Message);
                if (!await DelayAsync(Backoff.Delay(1, _options.ReconnectMinBackoff, _options.ReconnectMaxBackoff), ct))
                {
                    break;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is UsineException { IsTransient: false })
            {
                LogFailed(_logger, ex, _source.Id, Endpoint, ex.Message);
                throw;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                failures++;
                lostAt ??= _lastValueAt;
                context.Disconnected(ex);
                var retryIn = Backoff.Delay(failures, _options.ReconnectMinBackoff, _options.ReconnectMaxBackoff);
                LogConnectFailed(_logger, ex, _source.Id, Endpoint, failures, retryIn, ex.Message);
                if (!await DelayAsync(retryIn, ct))
                {
                    break;
                }
            }
        }
    }

    /// <summary>Publishes until the channel is lost or a Publish fails; returns why.</summary>
    private async Task<Exception> RunAsync(OpcUaClient client, ReceiveContext context, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var loops = Enumerable.Range(0, _settings.PublishRequests).Select(_ => PublishLoopAsync(client, context, stop.Token)).ToList();
        var lost = client.ConnectionLost;
        var first = await Task.WhenAny([lost, .. loops]);
        await stop.CancelAsync();
        ct.ThrowIfCancellationRequested();
        Exception reason;
        if (first == lost)
        {
            reason = lost.Result;
        }
        else
        {
            reason = first.Exception?.InnerException ?? new OpcUaException("publishing stopped", new StatusCode(0x80000000), true);
        }

        // A Publish that failed while the channel still stands (a timeout, a subscription gone): close it, so
        // the reconnect starts from a clean channel.
        if (client.Channel is { IsOpen: true } channel)
        {
            channel.Fail(reason);
        }

        foreach (var loop in loops)
        {
            await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        return reason;
    }

    private async Task PublishLoopAsync(OpcUaClient client, ReceiveContext context, CancellationToken ct)
    {
        // A Publish waits for the next notification or keep-alive; allow three keep-alives before calling the
        // subscription dead, so that a silent server is noticed instead of waited on forever.
        var timeout = _options.RequestTimeout + (3 * _keepAlive);
        var acknowledgements = new List<(uint, uint)>();
        while (!ct.IsCancellationRequested)
        {
            acknowledgements.Clear();
            while (acknowledgements.Count < 1000 && _acknowledgements.TryDequeue(out var a))
            {
                acknowledgements.Add(a);
            }

            PublishResult result;
            try
            {
                result = await client.PublishAsync(acknowledgements, timeout, ct);
            }
            catch (OpcUaException ex) when ((ex.Status.Code & 0xFFFF0000) == BadTooManyPublishRequests)
            {
                Requeue(acknowledgements);
                await DelayAsync(TimeSpan.FromMilliseconds(Math.Max(100, _settings.PublishingInterval.TotalMilliseconds)), ct);
                continue;
            }
            catch (OpcUaException ex) when ((ex.Status.Code & 0xFFFF0000) == BadNoSubscription)
            {
                _subscriptionLost = true;
                throw new OpcUaException($"the server no longer has subscription {_subscriptionId}", ex.Status, true, ex);
            }
            catch
            {
                Requeue(acknowledgements);
                throw;
            }

            await HandleAsync(client, context, result, ct);
        }
    }

    private void Requeue(List<(uint, uint)> acknowledgements)
    {
        foreach (var a in acknowledgements)
        {
            _acknowledgements.Enqueue(a);
        }
    }

    private async Task HandleAsync(OpcUaClient client, ReceiveContext context, PublishResult result, CancellationToken ct)
    {
        await _handling.WaitAsync(ct);
        try
        {
            if (result.SubscriptionId != _subscriptionId)
            {
                return; // a subscription of before a recreate; it is deleted
            }

            var message = result.Message;
            LogMessage(_logger, _source.Id, message.SequenceNumber, message.Values.Length, _hasLastSequence ? _lastSequence : 0, string.Join(",", result.AvailableSequenceNumbers));
            if (message.StatusChange is { } change)
            {
                LogStatusChange(_logger, _source.Id, _subscriptionId, change.Name);
                if (change.IsBad)
                {
                    _subscriptionLost = true;
                    throw new OpcUaException($"subscription {_subscriptionId} ended: {change.Name}", change, true);
                }
            }

            if (message.IsKeepAlive)
            {
                // A keep-alive carries the sequence number the next message will have: anything before it that
                // did not come is missing.
                if (_hasLastSequence && message.SequenceNumber != Next(_lastSequence) && IsAfter(message.SequenceNumber, _lastSequence))
                {
                    await RepublishAsync(client, context, Next(_lastSequence), message.SequenceNumber, message.PublishTime, ct);
                }

                return;
            }

            if (_hasLastSequence && !IsAfter(message.SequenceNumber, _lastSequence))
            {
                LogDuplicate(_logger, _source.Id, message.SequenceNumber);
                return;
            }

            if (_hasLastSequence && message.SequenceNumber != Next(_lastSequence))
            {
                await RepublishAsync(client, context, Next(_lastSequence), message.SequenceNumber, message.PublishTime, ct);
            }

            await EmitMessageAsync(context, message, ct);
        }
        finally
        {
            _handling.Release();
        }
    }

    private async ValueTask EmitMessageAsync(ReceiveContext context, NotificationMessage message, CancellationToken ct)
    {
        if (message.Values.Length > 0)
        {
            await EmitAsync(context, _subscriptionId, message, ct);
        }
        else
        {
            _acknowledgements.Enqueue((_subscriptionId, message.SequenceNumber));
        }

        _lastSequence = message.SequenceNumber;
        _hasLastSequence = true;
    }

    /// <summary>Asks again for messages <paramref name="from"/> up to (not including) <paramref name="until"/>; what the server no longer has is a gap.</summary>
    private async Task RepublishAsync(OpcUaClient client, ReceiveContext context, uint from, uint until, DateTime before, CancellationToken ct)
    {
        uint? firstMissing = null;
        var missing = 0;
        for (var sequence = from; sequence != until; sequence = Next(sequence))
        {
            try
            {
                var message = await client.RepublishAsync(_subscriptionId, sequence, ct);
                LogRepublished(_logger, _source.Id, sequence, message.Values.Length);
                await EmitMessageAsync(context, message, ct);
            }
            catch (OpcUaException ex) when ((ex.Status.Code & 0xFFFF0000) == BadMessageNotAvailable)
            {
                firstMissing ??= sequence;
                missing++;
                _lastSequence = sequence;
                _hasLastSequence = true;
            }
        }

        if (missing > 0)
        {
            var gap = new SequenceGap($"{Endpoint} subscription {_subscriptionId}", firstMissing!.Value - 1L, until, missing, _lastValueAt ?? before, before);
            ReportGap(context, $"source '{_source.Id}': {missing} notification message(s) from sequence number {firstMissing} are no longer held by {Endpoint}; values published between {_lastValueAt:O} (the last received) and {before:O} are missing", gap);
        }
    }

    /// <summary>
    /// Reports values that cannot be had any more: in the log, and as the source's last error, kept in its job's
    /// history. While reconnecting it is reported once connected, so the job shows it after the outage itself.
    /// </summary>
    private void ReportGap(ReceiveContext context, string gap, SequenceGap numbers)
    {
        Interlocked.Increment(ref _gaps);
        lock (_gapLog)
        {
            _gapLog.Enqueue(numbers);
            while (_gapLog.Count > MaxGapsKept)
            {
                _gapLog.Dequeue();
            }
        }

        GapReported?.Invoke(numbers);
        LogGap(_logger, _source.Id, gap);
        var problem = new OpcUaGapException(gap);
        if (_connected)
        {
            Report(context, problem);
        }
        else
        {
            _toReport.Add(problem);
        }
    }

    private static void Report(ReceiveContext context, Exception problem)
    {
        context.Disconnected(problem);
        context.Connected();
    }

    private static uint Next(uint sequence) => sequence == uint.MaxValue ? 1 : sequence + 1;

    // Sequence numbers wrap; "after" is within half the range ahead.
    private static bool IsAfter(uint a, uint b) => a != b && unchecked(a - b) < 0x80000000u;

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, _time, ct);
            return true;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return false;
        }
    }

    // Log events 2140-2179: the source.
    [LoggerMessage(2140, LogLevel.Information, "OPC UA source {SourceId} starting: endpoint {Endpoint}, security {Mode}, user {User}, next position {Position}")]
    private static partial void LogStarting(ILogger logger, string sourceId, string endpoint, string mode, string user, long position);

    [LoggerMessage(2141, LogLevel.Information, "OPC UA source {SourceId} connected to {Endpoint}: subscription {SubscriptionId}, {Items} monitored items")]
    private static partial void LogConnected(ILogger logger, string sourceId, string endpoint, uint subscriptionId, int items);

    [LoggerMessage(2142, LogLevel.Warning, "OPC UA source {SourceId} could not connect to {Endpoint} (attempt {Attempt}): {Reason}; next attempt in {Delay}")]
    private static partial void LogConnectFailed(ILogger logger, Exception exception, string sourceId, string endpoint, int attempt, TimeSpan delay, string reason);

    [LoggerMessage(2143, LogLevel.Warning, "OPC UA source {SourceId} lost its connection to {Endpoint}: {Reason}; reconnecting, the server keeps what was not acknowledged")]
    private static partial void LogConnectionLost(ILogger logger, Exception exception, string sourceId, string endpoint, string reason);

    [LoggerMessage(2144, LogLevel.Error, "OPC UA source {SourceId} stopped, {Endpoint}: {Reason}")]
    private static partial void LogFailed(ILogger logger, Exception exception, string sourceId, string endpoint, string reason);

    [LoggerMessage(2145, LogLevel.Warning, "OPC UA source {SourceId}: GAP: {Gap}")]
    private static partial void LogGap(ILogger logger, string sourceId, string gap);

    [LoggerMessage(2146, LogLevel.Information, "OPC UA source {SourceId}: notification message {Sequence} came again and was dropped")]
    private static partial void LogDuplicate(ILogger logger, string sourceId, uint sequence);

    [LoggerMessage(2147, LogLevel.Information, "OPC UA source {SourceId}: notification message {Sequence} sent again by the server ({Values} values)")]
    private static partial void LogRepublished(ILogger logger, string sourceId, uint sequence, int values);

    [LoggerMessage(2148, LogLevel.Warning, "OPC UA source {SourceId}: subscription {SubscriptionId} status changed to {Status}")]
    private static partial void LogStatusChange(ILogger logger, string sourceId, uint subscriptionId, string status);

    [LoggerMessage(2150, LogLevel.Debug, "OPC UA source {SourceId}: notification message {Sequence} with {Values} values (last handled {Last}; the server holds {Available})")]
    private static partial void LogMessage(ILogger logger, string sourceId, uint sequence, int values, uint last, string available);

    [LoggerMessage(2151, LogLevel.Information, "OPC UA source {SourceId}: notification message {Sequence} repeats the last sample of {Node}; dropped")]
    private static partial void LogRepeatedSample(ILogger logger, string sourceId, uint sequence, string node);

    [LoggerMessage(2149, LogLevel.Warning, "OPC UA source {SourceId}: a value came for client handle {Handle}, which names no monitored item; dropped")]
    private static partial void LogUnknownHandle(ILogger logger, string sourceId, uint handle);
}

/// <summary>Values the server could not send again: a gap in a source's data, reported on its job.</summary>
public sealed class OpcUaGapException : UsineException
{
    public OpcUaGapException(string message) : base(message, isTransient: true) { }

    public OpcUaGapException() : this("a gap in the data") { }

    public OpcUaGapException(string message, Exception inner) : base(message, true, inner) { }
}
