using Microsoft.Extensions.Logging;
using Usine.Connectors.OpcUa.Client;
using Usine.Connectors.OpcUa.Encoding;
using Usine.Connectors.OpcUa.Internal;
using Usine.Operations;
using Usine.Sources;

namespace Usine.Connectors.OpcUa;

public sealed partial class OpcUaSourceConnector
{
    /// <summary>Resolves the nodes, creates the subscription and its monitored items, in batches the server accepts.</summary>
    private async Task SubscribeAsync(OpcUaClient client, ReceiveContext context, CancellationToken ct)
    {
        _items = await ResolveAsync(client, ct);
        _lastValues = new LastValue[_items.Count];
        var publishing = _settings.PublishingInterval;

        // A keep-alive at least every 10 s, and a lifetime that outlasts the session timeout, so the subscription
        // survives a reconnect as long as the session does.
        var keepAliveCount = (uint)Math.Clamp(Math.Ceiling(10_000 / publishing.TotalMilliseconds), 1, 10_000);
        var lifetimeCount = (uint)Math.Max(keepAliveCount * 3, Math.Ceiling(_settings.SessionTimeout.TotalMilliseconds * 2 / publishing.TotalMilliseconds));
        var subscription = await client.CreateSubscriptionAsync(publishing, keepAliveCount, lifetimeCount, ct);
        _subscriptionId = subscription.SubscriptionId;
        _keepAlive = TimeSpan.FromMilliseconds(subscription.RevisedPublishingIntervalMs * subscription.RevisedMaxKeepAliveCount);
        _hasLastSequence = false;
        _subscriptionLost = false;

        var serverLimit = await client.ReadMaxMonitoredItemsPerCallAsync(ct);
        var perCall = (int)Math.Min(_settings.MonitoredItemsPerCall, serverLimit ?? uint.MaxValue);
        var requests = _items.Select((item, handle) => new MonitoredItemRequest(
            item.NodeId, (uint)handle, _settings.SamplingInterval.TotalMilliseconds, _settings.QueueSize, _settings.Filter)).ToList();
        var refused = new List<(Item Item, StatusCode Status)>();
        var calls = 0;
        for (var start = 0; start < requests.Count;)
        {
            var batch = requests.GetRange(start, Math.Min(perCall, requests.Count - start));
            MonitoredItemResult[] results;
            try
            {
                results = await client.CreateMonitoredItemsAsync(_subscriptionId, batch, ct);
                calls++;
            }
            catch (OpcUaException ex) when ((ex.Status.Code & 0xFFFF0000) == BadTooManyOperations && perCall > 1)
            {
                // A server that does not state its limit but has one: halve the batch until it takes it.
                perCall = Math.Max(1, batch.Count / 2);
                LogBatchTooLarge(_logger, _source.Id, batch.Count, perCall);
                continue;
            }

            for (var i = 0; i < results.Length; i++)
            {
                if (results[i].Status.IsBad)
                {
                    refused.Add((_items[(int)batch[i].ClientHandle], results[i].Status));
                }
            }

            start += batch.Count;
        }

        LogSubscribed(_logger, _source.Id, _subscriptionId, subscription.RevisedPublishingIntervalMs, _items.Count - refused.Count, calls, perCall, serverLimit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none");
        if (refused.Count == _items.Count)
        {
            throw new OpcUaException(
                $"source '{_source.Id}': {Endpoint} refused every monitored item ({string.Join(", ", refused.Take(5).Select(r => $"{r.Item.Node}: {r.Status.Name}"))}{(refused.Count > 5 ? ", ..." : "")}); check the nodes",
                refused[0].Status,
                false);
        }

        if (refused.Count > 0)
        {
            foreach (var (item, status) in refused.Take(20))
            {
                LogRefused(_logger, _source.Id, item.Node, item.BrowsePath, status.Name);
            }

            var summary = $"source '{_source.Id}': {Endpoint} refused {refused.Count} of {_items.Count} monitored items: {string.Join(", ", refused.Take(10).Select(r => $"{r.Item.Node} ({r.Status.Name})"))}{(refused.Count > 10 ? ", ..." : "")}";
            _toReport.Add(new OpcUaException(summary, refused[0].Status, true));
        }
    }

    /// <summary>
    /// After a reconnect: with the session still there, the subscription goes on and missing messages come by
    /// Republish; with a new session, the subscription is transferred to it when the server still has it, or
    /// created again — once, the old one deleted — and the outage is reported as a gap.
    /// </summary>
    private async Task RecoverAsync(OpcUaClient client, ReceiveContext context, SessionRecovery recovery, DateTime? lostAt, CancellationToken ct)
    {
        if (recovery == SessionRecovery.Reactivated && !_subscriptionLost)
        {
            return; // the next Publish shows by its sequence number what is missing
        }

        if (recovery == SessionRecovery.NewSession && !_subscriptionLost)
        {
            var transfer = await TryTransferAsync(client, ct);
            if (transfer is { } available)
            {
                LogTransferred(_logger, _source.Id, _subscriptionId, available.Length);
                foreach (var sequence in available.Where(s => !_hasLastSequence || IsAfter(s, _lastSequence)).Order())
                {
                    await _handling.WaitAsync(ct);
                    try
                    {
                        if (_hasLastSequence && sequence != Next(_lastSequence))
                        {
                            await RepublishAsync(client, context, Next(_lastSequence), sequence, _time.GetUtcNow().UtcDateTime, ct);
                        }

                        await RepublishAsync(client, context, sequence, Next(sequence), _time.GetUtcNow().UtcDateTime, ct);
                    }
                    finally
                    {
                        _handling.Release();
                    }
                }

                return;
            }
        }

        // The subscription is gone (the server restarted, or the session expired): a new one, and the old one
        // deleted in case the server still has it, so that values never come twice.
        var old = _subscriptionId;
        try
        {
            await client.DeleteSubscriptionsAsync([old], ct);
        }
        catch (OpcUaException ex) when (ex.IsTransient)
        {
            LogDeleteFailed(_logger, _source.Id, old, ex.Message);
        }

        var lastSequence = _hasLastSequence ? _lastSequence : 0;
        await SubscribeAsync(client, context, ct);
        var now = _time.GetUtcNow().UtcDateTime;
        var from = lostAt ?? now;
        var intervals = Math.Max(1, (long)Math.Ceiling((now - from).TotalMilliseconds / Math.Max(1, _settings.PublishingInterval.TotalMilliseconds)));
        var gap = new SequenceGap($"{Endpoint} subscription {old}", lastSequence, lastSequence + 1L + intervals, intervals, from, now);
        ReportGap(context, $"source '{_source.Id}': subscription {old} was lost with its session on {Endpoint} and created again as {_subscriptionId}; values between the last received at {lostAt:O} and {now:O} are missing", gap);
    }

    private async Task<uint[]?> TryTransferAsync(OpcUaClient client, CancellationToken ct)
    {
        try
        {
            var results = await client.TransferSubscriptionsAsync([_subscriptionId], ct);
            if (results.Length == 1 && results[0].Status.IsGood)
            {
                return results[0].Available;
            }

            LogTransferRefused(_logger, _source.Id, _subscriptionId, results.Length == 1 ? results[0].Status.Name : "no result");
        }
        catch (OpcUaException ex) when (ex.IsTransient || ex.Status.Code >> 16 == 0x801F)
        {
            LogTransferRefused(_logger, _source.Id, _subscriptionId, ex.Status.Name);
        }

        return null;
    }

    /// <summary>The nodes of the source: each browse pattern walked level by level from the Root folder (* = any name at one level), and each node id.</summary>
    private async Task<List<Item>> ResolveAsync(OpcUaClient client, CancellationToken ct)
    {
        var items = new List<Item>();
        var seen = new HashSet<NodeId>();
        foreach (var selector in _settings.Nodes)
        {
            if (selector.Id is { } id)
            {
                if (seen.Add(id))
                {
                    items.Add(new Item(id, id.ToString(), id.ToString()));
                }

                continue;
            }

            var levels = selector.Browse!.Split('/');
            var start = levels[0] == "Root" ? 1 : 0;
            var current = new List<(NodeId Node, string Path)> { (WellKnownNodes.RootFolder, "") };
            for (var l = start; l < levels.Length && current.Count > 0; l++)
            {
                var pattern = levels[l];
                var last = l == levels.Length - 1;
                var children = await client.BrowseAsync([.. current.Select(c => c.Node)], ct);
                var next = new List<(NodeId, string)>();
                for (var i = 0; i < current.Count; i++)
                {
                    foreach (var reference in children[i])
                    {
                        if (reference.NodeId.ServerIndex != 0 || !Matches(pattern, reference.BrowseName))
                        {
                            continue;
                        }

                        if (last && reference.NodeClass != NodeClass.Variable)
                        {
                            continue;
                        }

                        var path = current[i].Path.Length == 0 ? reference.BrowseName.Name ?? "" : current[i].Path + "/" + reference.BrowseName.Name;
                        next.Add((reference.NodeId.NodeId, path));
                    }
                }

                current = next;
            }

            if (current.Count == 0)
            {
                throw new OpcUaException($"source '{_source.Id}': browse path '{selector.Browse}' matches no variable on {Endpoint}; check each level's browse name (names are case-sensitive, * matches one level)", new StatusCode(0x803E0000), false);
            }

            foreach (var (node, path) in current)
            {
                if (seen.Add(node))
                {
                    items.Add(new Item(node, node.ToString(), path));
                }
            }

            LogResolved(_logger, _source.Id, selector.Browse!, current.Count);
        }

        return items;
    }

    // A level of a pattern: * for any name, "2:Name" for a name in namespace 2, or a name in any namespace.
    private static bool Matches(string pattern, QualifiedName name)
    {
        if (pattern == "*")
        {
            return true;
        }

        var colon = pattern.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && ushort.TryParse(pattern.AsSpan(0, colon), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ns))
        {
            return name.NamespaceIndex == ns && string.Equals(name.Name, pattern[(colon + 1)..], StringComparison.Ordinal);
        }

        return string.Equals(name.Name, pattern, StringComparison.Ordinal);
    }

    [LoggerMessage(2160, LogLevel.Information, "OPC UA source {SourceId}: browse path {Pattern} matches {Count} variables")]
    private static partial void LogResolved(ILogger logger, string sourceId, string pattern, int count);

    [LoggerMessage(2161, LogLevel.Information, "OPC UA source {SourceId}: subscription {SubscriptionId} publishing every {Interval} ms, {Items} monitored items created in {Calls} calls of up to {PerCall} (server limit per call: {ServerLimit})")]
    private static partial void LogSubscribed(ILogger logger, string sourceId, uint subscriptionId, double interval, int items, int calls, int perCall, string serverLimit);

    [LoggerMessage(2162, LogLevel.Warning, "OPC UA source {SourceId}: the server refused monitored item {Node} ({BrowsePath}): {Status}")]
    private static partial void LogRefused(ILogger logger, string sourceId, string node, string browsePath, string status);

    [LoggerMessage(2163, LogLevel.Warning, "OPC UA source {SourceId}: the server refused {Count} monitored items in one call; trying batches of {PerCall}")]
    private static partial void LogBatchTooLarge(ILogger logger, string sourceId, int count, int perCall);

    [LoggerMessage(2164, LogLevel.Information, "OPC UA source {SourceId}: subscription {SubscriptionId} transferred to the new session; the server holds {Available} messages to send again")]
    private static partial void LogTransferred(ILogger logger, string sourceId, uint subscriptionId, int available);

    [LoggerMessage(2165, LogLevel.Information, "OPC UA source {SourceId}: subscription {SubscriptionId} cannot be transferred ({Status}); creating it again")]
    private static partial void LogTransferRefused(ILogger logger, string sourceId, uint subscriptionId, string status);

    [LoggerMessage(2166, LogLevel.Debug, "OPC UA source {SourceId}: deleting the old subscription {SubscriptionId} failed: {Reason}")]
    private static partial void LogDeleteFailed(ILogger logger, string sourceId, uint subscriptionId, string reason);
}
