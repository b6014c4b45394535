using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;
using Usine.Configuration;
using Usine.Ingestion;

namespace Usine.Transport.Nats;

/// <summary>
/// What a capture role hands its batches to instead of the engine: every raw message of the batch is published to
/// JetStream, and the batch is done once JetStream has acknowledged each one — only then does the connector
/// acknowledge its own peer (a PUBACK, an HTTP answer). A message sent again (the capture role restarted before it
/// saw the acknowledgement) carries the same message id, and JetStream drops it.
/// </summary>
public sealed partial class JetStreamPublisher(RawStream stream, UsineDefinitions definitions, ILogger<JetStreamPublisher> logger) : IIngestor
{
    private readonly SemaphoreSlim _ensure = new(1, 1);
    private volatile bool _streamReady;

    /// <summary>Messages JetStream stored, and those it dropped as sent before.</summary>
    public long Published => Interlocked.Read(ref _published);

    public long Duplicates => Interlocked.Read(ref _duplicates);

    private long _published;
    private long _duplicates;

    public async Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken)
    {
        if (batch.Mode != IngestMode.Live || batch.Quarantine is not null)
        {
            throw new NotSupportedException("a capture role only publishes new data; replays and retries run on a process role");
        }

        if (!definitions.Sources.TryGetValue(batch.SourceId, out var source))
        {
            throw new ArgumentException($"unknown source '{batch.SourceId}'", nameof(batch));
        }

        try
        {
            return await PublishAsync(batch, source, cancellationToken);
        }
        catch (Exception ex) when (ex is NATS.Client.Core.NatsException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            // The runner keeps the batch unacknowledged with its peer and tries again; HTTP push answers 503.
            throw new UsineException($"JetStream did not store the batch of {batch.SourceId} ({ex.Message}); it is tried again", isTransient: true, ex);
        }
    }

    private async Task<IngestResult> PublishAsync(IngestBatch batch, Usine.Sources.SourceDefinition source, CancellationToken cancellationToken)
    {
        await EnsureStreamAsync(cancellationToken);
        var o = stream.Options;
        var subject = RawMessages.Subject(o.SubjectPrefix, source.Plant.Constant ?? "_", batch.SourceId, batch.StreamId);
        var csv = RawMessages.EncodeCsvHeader(batch.CsvHeader);
        var acks = new Task<NATS.Client.JetStream.Models.PubAckResponse>[batch.Messages.Count];
        for (var i = 0; i < acks.Length; i++)
        {
            var m = batch.Messages[i];
            acks[i] = stream.JetStream.PublishAsync(subject, m.Payload, headers: RawMessages.Headers(batch.SourceId, batch.StreamId, m, csv), cancellationToken: cancellationToken).AsTask();
        }

        var duplicates = 0;
        foreach (var ack in acks)
        {
            var response = await ack;
            if (response.Duplicate)
            {
                duplicates++; // stored before: nothing is lost by dropping it again
                continue;
            }

            response.EnsureSuccess();
        }

        Interlocked.Add(ref _published, acks.Length - duplicates);
        Interlocked.Add(ref _duplicates, duplicates);
        var checkpoint = batch.Checkpoint ?? batch.Messages[^1].Position;
        LogPublished(batch.SourceId, acks.Length, duplicates, subject);
        return new IngestResult(acks.Length, 0, duplicates, 0, checkpoint);
    }

    /// <summary>The last position of the stream JetStream holds: a connector resumes after it.</summary>
    public async Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken)
    {
        try
        {
            await EnsureStreamAsync(cancellationToken);
            return await stream.LastPositionAsync(streamId, cancellationToken);
        }
        catch (Exception ex) when (ex is NATS.Client.Core.NatsException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            // A cluster still electing its leaders: the connector tries again, an HTTP push answers 503.
            throw new UsineException($"JetStream did not say where stream {streamId} is ({ex.Message}); it is tried again", isTransient: true, ex);
        }
    }

    private async Task EnsureStreamAsync(CancellationToken cancellationToken)
    {
        if (_streamReady)
        {
            return;
        }

        await _ensure.WaitAsync(cancellationToken);
        try
        {
            if (!_streamReady)
            {
                await stream.EnsureStreamAsync(cancellationToken);
                _streamReady = true;
            }
        }
        finally
        {
            _ensure.Release();
        }
    }

    [LoggerMessage(EventId = 3100, Level = LogLevel.Debug, Message = "published {Count} raw messages of {SourceId} to {Subject} ({Duplicates} sent before)")]
    private partial void LogPublished(string sourceId, int count, int duplicates, string subject);
}
