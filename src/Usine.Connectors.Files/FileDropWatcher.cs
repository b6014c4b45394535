using Microsoft.Extensions.Logging;
using Usine.Connectors.Files.Internal;
using Usine.Operations;
using Usine.Sources;

namespace Usine.Connectors.Files;

/// <summary>
/// Watches a folder of a file source and imports each new file; a file is moved to <c>done/</c> once
/// imported (dead letters included) or to <c>failed/</c> with a <c>.error</c> note when it cannot be read.
/// Files are only picked up once their size stops changing between two looks, so a file still being
/// copied is never read half-way. Each file is a bounded run of the <see cref="FileImporter"/> on the
/// <see cref="SourceRunner"/> (an import job of its own), and it moves to <c>done/</c> only once that run
/// committed it all: the move is the file's acknowledgement. The source's stream job, when given, is degraded
/// while the folder cannot be read and counts what every imported file became.
/// </summary>
public sealed class FileDropWatcher(SourceDefinition source, string folder, FileImporter importer, TimeSpan interval, ILogger<FileDropWatcher> logger, TimeProvider time, Job? job = null) : ILiveSource
{
    private readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal);

    public string State { get; private set; } = "starting";

    public string? LastError { get; private set; }

    public long FilesImported { get; private set; }

    /// <summary>The folder watched.</summary>
    public string Folder => folder;

    (string State, string? LastError) ILiveSource.Status => (State, LastError);

    /// <summary>False: nobody holds a drop folder's files unacknowledged, so the platform says when its commits fail.</summary>
    bool ILiveSource.ReportsCommitFailures => false;

    public async Task RunAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(folder);
        State = "running";
        using var timer = new PeriodicTimer(interval, time);
        do
        {
            try
            {
                await ScanAsync(ct);
                job?.TrySetState(JobState.Degraded, JobState.Idle, "the folder is read and its files imported again");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                State = "degraded";
                LastError = ex.Message;
                // A commit that failed (a full disk, say) is not a problem of the folder: the file stays and is tried again.
                var what = ex is UsineException
                    ? $"importing a file of {folder} failed (it stays there and is tried again)"
                    : $"looking for files in {folder} failed";
                job?.SetState(JobState.Degraded, $"{what}: {ex.Message}");
                logger.DropScanFailed(ex, source.Id, folder);
            }
        }
        while (await WaitAsync(timer, ct));

        State = "stopped";
        job?.SetState(JobState.Stopped, "shut down");
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

    private async Task ScanAsync(CancellationToken ct)
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
            try
            {
                var countFile = path + CountSuffix;
                var declared = File.Exists(countFile) ? ReadCount(countFile) : null;
                var r = await importer.ImportFileAsync(source, path, ct, declared);
                Move(path, "done");
                if (File.Exists(countFile))
                {
                    Move(countFile, "done");
                }

                FilesImported++;
                job?.Record(r.Messages, r.Stored, r.Duplicates, r.DeadLetters);
                State = "running";
                logger.DropImported(source.Id, Path.GetFileName(path), r.Messages, r.Stored, r.DeadLetters);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or System.Text.Json.JsonException)
            {
                var target = Move(path, "failed");
                await File.WriteAllTextAsync(target + ".error", ex.Message + Environment.NewLine, ct);
                LastError = $"{Path.GetFileName(path)}: {ex.Message}";
                logger.DropFailed(ex, source.Id, Path.GetFileName(path));
            }
        }
    }

    /// <summary>A producer may drop <c>NAME.count</c> beside <c>NAME</c>, holding the number of records NAME has; reconciliation checks it.</summary>
    public const string CountSuffix = ".count";

    private static long? ReadCount(string path) =>
        long.TryParse(File.ReadAllText(path).Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
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
}
