using System.Buffers;
using System.Security.Cryptography;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Connectors.Files;

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
public sealed class FileImporter(IIngestor engine, ISourceStreams streams, TimeProvider time, JobRegistry? jobs = null)
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
                job.Total = Records(source, lines) ?? declaredCount;
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

    /// <summary>A record per line, after the header of a CSV file; a quoted cell over several lines makes it an upper bound.</summary>
    internal static long? Records(SourceDefinition source, long? lines) =>
        lines is { } n ? (source.Format == PayloadFormat.Csv ? Math.Max(0, n - 1) : n) : null;

    /// <summary>The file's SHA-256 and, when it is not gzip, its number of lines (what the import job's total is made of).</summary>
    internal static async Task<(string Sha256, long? Lines)> HashAndCountLinesAsync(string path, CancellationToken ct)
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
        var connector = new FileImportConnector(source, content, name, sha256, streamId, streams, time);

        // A bounded run: its answer is the acknowledgement, so a commit that fails ends it with the error.
        var options = new FileConnectorOptions { ImportBatchSize = BatchSize }.RunnerOptions with { RetryTransientFaults = false, SetsJobState = false };
        var totals = await new SourceRunner(connector, engine, options, job, time: time).RunAsync(ct);
        ct.ThrowIfCancellationRequested();

        // The whole file was read: its line count is now known, for reconciliation against what landed.
        await streams.CompleteStreamAsync(streamId, totals.Received + connector.Skipped, declaredCount, ct);

        return new ImportResult(source.Id, streamId, name, sha256, connector.Format, totals.Received, connector.Skipped, totals.Stored, totals.Duplicates,
            totals.DeadLetters, totals.Received == 0 && connector.Skipped > 0, time.GetElapsedTime(started).TotalMilliseconds);
    }
}
