using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Operations;
using Usine.Sources;

namespace Usine.Connectors.Files;

/// <summary>
/// The connector of a drop folder, run by the <see cref="SourceRunner"/>: each new file is read as a stream of its
/// own (<c>file:SOURCE:SHA256</c>, positions are line numbers, the lines at or below its checkpoint skipped) and is
/// moved to <c>done/</c> only once every line handed over is committed: the move is the file's acknowledgement, so
/// a file cut short by a crash stays and is resumed. A file that cannot be read goes to <c>failed/</c> with a
/// <c>.error</c> note. Files are only picked up once their size stops changing between two looks, so a file still
/// being copied is never read half-way. Each file is also an import job of its own, in <paramref name="jobs"/>.
/// </summary>
/// <remarks>
/// One file at a time, and the next only once the last is acknowledged, so a batch never mixes two streams. The
/// folder is the peer: while it cannot be read, the runner reports the connector reconnecting (its job degraded).
/// </remarks>
public sealed partial class FileDropConnector(SourceDefinition source, string folder, ISourceStreams streams, TimeSpan interval, JobRegistry? jobs = null, ILogger<FileDropConnector>? logger = null, TimeProvider? time = null) : ISourceConnector
{
    /// <summary>A producer may drop <c>NAME.count</c> beside <c>NAME</c>, holding the number of records NAME has; reconciliation checks it.</summary>
    public const string CountSuffix = ".count";

    private readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal);
    private readonly SourceStream _between = new(source.Id, "file:" + source.Id);
    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private FileImportConnector? _file;
    private long _acknowledged;
    private long _skipped;
    private long _expected = long.MaxValue;
    private TaskCompletionSource _allAcknowledged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _connected;

    public SourceStream Stream => _file?.Stream ?? _between;

    public string Endpoint => folder;

    /// <summary>Files imported and moved to <c>done/</c>.</summary>
    public long FilesImported { get; private set; }

    /// <summary>The last file that could not be imported, with why.</summary>
    public string? LastFileError { get; private set; }

    public async Task ReceiveAsync(ReceiveContext context, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var timer = new PeriodicTimer(interval, _time);
        do
        {
            try
            {
                Directory.CreateDirectory(folder);
                await ScanAsync(context, ct);
                if (!_connected)
                {
                    _connected = true;
                    context.Connected();
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _connected = false;
                context.Disconnected(new IOException($"looking for files in {folder} failed: {ex.Message}", ex));
                LogScanFailed(_logger, ex, source.Id, folder);
            }
        }
        while (await WaitAsync(timer, ct));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try
        {
            return await timer.WaitForNextTickAsync(ct);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private async Task ScanAsync(ReceiveContext context, CancellationToken ct)
    {
        foreach (var path in Directory.GetFiles(folder, source.Settings.GetValueOrDefault(FileConnectors.PatternSetting) ?? "*").Order(StringComparer.Ordinal))
        {
            if (path.EndsWith(CountSuffix, StringComparison.Ordinal))
            {
                continue;
            }

            var size = new FileInfo(path).Length;
            if (!_sizes.TryGetValue(path, out var last) || last != size)
            {
                _sizes[path] = size;
                continue;
            }

            _sizes.Remove(path);
            await ImportAsync(context, path, ct);
        }
    }

    private async Task ImportAsync(ReceiveContext context, string path, CancellationToken ct)
    {
        var name = Path.GetFileName(path);
        var job = jobs?.Start(JobKind.Import, source.Id, name);
        var before = context.Totals;
        try
        {
            var countFile = path + CountSuffix;
            var declared = File.Exists(countFile) ? ReadCount(countFile) : null;
            var (sha, lines) = await FileImporter.HashAndCountLinesAsync(path, ct);
            if (job is not null)
            {
                job.Total = FileImporter.Records(source, lines) ?? declared;
            }

            var streamId = FileImporter.StreamId(source.Id, sha);
            await using (var content = File.OpenRead(path))
            {
                await ReadAsync(context, new FileImportConnector(source, content, name, sha, streamId, streams, _time), ct);
            }

            var file = context.Totals;
            var (messages, stored, duplicates, deadLetters) = (file.Received - before.Received, file.Stored - before.Stored, file.Duplicates - before.Duplicates, file.DeadLetters - before.DeadLetters);
            await streams.CompleteStreamAsync(streamId, messages + _skipped, declared, ct);
            Move(path, "done");
            if (File.Exists(countFile))
            {
                Move(countFile, "done");
            }

            FilesImported++;
            job?.Record(messages, stored, duplicates, deadLetters);
            job?.SetState(JobState.Stopped, $"{messages} messages: {stored} stored, {duplicates} duplicates, {deadLetters} dead letters");
            LogImported(_logger, source.Id, name, messages, stored, deadLetters);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or System.Text.Json.JsonException)
        {
            var target = Move(path, "failed");
            // Written aside, then moved in: whoever watches the folder never reads a note half written.
            await File.WriteAllTextAsync(target + ".error.partial", ex.Message + Environment.NewLine, ct);
            File.Move(target + ".error.partial", target + ".error", overwrite: true);
            LastFileError = $"{name}: {ex.Message}";
            job?.SetState(JobState.Failed, ex.Message);
            LogFailed(_logger, ex, source.Id, name);
        }
        catch (Exception ex) when (job is not null)
        {
            job.SetState(JobState.Failed, ex is OperationCanceledException ? "stopped before the end of the file; it stays in the folder and resumes where it stopped" : ex.Message);
            throw;
        }
    }

    /// <summary>Hands over the lines of one file, then waits until every one of them is committed and acknowledged.</summary>
    private async Task ReadAsync(ReceiveContext context, FileImportConnector file, CancellationToken ct)
    {
        Interlocked.Exchange(ref _acknowledged, 0);
        Volatile.Write(ref _expected, long.MaxValue);
        _allAcknowledged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _file = file;
        try
        {
            try
            {
                await file.ReadAsync(context, ct);
                await context.FlushAsync(ct);
            }
            finally
            {
                // What was handed over before a bad line is committed before the file is moved: nothing half-done.
                _skipped = file.Skipped;
                Volatile.Write(ref _expected, file.Written);
                if (Interlocked.Read(ref _acknowledged) >= file.Written)
                {
                    _allAcknowledged.TrySetResult();
                }
            }

            await _allAcknowledged.Task.WaitAsync(ct);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or System.Text.Json.JsonException)
        {
            await _allAcknowledged.Task.WaitAsync(ct);
            throw;
        }
        finally
        {
            _file = null;
            await file.DisposeAsync();
        }
    }

    public ValueTask AcknowledgeAsync(IReadOnlyList<ReceivedMessage> committed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(committed);
        if (Interlocked.Add(ref _acknowledged, committed.Count) >= Volatile.Read(ref _expected))
        {
            _allAcknowledged.TrySetResult();
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static long? ReadCount(string path) =>
        long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new InvalidDataException($"{Path.GetFileName(path)} must hold one number, the count of records of the file beside it");

    private string Move(string path, string sub)
    {
        var dir = Path.Combine(folder, sub);
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, Path.GetFileName(path));
        File.Move(path, target, overwrite: true);
        return target;
    }

    // Log events 3001-3003, as when the drop folder lived in the server.
    [LoggerMessage(3001, LogLevel.Information, "Imported {File} into source {SourceId}: {Messages} messages, {Stored} records, {DeadLetters} dead letters")]
    private static partial void LogImported(ILogger logger, string sourceId, string file, long messages, long stored, long deadLetters);

    [LoggerMessage(3002, LogLevel.Error, "File {File} of source {SourceId} could not be imported; moved to failed/")]
    private static partial void LogFailed(ILogger logger, Exception exception, string sourceId, string file);

    [LoggerMessage(3003, LogLevel.Error, "Looking for files of source {SourceId} in {Folder} failed")]
    private static partial void LogScanFailed(ILogger logger, Exception exception, string sourceId, string folder);
}
