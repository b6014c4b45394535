using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Usine.Connectors.Files.Internal;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Connectors.Files;

/// <summary>
/// The connector of one file (CSV, NDJSON or a JSON array; gzip or not), a bounded run on the <see cref="SourceRunner"/>:
/// positions are line numbers (element numbers in a JSON array), so the lines at or below the stream's checkpoint
/// are skipped and an import cut short resumes where it stopped. The content's SHA-256 is checked at the end.
/// Acknowledging is the import's answer, so there is nothing to acknowledge to a peer.
/// </summary>
internal sealed class FileImportConnector(SourceDefinition source, System.IO.Stream content, string? name, string sha256, string streamId, ISourceStreams streams, TimeProvider time) : ISourceConnector
{
    private readonly IncrementalHash _hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly Arena _arena = new();
    private PipeReader? _reader;
    private long _checkpoint;
    private DateTime _now;

    public SourceStream Stream { get; private set; } = new(source.Id, streamId);

    public string Endpoint => name ?? sha256;

    /// <summary>csv, ndjson or json-array, once the content was read.</summary>
    public string Format { get; private set; } = source.Format == PayloadFormat.Csv ? "csv" : "ndjson";

    /// <summary>Lines at or below the checkpoint, already imported before.</summary>
    public long Skipped { get; private set; }

    /// <summary>Messages handed over to the runner (lines above the checkpoint).</summary>
    public long Written { get; private set; }

    public async Task ReceiveAsync(ReceiveContext context, CancellationToken ct)
    {
        context.Connected();
        await ReadAsync(context, ct);
    }

    /// <summary>Reads the content to its end, handing each line above the stream's checkpoint to the runner.</summary>
    public async Task ReadAsync(ReceiveContext context, CancellationToken ct)
    {
        _checkpoint = await context.CheckpointAsync(ct) ?? 0;
        _now = time.GetUtcNow().UtcDateTime;
        var decoded = await SkipByteOrderMark(await Decompress(new HashingStream(content, _hasher), ct), ct);
        _reader = PipeReader.Create(decoded, new StreamPipeReaderOptions(bufferSize: 1 << 16));
        var lines = new LineReader(_reader, source.MaxPayloadBytes);
        var output = context.Messages;
        if (source.Format == PayloadFormat.Csv)
        {
            await ReadCsvAsync(lines, output, ct);
        }
        else
        {
            await streams.RegisterStreamAsync(streamId, source.Id, "file", name, null, ct);
            if (await lines.PeekFirstByteAsync(ct) == (byte)'[')
            {
                Format = "json-array";
                await lines.DrainToAsync(async s =>
                {
                    long index = 0;
                    await foreach (var element in JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(s, cancellationToken: ct))
                    {
                        index++;
                        // The element exactly as written: serializing it again would rewrite its escapes and numbers.
                        await AddAsync(output, index, System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(element).ToArray(), 0, ct);
                    }
                });
            }
            else
            {
                while (await lines.NextAsync(ct) is { } line)
                {
                    if (!IsBlank(line.Bytes.Span))
                    {
                        await AddAsync(output, line.Number, line.Bytes, line.ReceivedLength, ct);
                    }
                }
            }
        }

        await _reader.CompleteAsync();
        var actual = Convert.ToHexStringLower(_hasher.GetHashAndReset());
        if (actual != sha256)
        {
            throw new InvalidDataException($"the content's SHA-256 is {actual}, not {sha256} as announced; nothing was lost, but import it again without sha256 or with the right one");
        }
    }

    private async Task ReadCsvAsync(LineReader lines, System.Threading.Channels.ChannelWriter<ReceivedMessage> output, CancellationToken ct)
    {
        var headerLine = await lines.NextAsync(ct) ?? throw new InvalidDataException("the CSV file is empty: it needs a header line");
        var header = Csv.ParseRecord(Encoding.UTF8.GetString(headerLine.Bytes.Span).TrimStart('\uFEFF').TrimEnd('\r'), CsvOptions.Of(source).Delimiter);
        Stream = Stream with { CsvHeader = header };
        await streams.RegisterStreamAsync(streamId, source.Id, "file", name, header, ct);
        var record = new ArrayBufferWriter<byte>();
        long recordStart = 0;
        while (await lines.NextAsync(ct) is { } line)
        {
            if (record.WrittenCount == 0)
            {
                recordStart = line.Number;
                if (line.Bytes.Length == 0)
                {
                    continue;
                }
            }
            else
            {
                record.Write("\n"u8);
            }

            record.Write(line.Bytes.Span);
            if (line.ReceivedLength == 0 && Csv.InsideQuotes(record.WrittenSpan) && record.WrittenCount <= source.MaxPayloadBytes)
            {
                continue; // a quoted cell goes on over the line break
            }

            await AddAsync(output, recordStart, record.WrittenMemory, line.ReceivedLength, ct);
            record.Clear();
        }

        if (record.WrittenCount > 0)
        {
            await AddAsync(output, recordStart, record.WrittenMemory, 0, ct);
        }
    }

    private ValueTask AddAsync(System.Threading.Channels.ChannelWriter<ReceivedMessage> output, long position, ReadOnlyMemory<byte> payload, long receivedLength, CancellationToken ct)
    {
        if (position <= _checkpoint)
        {
            Skipped++;
            return ValueTask.CompletedTask;
        }

        var message = new ReceivedMessage(new RawMessage(position, _now, _arena.Copy(payload.Span), null, receivedLength));
        Written++;
        return output.TryWrite(message) ? ValueTask.CompletedTask : output.WriteAsync(message, ct);
    }

    public ValueTask AcknowledgeAsync(IReadOnlyList<ReceivedMessage> committed, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_reader is not null)
        {
            await _reader.CompleteAsync();
        }

        _hasher.Dispose();
    }

    private static bool IsBlank(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Drops a UTF-8 byte order mark: spreadsheet exports start with one, and it would otherwise make the first
    /// line invalid JSON or glue itself to the first CSV column name.
    /// </summary>
    private static async Task<System.IO.Stream> SkipByteOrderMark(System.IO.Stream s, CancellationToken ct)
    {
        var head = await ReadHead(s, 3, ct);
        return head.Length == 3 && head.Span.SequenceEqual("\uFEFF"u8) ? s : new PrefixedStream(head, s);
    }

    private static async Task<ReadOnlyMemory<byte>> ReadHead(System.IO.Stream s, int count, CancellationToken ct)
    {
        var head = new byte[count];
        var n = 0;
        while (n < count)
        {
            var r = await s.ReadAsync(head.AsMemory(n), ct);
            if (r == 0)
            {
                break;
            }

            n += r;
        }

        return head.AsMemory(0, n);
    }

    private static async Task<System.IO.Stream> Decompress(System.IO.Stream s, CancellationToken ct)
    {
        var head = new byte[2];
        var n = 0;
        while (n < 2)
        {
            var r = await s.ReadAsync(head.AsMemory(n), ct);
            if (r == 0)
            {
                break;
            }

            n += r;
        }

        System.IO.Stream whole = new PrefixedStream(head.AsMemory(0, n), s);
        return n == 2 && head[0] == 0x1f && head[1] == 0x8b ? new GzipFileStream(whole) : whole;
    }

    /// <summary>Payloads share large buffers instead of one array each.</summary>
    private sealed class Arena
    {
        private byte[] _buffer = new byte[1 << 20];
        private int _used;

        public ReadOnlyMemory<byte> Copy(ReadOnlySpan<byte> bytes)
        {
            if (_used + bytes.Length > _buffer.Length)
            {
                _buffer = new byte[Math.Max(1 << 20, bytes.Length)];
                _used = 0;
            }

            bytes.CopyTo(_buffer.AsSpan(_used));
            var m = _buffer.AsMemory(_used, bytes.Length);
            _used += bytes.Length;
            return m;
        }
    }
}
