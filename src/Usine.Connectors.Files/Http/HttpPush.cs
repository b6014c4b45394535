using System.Text;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Connectors.Http;

/// <summary>What one push did, or why its body was refused (nothing of it was ingested then).</summary>
public sealed record PushResult(long Received, long Stored, long Duplicates, long DeadLetters, string? Error = null);

/// <summary>
/// HTTP push: a body of messages (a JSON array, NDJSON, or CSV with its header line) is one bounded run on the
/// <see cref="SourceRunner"/>, answered once it is committed: the answer is the acknowledgement, so a commit that
/// fails is the caller's error to retry. Positions follow on per stream (one per source, one per source and CSV
/// header), from the stream's checkpoint.
/// </summary>
public sealed class HttpPush(IIngestor engine, ISourceStreams streams, TimeProvider time)
{
    private readonly Dictionary<string, PushStream> _streams = new(StringComparer.Ordinal);

    /// <summary>Ingests the messages of <paramref name="body"/>; <paramref name="job"/> (the source's stream job) counts them.</summary>
    public async Task<PushResult> PushAsync(SourceDefinition source, byte[] body, Job? job, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(body);
        var (messages, header, error) = Split(source, body);
        if (error is not null)
        {
            return new PushResult(0, 0, 0, 0, error);
        }

        if (messages.Count == 0)
        {
            return new PushResult(0, 0, 0, 0, "the body holds no message: send a JSON array of objects, or one JSON object per line");
        }

        var stream = await StreamAsync(source, header, ct);
        var connector = new PushConnector(new SourceStream(source.Id, stream.Id, header), messages, stream.Reserve(messages.Count), time.GetUtcNow().UtcDateTime);

        // One batch, as one transaction: the push is answered all or nothing.
        var options = new SourceRunnerOptions { BatchSize = messages.Count, RetryTransientFaults = false, SetsJobState = false };
        var totals = await new SourceRunner(connector, engine, options, job, time: time).RunAsync(ct);
        ct.ThrowIfCancellationRequested();
        return new PushResult(totals.Received, totals.Stored, totals.Duplicates, totals.DeadLetters);
    }

    /// <summary>Positions of pushes: one stream per source (per source and header line for CSV), numbered on from its checkpoint.</summary>
    private async Task<PushStream> StreamAsync(SourceDefinition source, IReadOnlyList<string>? csvHeader, CancellationToken ct)
    {
        // CSV pushes with the same header share a stream that records it, so that their lines can be read again
        // (replay, dead-letter retry); each push may carry another header, hence one stream per header.
        var id = csvHeader is null
            ? "http:" + source.Id
            : $"http:{source.Id}:csv-{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', csvHeader))))[..12]}";
        PushStream? stream;
        lock (_streams)
        {
            _streams.TryGetValue(id, out stream);
        }

        if (stream is null)
        {
            if (csvHeader is not null)
            {
                await streams.RegisterStreamAsync(id, source.Id, "http", null, csvHeader, ct);
            }

            var checkpoint = await engine.GetCheckpointAsync(id, ct) ?? 0;
            lock (_streams)
            {
                if (!_streams.TryGetValue(id, out stream))
                {
                    _streams[id] = stream = new PushStream(id, checkpoint);
                }
            }
        }

        return stream;
    }

    /// <summary>Hands out increasing positions to the pushes of one stream.</summary>
    private sealed class PushStream(string id, long start)
    {
        private long _next = start;

        public string Id { get; } = id;

        /// <summary>Reserves <paramref name="count"/> positions and returns the first.</summary>
        public long Reserve(int count) => Interlocked.Add(ref _next, count) - count + 1;
    }

    /// <summary>The messages of one push, at the positions reserved for them.</summary>
    private sealed class PushConnector(SourceStream stream, List<ReadOnlyMemory<byte>> messages, long first, DateTime receivedAt) : ISourceConnector
    {
        public SourceStream Stream => stream;

        public string Endpoint => "HTTP push";

        public async Task ReceiveAsync(ReceiveContext context, CancellationToken cancellationToken)
        {
            context.Connected();
            for (var i = 0; i < messages.Count; i++)
            {
                await context.Messages.WriteAsync(new ReceivedMessage(new RawMessage(first + i, receivedAt, messages[i])), cancellationToken);
            }
        }

        public ValueTask AcknowledgeAsync(IReadOnlyList<ReceivedMessage> committed, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>A push body as messages: a JSON array's elements, NDJSON lines, or CSV records after a header.</summary>
    private static (List<ReadOnlyMemory<byte>> Messages, IReadOnlyList<string>? Header, string? Error) Split(SourceDefinition source, byte[] body)
    {
        var list = new List<ReadOnlyMemory<byte>>();
        var span = body.AsSpan();
        var start = span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        while (start < span.Length && span[start] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            start++;
        }

        if (source.Format == PayloadFormat.Json && start < span.Length && span[start] == '[')
        {
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(body.AsMemory(start));
                foreach (var e in doc.RootElement.EnumerateArray())
                {
                    // Each element exactly as sent: serializing it again would rewrite its escapes and numbers.
                    list.Add(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(e).ToArray());
                }
            }
            catch (System.Text.Json.JsonException ex)
            {
                return (list, null, "the body starts with '[' but is not a valid JSON array: " + ex.Message);
            }

            return (list, null, null);
        }

        IReadOnlyList<string>? header = null;
        var mem = body.AsMemory();
        var pos = start > 0 && span[0] == 0xEF ? 3 : 0;
        while (pos < body.Length)
        {
            var nl = Array.IndexOf(body, (byte)'\n', pos);
            var end = nl < 0 ? body.Length : nl;
            var line = mem[pos..end];
            if (line.Length > 0 && line.Span[^1] == '\r')
            {
                line = line[..^1];
            }

            pos = end + 1;
            if (line.Span.Trim(" \t"u8).IsEmpty)
            {
                continue;
            }

            if (source.Format == PayloadFormat.Csv && header is null)
            {
                header = Csv.ParseRecord(Encoding.UTF8.GetString(line.Span), CsvOptions.Of(source).Delimiter);
                continue;
            }

            list.Add(line);
        }

        return (list, header, null);
    }

}
