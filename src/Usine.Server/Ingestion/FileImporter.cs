using System.Buffers;
using System.IO.Compression;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Pipeline;
using Usine.Sources;
using Usine.Storage;

namespace Usine.Server.Ingestion;

/// <summary>What one import did.</summary>
public sealed record ImportResult(
    string Source, string Stream, string? Name, string Sha256, string Format,
    long Messages, long Skipped, long Stored, long Duplicates, long DeadLetters, bool AlreadyImported, double ElapsedMs, string? Job = null);

/// <summary>
/// Imports a file (CSV, NDJSON or a JSON array; gzip or not) as a bounded stream through the same engine
/// as the live sources. The stream is named after the content's SHA-256 and positions are line numbers
/// (element numbers in a JSON array), so importing the same content again skips every line already
/// committed: a second import stores nothing, and an import cut by a crash resumes where it stopped.
/// Each import is a job of kind import in <paramref name="jobs"/>, when given.
/// </summary>
public sealed class FileImporter(IIngestor engine, IRawZone store, TimeProvider time, JobRegistry? jobs = null)
{
    /// <summary>Messages per batch handed to the engine; each batch is one transaction.</summary>
    public int BatchSize { get; init; } = 25_000;

    public static string StreamId(string sourceId, string sha256) => $"file:{sourceId}:{sha256}";

    /// <summary>Imports a file on disk, hashing it first.</summary>
    /// <param name="declaredCount">The number of lines (records) the producer says the file has, checked by reconciliation.</param>
    /// <param name="name">The name the file is known by (an upload spooled to a temporary file keeps its own); default: the file name.</param>
    public async Task<ImportResult> ImportFileAsync(SourceDefinition source, string path, CancellationToken ct, long? declaredCount = null, string? name = null)
    {
        name ??= Path.GetFileName(path);
        var job = jobs?.Start(JobKind.Import, source.Id, name);
        try
        {
            var (sha, lines) = await HashAndCountLinesAsync(path, ct);
            if (job is not null)
            {
                // A record per line, after the header of a CSV file; a quoted cell over several lines makes it an upper bound.
                job.Total = lines is { } n ? (source.Format == PayloadFormat.Csv ? Math.Max(0, n - 1) : n) : declaredCount;
            }

            await using var s = File.OpenRead(path);
            return await ImportAsync(source, s, name, sha, job, declaredCount, ct);
        }
        catch (Exception ex) when (job is not null && job.State == JobState.Running)
        {
            job.SetState(JobState.Failed, ex.Message);
            throw;
        }
    }

    /// <summary>The file's SHA-256 and, when it is not gzip, its number of lines (what the import job's total is made of).</summary>
    private static async Task<(string Sha256, long? Lines)> HashAndCountLinesAsync(string path, CancellationToken ct)
    {
        using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            await using var f = File.OpenRead(path);
            long lines = 0;
            var first = true;
            var gzip = false;
            var lastWasNewline = true;
            int n;
            while ((n = await f.ReadAsync(buffer.AsMemory(), ct)) > 0)
            {
                var chunk = buffer.AsSpan(0, n);
                if (first)
                {
                    gzip = n >= 2 && chunk[0] == 0x1f && chunk[1] == 0x8b;
                    first = false;
                }

                hasher.AppendData(chunk);
                lines += chunk.Count((byte)'\n');
                lastWasNewline = chunk[^1] == (byte)'\n';
            }

            // A last line without its line break is a line too.
            if (!first && !lastWasNewline)
            {
                lines++;
            }

            return (Convert.ToHexStringLower(hasher.GetHashAndReset()), gzip ? null : lines);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Imports from a stream whose SHA-256 is known (a client computed it); it is checked at the end.</summary>
    public async Task<ImportResult> ImportAsync(SourceDefinition source, Stream content, string? name, string sha256, CancellationToken ct, long? declaredCount = null)
    {
        var job = jobs?.Start(JobKind.Import, source.Id, name ?? sha256);
        if (job is not null)
        {
            job.Total = declaredCount;
        }

        return await ImportAsync(source, content, name, sha256, job, declaredCount, ct);
    }

    private async Task<ImportResult> ImportAsync(SourceDefinition source, Stream content, string? name, string sha256, Job? job, long? declaredCount, CancellationToken ct)
    {
        try
        {
            var result = await RunAsync(source, content, name, sha256, job, declaredCount, ct) with { Job = job?.Id };
            job?.SetState(JobState.Stopped, result.AlreadyImported
                ? $"already imported: {result.Skipped} lines skipped"
                : $"{result.Messages} messages: {result.Stored} stored, {result.Duplicates} duplicates, {result.DeadLetters} dead letters");
            return result;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            job?.SetState(JobState.Failed, "cancelled before the end of the file; importing it again resumes where it stopped");
            throw;
        }
        catch (Exception ex)
        {
            job?.SetState(JobState.Failed, ex.Message);
            throw;
        }
    }

    private async Task<ImportResult> RunAsync(SourceDefinition source, Stream content, string? name, string sha256, Job? job, long? declaredCount, CancellationToken ct)
    {
        var started = time.GetTimestamp();
        sha256 = sha256.ToLowerInvariant();
        var streamId = StreamId(source.Id, sha256);
        var checkpoint = await engine.GetCheckpointAsync(streamId, ct) ?? 0;
        using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var hashing = new HashingStream(content, hasher);
        var decoded = await SkipByteOrderMark(await Decompress(hashing, ct), ct);
        var reader = PipeReader.Create(decoded, new StreamPipeReaderOptions(bufferSize: 1 << 16));

        var counters = new Counters();
        var pending = new Queue<Task<IngestResult>>();
        var batch = new List<RawMessage>(BatchSize);
        var arena = new Arena();
        IReadOnlyList<string>? header = null;
        var format = source.Format == PayloadFormat.Csv ? "csv" : "ndjson";
        var now = time.GetUtcNow().UtcDateTime;

        void Count(IngestResult r)
        {
            counters.Add(r);
            job?.Record(r);
        }

        async Task Flush()
        {
            if (batch.Count == 0)
            {
                return;
            }

            var messages = batch.ToArray();
            batch.Clear();
            arena = new Arena();
            pending.Enqueue(engine.IngestAsync(new IngestBatch { SourceId = source.Id, StreamId = streamId, Messages = messages, CsvHeader = header }, ct));

            // Two batches in flight: the engine processes one while the store commits the other.
            while (pending.Count > 1)
            {
                Count(await pending.Dequeue());
            }
        }

        void Add(long position, ReadOnlySpan<byte> payload, long receivedLength)
        {
            if (position <= checkpoint)
            {
                counters.Skipped++;
                return;
            }

            batch.Add(new RawMessage(position, now, arena.Copy(payload), null, receivedLength));
        }

        var lines = new LineReader(reader, source.MaxPayloadBytes);
        if (source.Format == PayloadFormat.Csv)
        {
            var headerLine = await lines.NextAsync(ct);
            if (headerLine is null)
            {
                throw new InvalidDataException("the CSV file is empty: it needs a header line");
            }

            header = Csv.ParseRecord(Encoding.UTF8.GetString(headerLine.Value.Bytes.Span).TrimStart('\uFEFF').TrimEnd('\r'), CsvOptions.Of(source).Delimiter);
            await store.RegisterStreamAsync(streamId, source.Id, "file", name, header, ct);
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

                Add(recordStart, record.WrittenSpan, line.ReceivedLength);
                record.Clear();
                if (batch.Count >= BatchSize)
                {
                    await Flush();
                }
            }

            if (record.WrittenCount > 0)
            {
                Add(recordStart, record.WrittenSpan, 0);
            }
        }
        else
        {
            await store.RegisterStreamAsync(streamId, source.Id, "file", name, null, ct);
            var first = await lines.PeekFirstByteAsync(ct);
            if (first == (byte)'[')
            {
                format = "json-array";
                await lines.DrainToAsync(async s =>
                {
                    long index = 0;
                    await foreach (var element in JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(s, cancellationToken: ct))
                    {
                        index++;
                        // The element exactly as written: serializing it again would rewrite its escapes and numbers.
                        Add(index, System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(element).ToArray(), 0);
                        if (batch.Count >= BatchSize)
                        {
                            await Flush();
                        }
                    }
                });
            }
            else
            {
                while (await lines.NextAsync(ct) is { } line)
                {
                    var bytes = line.Bytes.Span;
                    if (IsBlank(bytes))
                    {
                        continue;
                    }

                    Add(line.Number, bytes, line.ReceivedLength);
                    if (batch.Count >= BatchSize)
                    {
                        await Flush();
                    }
                }
            }
        }

        await Flush();
        while (pending.Count > 0)
        {
            Count(await pending.Dequeue());
        }

        await reader.CompleteAsync();
        var actual = Convert.ToHexStringLower(hasher.GetHashAndReset());
        if (actual != sha256)
        {
            throw new InvalidDataException($"the content's SHA-256 is {actual}, not {sha256} as announced; nothing was lost, but import it again without sha256 or with the right one");
        }

        // The whole file was read: its line count is now known, for reconciliation against what landed.
        await store.CompleteStreamAsync(streamId, counters.Messages + counters.Skipped, declaredCount, ct);

        return new ImportResult(source.Id, streamId, name, sha256, format, counters.Messages, counters.Skipped, counters.Stored, counters.Duplicates,
            counters.DeadLetters, counters.Messages == 0 && counters.Skipped > 0, time.GetElapsedTime(started).TotalMilliseconds);
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
    private static async Task<Stream> SkipByteOrderMark(Stream s, CancellationToken ct)
    {
        var head = await ReadHead(s, 3, ct);
        return head.Length == 3 && head.Span.SequenceEqual("\uFEFF"u8) ? s : new PrefixedStream(head, s);
    }

    private static async Task<ReadOnlyMemory<byte>> ReadHead(Stream s, int count, CancellationToken ct)
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

    private static async Task<Stream> Decompress(Stream s, CancellationToken ct)
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

        Stream whole = new PrefixedStream(head.AsMemory(0, n), s);
        return n == 2 && head[0] == 0x1f && head[1] == 0x8b ? new GzipFileStream(whole) : whole;
    }

    private sealed class Counters
    {
        public long Messages;
        public long Skipped;
        public long Stored;
        public long Duplicates;
        public long DeadLetters;

        public void Add(IngestResult r)
        {
            Messages += r.Received;
            Stored += r.Stored;
            Duplicates += r.Duplicates;
            DeadLetters += r.DeadLetters;
        }
    }

    /// <summary>Payloads of one batch share large buffers instead of one array each.</summary>
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
