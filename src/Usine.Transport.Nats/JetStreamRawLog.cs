using System.Globalization;
using System.Runtime.CompilerServices;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Pipeline;

namespace Usine.Transport.Nats;

/// <summary>
/// The JetStream stream read back for a replay by time range. An ephemeral consumer of the replay's own starts at
/// the range's start (less <see cref="NatsTransportOptions.ReplaySlack"/>), filtered to the source's subjects, and
/// reads forward until the stream's time passes the range's end (plus the slack) or nothing is left; each message
/// is kept when its source and receive time (its headers) fall in the range. The processors' consumer is not
/// touched: a replay neither moves nor waits for it.
/// </summary>
public sealed class JetStreamRawLog(RawStream stream) : IRawMessageLog
{
    /// <summary>Messages of one stream handed on together (the replay's batch).</summary>
    internal const int GroupSize = 5_000;

    /// <summary>
    /// Messages held back while the streams of a source come interleaved; past this, the largest group goes on
    /// as it is, so memory stays bounded whatever the number of streams.
    /// </summary>
    internal const int MaxHeld = 50_000;

    public string Origin => "jetstream";

    public string Description => $"the JetStream stream {stream.Options.Stream}";

    /// <summary>
    /// While the stream has lost nothing (its first sequence is 1), it holds every message received since it was
    /// made. Once messages aged out (<see cref="NatsTransportOptions.MaxAge"/>, <see cref="NatsTransportOptions.MaxBytes"/>),
    /// every message received from the oldest one's time on is there — plus the slack, for a message received a
    /// moment before another that was stored first.
    /// </summary>
    public async Task<DateTime?> FirstTimeAsync(CancellationToken cancellationToken)
    {
        INatsJSStream s;
        try
        {
            s = await Unavailable(() => stream.JetStream.GetStreamAsync(stream.Options.Stream, cancellationToken: cancellationToken).AsTask());
        }
        catch (UsineException ex) when (ex.InnerException is NatsJSApiException { Error.Code: 404 })
        {
            return null; // not made yet: no capture role has published
        }

        var state = s.Info.State;
        if (state.FirstSeq <= 1)
        {
            return s.Info.Created.UtcDateTime;
        }

        return state.Messages == 0 || state.FirstTs is not { } first ? null : ParseTime(first) + stream.Options.ReplaySlack;
    }

    /// <summary>A time as the JetStream API writes it (RFC 3339 with up to nine decimals of a second, which .NET reads to seven).</summary>
    internal static DateTime ParseTime(string text)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            var end = dot + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end]))
            {
                end++;
            }

            if (end - dot - 1 > 7)
            {
                text = string.Concat(text.AsSpan(0, dot + 8), text.AsSpan(end));
            }
        }

        return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).UtcDateTime;
    }

    public async IAsyncEnumerable<RawZoneMessage> ReadAsync(
        string sourceId, DateTime from, DateTime to, IDictionary<string, IReadOnlyList<string>> csvHeaders, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var o = stream.Options;
        var config = new ConsumerConfig
        {
            Name = "usine-replay-" + Guid.NewGuid().ToString("N")[..12],
            AckPolicy = ConsumerConfigAckPolicy.None,
            DeliverPolicy = ConsumerConfigDeliverPolicy.ByStartTime,
            OptStartTime = new DateTimeOffset(from - o.ReplaySlack, TimeSpan.Zero),

            // Messages from the plants' edge servers keep the subjects they were given there, under another prefix:
            // with edge domains the source is picked by its header alone.
            FilterSubject = o.ParseEdgeDomains().Count == 0 ? $"{o.SubjectPrefix}.*.{RawMessages.Token(sourceId)}.*" : null,
            InactiveThreshold = TimeSpan.FromMinutes(1),
            MemStorage = true,
            NumReplicas = 1,
        };
        var consumer = await Unavailable(() => stream.JetStream.CreateOrUpdateConsumerAsync(o.Stream, config, cancellationToken).AsTask());
        try
        {
            var end = to + o.ReplaySlack;
            var left = (long)consumer.Info.NumPending;
            var held = new Dictionary<string, List<RawMessage>>(StringComparer.Ordinal);
            var heldCount = 0;
            while (left > 0)
            {
                var got = 0;
                var past = false;
                var fetched = await Unavailable(() => FetchAsync(consumer, (int)Math.Min(left, 1_000), cancellationToken));
                foreach (var msg in fetched)
                {
                    got++;
                    if (msg.Metadata is { } meta)
                    {
                        left = (long)meta.NumPending;
                        if (meta.Timestamp.UtcDateTime > end)
                        {
                            past = true;
                            break;
                        }
                    }

                    (string SourceId, string StreamId, RawMessage Message, IReadOnlyList<string>? CsvHeader) raw;
                    try
                    {
                        raw = RawMessages.Read(msg.Headers, msg.Data);
                    }
                    catch (Exception ex) when (ex is FormatException or System.Text.Json.JsonException or OverflowException)
                    {
                        continue; // not Usine's: the processors terminated it too
                    }

                    if (!string.Equals(raw.SourceId, sourceId, StringComparison.Ordinal) || raw.Message.ReceivedAt < from || raw.Message.ReceivedAt >= to)
                    {
                        continue;
                    }

                    if (raw.CsvHeader is { } header)
                    {
                        csvHeaders[raw.StreamId] = header;
                    }

                    if (!held.TryGetValue(raw.StreamId, out var group))
                    {
                        held[raw.StreamId] = group = [];
                    }

                    group.Add(raw.Message);
                    heldCount++;
                    if (group.Count >= GroupSize || heldCount >= MaxHeld)
                    {
                        var (id, largest) = group.Count >= GroupSize ? (raw.StreamId, group) : held.MaxBy(g => g.Value.Count) is var l ? (l.Key, l.Value) : default;
                        heldCount -= largest.Count;
                        held.Remove(id);
                        foreach (var m in InOrder(sourceId, id, largest))
                        {
                            yield return m;
                        }
                    }
                }

                if (past)
                {
                    break;
                }

                if (got == 0)
                {
                    // Nothing came within the wait: the messages left may have aged out meanwhile.
                    await Unavailable(async () => await consumer.RefreshAsync(cancellationToken));
                    left = (long)consumer.Info.NumPending;
                }
            }

            foreach (var (id, group) in held.OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                foreach (var m in InOrder(sourceId, id, group))
                {
                    yield return m;
                }
            }
        }
        finally
        {
            try
            {
                await stream.JetStream.DeleteConsumerAsync(o.Stream, config.Name, CancellationToken.None);
            }
            catch (NatsException)
            {
                // It goes by itself after its inactive threshold.
            }
        }
    }

    private static async Task<List<INatsJSMsg<byte[]>>> FetchAsync(INatsJSConsumer consumer, int max, CancellationToken cancellationToken)
    {
        var messages = new List<INatsJSMsg<byte[]>>(max);
        await foreach (var msg in consumer.FetchAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = max, Expires = TimeSpan.FromSeconds(5) }, cancellationToken: cancellationToken))
        {
            messages.Add(msg);
        }

        return messages;
    }

    /// <summary>Runs a call to JetStream; a failure becomes a transient error saying the replay can be run again.</summary>
    private async Task<T> Unavailable<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (NatsException ex)
        {
            throw new UsineException($"reading {Description} failed ({ex.Message}); a replay stores nothing twice: run it again", isTransient: true, ex);
        }
    }

    private Task Unavailable(Func<Task> call) => Unavailable(async () =>
    {
        await call();
        return true;
    });

    /// <summary>A stream's messages by position, each once: one sent again after the duplicate window is in the stream twice.</summary>
    private static IEnumerable<RawZoneMessage> InOrder(string sourceId, string streamId, List<RawMessage> messages) =>
        messages.OrderBy(m => m.Position).DistinctBy(m => m.Position).Select(m => new RawZoneMessage(sourceId, streamId, m));
}
