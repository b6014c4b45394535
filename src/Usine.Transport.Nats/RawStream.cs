using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Usine.Transport.Nats;

/// <summary>The JetStream stream of raw messages and the processors' durable consumer, created or brought to the configured settings.</summary>
public sealed class RawStream(INatsJSContext js, NatsTransportOptions options)
{
    public NatsTransportOptions Options { get; } = options;

    public INatsJSContext JetStream { get; } = js;

    /// <summary>Creates the stream, or updates it to the options (file storage, replicas, age, duplicate window).</summary>
    public async Task<INatsJSStream> EnsureStreamAsync(CancellationToken cancellationToken)
    {
        var config = new StreamConfig(Options.Stream, [Options.SubjectPrefix + ".>"])
        {
            Storage = StreamConfigStorage.File,
            NumReplicas = Options.Replicas,
            MaxAge = Options.MaxAge,
            DuplicateWindow = Options.DuplicateWindow,
            AllowDirect = true,
            Retention = StreamConfigRetention.Limits,
            Discard = Options.Discard == "new" ? StreamConfigDiscard.New : StreamConfigDiscard.Old,
            MaxBytes = Options.MaxBytes > 0 ? Options.MaxBytes : -1,
        };
        var edges = Options.ParseEdgeDomains();
        if (edges.Count > 0)
        {
            // Each plant's edge stream flows in through its leaf node, as the link allows; its messages keep their
            // subjects and headers, and the processors read them with the others.
            config = config with
            {
                Sources = [.. edges.Select(domain => new StreamSource { Name = Options.EdgeStream, External = new ExternalStreamSource { Api = $"$JS.{domain}.API" } })],
            };
        }

        return await JetStream.CreateOrUpdateStreamAsync(config, cancellationToken);
    }

    /// <summary>
    /// Creates the durable pull consumer the processors share, or updates it. Deliveries are not bounded by the
    /// server: a processor gives a message up itself once it was delivered <see cref="NatsTransportOptions.MaxDeliver"/>
    /// times, as a dead letter, so that nothing stays unacknowledged in the stream unseen.
    /// </summary>
    public async Task<INatsJSConsumer> EnsureConsumerAsync(CancellationToken cancellationToken)
    {
        await EnsureStreamAsync(cancellationToken);
        var config = new ConsumerConfig(Options.Consumer)
        {
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            DeliverPolicy = ConsumerConfigDeliverPolicy.All,
            AckWait = Options.AckWait,
            MaxDeliver = -1,
            MaxAckPending = Math.Max(10_000, Options.FetchSize * 8),
        };
        return await JetStream.CreateOrUpdateConsumerAsync(Options.Stream, config, cancellationToken);
    }

    /// <summary>The position of the last message of a stream in JetStream, or null when it has none.</summary>
    public async Task<long?> LastPositionAsync(string streamId, CancellationToken cancellationToken)
    {
        var stream = await JetStream.GetStreamAsync(Options.Stream, cancellationToken: cancellationToken);
        try
        {
            var last = await stream.GetAsync(new StreamMsgGetRequest { LastBySubj = RawMessages.AnySubjectOf(Options.SubjectPrefix, streamId) }, cancellationToken);
            return last.Message.Hdrs is null ? null : RawMessages.PositionOf(last.Message.Hdrs);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            return null;
        }
    }

    /// <summary>Messages the consumer has not delivered yet plus those delivered and not acknowledged: the processors' lag.</summary>
    public async Task<(ulong Pending, long Unacknowledged)> LagAsync(CancellationToken cancellationToken)
    {
        var consumer = await JetStream.GetConsumerAsync(Options.Stream, Options.Consumer, cancellationToken);
        return (consumer.Info.NumPending, consumer.Info.NumAckPending);
    }
}
