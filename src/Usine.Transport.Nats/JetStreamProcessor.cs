using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using Usine.Ingestion;
using Usine.Pipeline;

namespace Usine.Transport.Nats;

/// <summary>
/// A process role's loop: takes raw messages from the durable consumer the processors share, hands them to the
/// engine by stream (which commits records, rollups, dead letters, avatars and the stream's position in one
/// transaction), and acknowledges them to JetStream only after that commit. A processor that dies leaves its
/// messages unacknowledged; JetStream gives them to another after the acknowledgement wait, and the store drops
/// what was committed already. A message delivered <see cref="NatsTransportOptions.MaxDeliver"/> times is given
/// up: it is stored as a dead letter with its payload, for a retry once its cause is fixed.
/// </summary>
public sealed partial class JetStreamProcessor(RawStream stream, IIngestor engine, ILogger<JetStreamProcessor> logger, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private long _processed;
    private long _givenUp;
    private long _lag;

    /// <summary>Messages this processor committed and acknowledged.</summary>
    public long Processed => Interlocked.Read(ref _processed);

    /// <summary>Messages given up after too many deliveries, stored as dead letters.</summary>
    public long GivenUp => Interlocked.Read(ref _givenUp);

    /// <summary>Messages the consumer still had to deliver at the last fetch: the processors' lag.</summary>
    public long Lag => Interlocked.Read(ref _lag);

    /// <summary>The last error, cleared by the next batch that commits.</summary>
    public Exception? LastError { get; private set; }

    /// <summary>Runs until cancelled; connection losses and store failures are retried, never fatal.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var options = stream.Options;
        INatsJSConsumer? consumer = null;
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                consumer ??= await stream.EnsureConsumerAsync(cancellationToken);
                var batch = new List<INatsJSMsg<byte[]>>(options.FetchSize);
                await foreach (var msg in consumer.FetchAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = options.FetchSize, Expires = TimeSpan.FromSeconds(1) }, cancellationToken: cancellationToken))
                {
                    batch.Add(msg);
                }

                if (batch.Count > 0)
                {
                    Interlocked.Exchange(ref _lag, (long)batch[^1].Metadata!.Value.NumPending);
                    await ProcessAsync(batch, cancellationToken);
                }
                else
                {
                    Interlocked.Exchange(ref _lag, 0);
                }

                failures = 0;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LastError = ex;
                failures++;
                var delay = TimeSpan.FromMilliseconds(Math.Min(10_000, 100 * Math.Pow(2, Math.Min(failures, 7))));
                LogFailed(ex, failures, delay);
                if (ex is NatsJSApiException or NatsNoRespondersException)
                {
                    consumer = null; // the stream or the consumer may have to be made again
                }

                try
                {
                    await Task.Delay(delay, _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private async Task ProcessAsync(List<INatsJSMsg<byte[]>> messages, CancellationToken cancellationToken)
    {
        var maxDeliver = stream.Options.MaxDeliver;
        var groups = new Dictionary<(string Source, string Stream, bool GiveUp, bool Again), Group>();
        foreach (var msg in messages)
        {
            (string SourceId, string StreamId, RawMessage Message, IReadOnlyList<string>? CsvHeader) raw;
            try
            {
                raw = RawMessages.Read(msg.Headers, msg.Data);
            }
            catch (Exception ex) when (ex is FormatException or System.Text.Json.JsonException or OverflowException)
            {
                // Not Usine's: nothing to attach it to. Said once, and never delivered again.
                LogForeign(msg.Subject, msg.Metadata?.Sequence.Stream ?? 0, ex.Message);
                await msg.AckTerminateAsync(cancellationToken: cancellationToken);
                continue;
            }

            var delivered = (long)(msg.Metadata?.NumDelivered ?? 1);
            var giveUp = delivered >= maxDeliver;
            var key = (raw.SourceId, raw.StreamId, giveUp, delivered > 1);
            if (!groups.TryGetValue(key, out var group))
            {
                groups[key] = group = new Group(raw.SourceId, raw.StreamId, raw.CsvHeader, giveUp, delivered > 1);
            }

            group.Messages.Add(raw.Message);
            group.Deliveries.Add(msg);
        }

        var work = groups.Values.Select(g => CommitAsync(g, cancellationToken)).ToArray();
        await Task.WhenAll(work);
    }

    private async Task CommitAsync(Group group, CancellationToken cancellationToken)
    {
        var batch = new IngestBatch
        {
            SourceId = group.SourceId,
            StreamId = group.StreamId,
            Messages = group.Messages,
            CsvHeader = group.CsvHeader,
            Checkpoint = group.Messages.Max(m => m.Position),

            // A message delivered again may have been committed by a processor that died before acknowledging it:
            // processed as a replay, what it stored already is not stored twice and its dead letters are upserted.
            Mode = group.Again ? IngestMode.Replay : IngestMode.Live,
            Quarantine = group.GiveUp
                ? $"given up after {stream.Options.MaxDeliver} deliveries to processors that did not commit it (a processor died on it, or its batch kept failing); retry it once the cause is fixed"
                : null,
        };

        // A commit that fails is tried again here while the messages stay ours (the store is back in a moment,
        // usually); JetStream is told we are still at work so that it does not hand them to another processor.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await engine.IngestAsync(batch, cancellationToken);
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && (attempt < stream.Options.CommitAttempts || ex is UsineException { IsTransient: true }))
            {
                // A store that is away (transient) is waited for as long as it takes, without handing the batch
                // back: deliveries count towards giving a message up, and an outage is not the message's fault.
                LastError = ex;
                LogCommitFailed(ex, group.SourceId, group.Messages.Count, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(10_000, 200 * Math.Pow(2, Math.Min(attempt, 6)))), _time, cancellationToken);
                foreach (var d in group.Deliveries)
                {
                    await d.AckProgressAsync(cancellationToken: cancellationToken);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Handed back: it comes again, to this processor or another, one delivery nearer to being given up.
                LastError = ex;
                LogHandedBack(ex, group.SourceId, group.Messages.Count);
                foreach (var d in group.Deliveries)
                {
                    await d.NakAsync(cancellationToken: cancellationToken);
                }

                return;
            }
        }

        foreach (var d in group.Deliveries)
        {
            await d.AckAsync(cancellationToken: cancellationToken);
        }

        Interlocked.Add(ref group.GiveUp ? ref _givenUp : ref _processed, group.Messages.Count);
        LastError = null;
    }

    private sealed class Group(string sourceId, string streamId, IReadOnlyList<string>? csvHeader, bool giveUp, bool again)
    {
        public bool Again { get; } = again;

        public string SourceId { get; } = sourceId;
        public string StreamId { get; } = streamId;
        public IReadOnlyList<string>? CsvHeader { get; } = csvHeader;
        public bool GiveUp { get; } = giveUp;
        public List<RawMessage> Messages { get; } = [];
        public List<INatsJSMsg<byte[]>> Deliveries { get; } = [];
    }

    [LoggerMessage(EventId = 3110, Level = LogLevel.Warning, Message = "taking raw messages from JetStream failed ({Failures} in a row); trying again in {Delay}")]
    private partial void LogFailed(Exception ex, int failures, TimeSpan delay);

    [LoggerMessage(EventId = 3111, Level = LogLevel.Error, Message = "message {Sequence} on {Subject} was not published by a capture role of Usine ({Reason}); it is terminated and will not come again")]
    private partial void LogForeign(string subject, ulong sequence, string reason);

    [LoggerMessage(EventId = 3112, Level = LogLevel.Warning, Message = "committing {Count} messages of {SourceId} failed (attempt {Attempt}); trying again")]
    private partial void LogCommitFailed(Exception ex, string sourceId, int count, int attempt);

    [LoggerMessage(EventId = 3113, Level = LogLevel.Error, Message = "committing {Count} messages of {SourceId} kept failing; they go back to JetStream for another delivery")]
    private partial void LogHandedBack(Exception ex, string sourceId, int count);
}
