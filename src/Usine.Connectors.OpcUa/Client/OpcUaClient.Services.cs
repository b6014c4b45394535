using Usine.Connectors.OpcUa.Encoding;
using Usine.Connectors.OpcUa.Transport;

namespace Usine.Connectors.OpcUa.Client;

/// <summary>A subscription as the server created it.</summary>
public sealed record SubscriptionInfo(uint SubscriptionId, double RevisedPublishingIntervalMs, uint RevisedLifetimeCount, uint RevisedMaxKeepAliveCount);

/// <summary>A notification message (OPC 10000-4 §7.25): its sequence number, publish time, the data changes and a status change.</summary>
/// <param name="Values">The data changes, in the order the server sent them; empty for a keep-alive.</param>
/// <param name="StatusChange">A StatusChangeNotification the message carried (the subscription is closing, or timed out), or null.</param>
public sealed record NotificationMessage(uint SequenceNumber, DateTime PublishTime, MonitoredValue[] Values, StatusCode? StatusChange, bool IsKeepAlive);

/// <summary>A Publish response: the subscription it is for, the message, and the sequence numbers the server still holds for Republish.</summary>
public sealed record PublishResult(uint SubscriptionId, uint[] AvailableSequenceNumbers, bool MoreNotifications, NotificationMessage Message, StatusCode[] AcknowledgeResults);

public sealed partial class OpcUaClient
{
    private const uint ValueAttribute = 13;

    /// <summary>The forward hierarchical references of each of <paramref name="nodes"/>, every page of them (BrowseNext on continuation points).</summary>
    public async Task<IReadOnlyList<ReferenceDescription>[]> BrowseAsync(IReadOnlyList<NodeId> nodes, CancellationToken cancellationToken, int maxNodesPerCall = 100)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        var results = new IReadOnlyList<ReferenceDescription>[nodes.Count];
        for (var start = 0; start < nodes.Count; start += maxNodesPerCall)
        {
            var batch = nodes.Skip(start).Take(maxNodesPerCall).ToArray();
            var response = await CallAsync(TypeIds.BrowseRequest, "Browse", batch, static (e, batch) =>
            {
                e.WriteNodeId(NodeId.Null); // view: the whole address space
                e.WriteDateTime(DateTime.MinValue);
                e.WriteUInt32(0);
                e.WriteUInt32(0); // max references per node: the server's choice, continued with BrowseNext
                e.WriteInt32(batch.Length);
                foreach (var node in batch)
                {
                    e.WriteNodeId(node);
                    e.WriteInt32(0); // forward
                    e.WriteNodeId(WellKnownNodes.HierarchicalReferences);
                    e.WriteBoolean(true); // with subtypes
                    e.WriteUInt32(0); // every node class
                    e.WriteUInt32(63); // every field of the reference description
                }
            }, _options.RequestTimeout, cancellationToken);

            var pages = ReadBrowseResults(response, "Browse", batch.Length);
            for (var i = 0; i < batch.Length; i++)
            {
                var (status, continuation, references) = pages[i];
                if (status.IsBad)
                {
                    throw OpcUaException.FromStatus($"Browse of {batch[i]}", status);
                }

                var all = new List<ReferenceDescription>(references);
                while (continuation is { Length: > 0 })
                {
                    var next = await CallAsync(TypeIds.BrowseNextRequest, "BrowseNext", continuation, static (e, point) =>
                    {
                        e.WriteBoolean(false); // release: no, continue
                        e.WriteInt32(1);
                        e.WriteByteString(point);
                    }, _options.RequestTimeout, cancellationToken);
                    var page = ReadBrowseResults(next, "BrowseNext", 1)[0];
                    if (page.Status.IsBad)
                    {
                        throw OpcUaException.FromStatus($"BrowseNext of {batch[i]}", page.Status);
                    }

                    all.AddRange(page.References);
                    continuation = page.Continuation;
                }

                results[start + i] = all;
            }
        }

        return results;
    }

    private static (StatusCode Status, byte[]? Continuation, ReferenceDescription[] References)[] ReadBrowseResults(ServiceResponse response, string service, int expected)
    {
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, service);
        var count = d.ReadLength();
        if (count != expected)
        {
            throw new OpcUaException($"{service} answered {count} results for {expected} nodes", new StatusCode(0x800B0000), true);
        }

        var results = new (StatusCode, byte[]?, ReferenceDescription[])[count];
        for (var i = 0; i < count; i++)
        {
            var status = d.ReadStatusCode();
            var continuation = d.ReadByteString();
            var n = d.ReadLength();
            var references = new ReferenceDescription[n];
            for (var r = 0; r < n; r++)
            {
                references[r] = ReferenceDescription.Read(ref d);
            }

            results[i] = (status, continuation, references);
        }

        return results;
    }

    /// <summary>Reads the Value attribute of <paramref name="nodes"/>, with source and server timestamps.</summary>
    public async Task<DataValue[]> ReadAsync(IReadOnlyList<NodeId> nodes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        var response = await CallAsync(TypeIds.ReadRequest, "Read", nodes, static (e, nodes) =>
        {
            e.WriteDouble(0); // max age: a fresh value
            e.WriteInt32(2); // timestamps: both
            e.WriteInt32(nodes.Count);
            foreach (var node in nodes)
            {
                e.WriteNodeId(node);
                e.WriteUInt32(ValueAttribute);
                e.WriteString(null); // index range
                e.WriteQualifiedName(default); // data encoding
            }
        }, _options.RequestTimeout, cancellationToken);
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, "Read");
        var count = d.ReadLength();
        var values = new DataValue[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = d.ReadDataValue();
        }

        return values;
    }

    /// <summary>
    /// The server's limit of monitored items per CreateMonitoredItems call (Server_ServerCapabilities_OperationLimits),
    /// or null when it states none.
    /// </summary>
    public async Task<uint?> ReadMaxMonitoredItemsPerCallAsync(CancellationToken cancellationToken)
    {
        try
        {
            var value = (await ReadAsync([WellKnownNodes.MaxMonitoredItemsPerCall], cancellationToken))[0];
            return value.Status.IsGood && value.Value.Type == BuiltInType.UInt32 && value.Value.AsInt64() > 0 ? (uint)value.Value.AsInt64() : null;
        }
        catch (OpcUaException ex) when (!ex.IsTransient)
        {
            return null;
        }
    }

    public async Task<SubscriptionInfo> CreateSubscriptionAsync(TimeSpan publishingInterval, uint maxKeepAliveCount, uint lifetimeCount, CancellationToken cancellationToken)
    {
        var response = await CallAsync(TypeIds.CreateSubscriptionRequest, "CreateSubscription", (publishingInterval, maxKeepAliveCount, lifetimeCount), static (e, s) =>
        {
            e.WriteDouble(s.publishingInterval.TotalMilliseconds);
            e.WriteUInt32(s.lifetimeCount);
            e.WriteUInt32(s.maxKeepAliveCount);
            e.WriteUInt32(0); // notifications per publish: no limit
            e.WriteBoolean(true); // publishing enabled
            e.WriteByte(0); // priority
        }, _options.RequestTimeout, cancellationToken);
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, "CreateSubscription");
        return new SubscriptionInfo(d.ReadUInt32(), d.ReadDouble(), d.ReadUInt32(), d.ReadUInt32());
    }

    /// <summary>Creates monitored items of the Value attribute in one call; the caller cuts them into batches the server accepts.</summary>
    public async Task<MonitoredItemResult[]> CreateMonitoredItemsAsync(uint subscriptionId, IReadOnlyList<MonitoredItemRequest> items, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(items);
        var response = await CallAsync(TypeIds.CreateMonitoredItemsRequest, "CreateMonitoredItems", (subscriptionId, items), static (e, s) =>
        {
            e.WriteUInt32(s.subscriptionId);
            e.WriteInt32(2); // timestamps: both
            e.WriteInt32(s.items.Count);
            foreach (var item in s.items)
            {
                e.WriteNodeId(item.NodeId);
                e.WriteUInt32(ValueAttribute);
                e.WriteString(null);
                e.WriteQualifiedName(default);
                e.WriteInt32(2); // monitoring mode Reporting
                e.WriteUInt32(item.ClientHandle);
                e.WriteDouble(item.SamplingIntervalMs);
                if (item.Filter is { } filter)
                {
                    e.WriteExtensionObject(new NodeId(0, TypeIds.DataChangeFilter), filter, static (b, f) =>
                    {
                        b.WriteInt32((int)f.Trigger);
                        b.WriteUInt32((uint)f.DeadbandType);
                        b.WriteDouble(f.DeadbandValue);
                    });
                }
                else
                {
                    e.WriteExtensionObject(null);
                }

                e.WriteUInt32(item.QueueSize);
                e.WriteBoolean(true); // discard oldest
            }
        }, _options.RequestTimeout, cancellationToken);
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, "CreateMonitoredItems");
        var count = d.ReadLength();
        if (count != items.Count)
        {
            throw new OpcUaException($"CreateMonitoredItems answered {count} results for {items.Count} items", new StatusCode(0x800B0000), true);
        }

        var results = new MonitoredItemResult[count];
        for (var i = 0; i < count; i++)
        {
            var status = d.ReadStatusCode();
            var id = d.ReadUInt32();
            var sampling = d.ReadDouble();
            var queue = d.ReadUInt32();
            d.ReadExtensionObject(); // filter result
            results[i] = new MonitoredItemResult(status, id, sampling, queue);
        }

        return results;
    }

    /// <summary>Deletes subscriptions; the result of each (BadSubscriptionIdInvalid for one that is already gone).</summary>
    public async Task<StatusCode[]> DeleteSubscriptionsAsync(IReadOnlyList<uint> subscriptionIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(subscriptionIds);
        var response = await CallAsync(TypeIds.DeleteSubscriptionsRequest, "DeleteSubscriptions", subscriptionIds, static (e, ids) =>
        {
            e.WriteInt32(ids.Count);
            foreach (var id in ids)
            {
                e.WriteUInt32(id);
            }
        }, _options.RequestTimeout, cancellationToken);
        return ReadStatusResults(response, "DeleteSubscriptions");
    }

    /// <summary>
    /// Moves subscriptions from a session that is gone to this one (OPC 10000-4 §5.13.7); each result, with the
    /// sequence numbers the server still holds for Republish.
    /// </summary>
    public async Task<(StatusCode Status, uint[] Available)[]> TransferSubscriptionsAsync(IReadOnlyList<uint> subscriptionIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(subscriptionIds);
        var response = await CallAsync(TypeIds.TransferSubscriptionsRequest, "TransferSubscriptions", subscriptionIds, static (e, ids) =>
        {
            e.WriteInt32(ids.Count);
            foreach (var id in ids)
            {
                e.WriteUInt32(id);
            }

            e.WriteBoolean(false); // send initial values: no, the missing messages come by Republish
        }, _options.RequestTimeout, cancellationToken);
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, "TransferSubscriptions");
        var count = d.ReadLength();
        var results = new (StatusCode, uint[])[count];
        for (var i = 0; i < count; i++)
        {
            results[i] = (d.ReadStatusCode(), ReadUInt32Array(ref d));
        }

        return results;
    }

    /// <summary>
    /// One Publish: acknowledges <paramref name="acknowledgements"/> and waits (up to <paramref name="timeout"/>, which must
    /// outlast the keep-alive) for the next notification message of any subscription of the session.
    /// </summary>
    public async Task<PublishResult> PublishAsync(IReadOnlyList<(uint SubscriptionId, uint SequenceNumber)> acknowledgements, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(acknowledgements);
        var response = await CallAsync(TypeIds.PublishRequest, "Publish", acknowledgements, static (e, acks) =>
        {
            e.WriteInt32(acks.Count);
            foreach (var (subscription, sequence) in acks)
            {
                e.WriteUInt32(subscription);
                e.WriteUInt32(sequence);
            }
        }, timeout, cancellationToken);
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, "Publish");
        var subscriptionId = d.ReadUInt32();
        var available = ReadUInt32Array(ref d);
        var more = d.ReadBoolean();
        var message = ReadNotificationMessage(ref d);
        var count = d.ReadLength();
        var results = new StatusCode[count];
        for (var i = 0; i < count; i++)
        {
            results[i] = d.ReadStatusCode();
        }

        return new PublishResult(subscriptionId, available, more, message, results);
    }

    /// <summary>Asks again for a notification message the server still holds (OPC 10000-4 §5.13.6); throws with BadMessageNotAvailable when it no longer does.</summary>
    public async Task<NotificationMessage> RepublishAsync(uint subscriptionId, uint sequenceNumber, CancellationToken cancellationToken)
    {
        var response = await CallAsync(TypeIds.RepublishRequest, "Republish", (subscriptionId, sequenceNumber), static (e, s) =>
        {
            e.WriteUInt32(s.subscriptionId);
            e.WriteUInt32(s.sequenceNumber);
        }, _options.RequestTimeout, cancellationToken);
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, $"Republish of message {sequenceNumber}");
        return ReadNotificationMessage(ref d);
    }

    private static NotificationMessage ReadNotificationMessage(ref BinaryDecoder d)
    {
        var sequence = d.ReadUInt32();
        var publishTime = d.ReadDateTime();
        var count = d.ReadLength();
        MonitoredValue[] values = [];
        StatusCode? statusChange = null;
        for (var i = 0; i < count; i++)
        {
            var (typeId, length) = d.ReadExtensionObjectHeader();
            if (length < 0)
            {
                continue;
            }

            var end = d.Position + length;
            var type = typeId.IdType == IdType.Numeric && typeId.NamespaceIndex == 0 ? typeId.Numeric : 0;
            if (type == TypeIds.DataChangeNotification)
            {
                var n = d.ReadLength();
                var more = new MonitoredValue[values.Length + n];
                values.CopyTo(more, 0);
                for (var v = 0; v < n; v++)
                {
                    var handle = d.ReadUInt32();
                    var value = ReadValue(ref d);
                    more[values.Length + v] = value with { ClientHandle = handle };
                }

                values = more;
            }
            else if (type == TypeIds.StatusChangeNotification)
            {
                statusChange = d.ReadStatusCode();
            }

            // Diagnostics, events and whatever else: skipped by their length.
            d.Skip(end - d.Position);
        }

        return new NotificationMessage(sequence, publishTime, values, statusChange, count == 0);
    }

    // A DataValue read straight into the struct the connector uses, without the DataValue object.
    private static MonitoredValue ReadValue(ref BinaryDecoder d)
    {
        var mask = d.ReadByte();
        var value = (mask & 0x01) != 0 ? d.ReadVariant() : Variant.Null;
        var status = (mask & 0x02) != 0 ? d.ReadStatusCode() : StatusCode.Good;
        DateTime? source = (mask & 0x04) != 0 ? d.ReadDateTime() : null;
        if ((mask & 0x10) != 0)
        {
            d.ReadUInt16();
        }

        DateTime? server = (mask & 0x08) != 0 ? d.ReadDateTime() : null;
        if ((mask & 0x20) != 0)
        {
            d.ReadUInt16();
        }

        return new MonitoredValue(0, value, status, source, server);
    }

    private static uint[] ReadUInt32Array(ref BinaryDecoder d)
    {
        var count = d.ReadLength();
        var values = new uint[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = d.ReadUInt32();
        }

        return values;
    }

    private static StatusCode[] ReadStatusResults(ServiceResponse response, string service)
    {
        var d = new BinaryDecoder(response.Buffer.AsSpan(response.Offset));
        ResponseHeader.Read(ref d, response.TypeId, service);
        var count = d.ReadLength();
        var results = new StatusCode[count];
        for (var i = 0; i < count; i++)
        {
            results[i] = d.ReadStatusCode();
        }

        return results;
    }
}
