namespace Usine.Server.Operations;

/// <summary>What one archive-and-retention run did.</summary>
/// <param name="RetentionJob">Null when both retentions are off.</param>
/// <param name="RawRowsKept">Raw rows old enough to delete but kept: not archived, or their archive failed its check.</param>
/// <param name="Problems">Archive files that failed their check during raw retention; the run is reported failed.</param>
public sealed record ArchiveRunReport(
    string ArchiveJob, string? RetentionJob, DateTime Cutoff, int Files, long Rows, long Bytes,
    long RawRowsDeleted, long RawRowsKept, int PartitionsDeleted, IReadOnlyList<ArchiveFileProblem> Problems, double ElapsedMs);

/// <summary>
/// Rolls the raw zone into the archive and applies retention, on demand and once a day. Each run is two jobs
/// (archive, then retention); runs never overlap.
/// </summary>
public sealed class ArchiveService
{
    private readonly UsineOptions _options;
    private readonly IArchiveStore _store;
    private readonly JobRegistry _jobs;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);

    internal ArchiveService(UsineOptions options, IArchiveStore store, JobRegistry jobs, TimeProvider time, ILogger<ArchiveService> logger)
    {
        _options = options;
        _store = store;
        _jobs = jobs;
        _time = time;
        _logger = logger;
    }

    /// <summary>Raised after every run that ended without an exception, scheduled or not.</summary>
    public event Action<ArchiveRunReport>? Completed;

    /// <summary>Messages received before this time are archived by a run at <paramref name="now"/>.</summary>
    public DateTime Cutoff(DateTime now) => _options.ArchiveAfter is { } age ? now - age : now.Date;

    /// <summary>The first daily run time strictly after <paramref name="now"/>.</summary>
    public static DateTime NextRun(DateTime now, TimeSpan timeOfDay)
    {
        var today = now.Date + timeOfDay;
        return today > now ? today : today.AddDays(1);
    }

    /// <summary>Archives what is due, then deletes what retention allows; waits for a run already going.</summary>
    public Task<ArchiveRunReport> RunAsync(CancellationToken cancellationToken) => RunAsync(includeToday: false, cancellationToken);

    /// <param name="includeToday">
    /// Archive everything received until now, the day not yet ended included (a later run adds what arrives
    /// after to its partition), instead of what <see cref="Cutoff"/> makes due.
    /// </param>
    public async Task<ArchiveRunReport> RunAsync(bool includeToday, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var report = await RunOnceAsync(includeToday, cancellationToken);
            Completed?.Invoke(report);
            return report;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<ArchiveRunReport> RunOnceAsync(bool includeToday, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var now = _time.GetUtcNow().UtcDateTime;
        var cutoff = includeToday ? now : Cutoff(now);
        var archive = _jobs.Start(JobKind.Archive, null, $"archive raw messages received before {cutoff:yyyy-MM-dd HH:mm:ss}Z");
        ArchiveRunResult written;
        try
        {
            written = await _store.ArchiveAsync(cutoff, now, cancellationToken);
            archive.Total = written.Rows;
            archive.Count(written.Rows, written.Rows, 0, 0);
            archive.SetState(JobState.Stopped, $"{written.Files} files, {written.Rows} rows, {written.Bytes} bytes");
            _logger.ArchiveWritten(written.Files, written.Rows, written.Bytes, cutoff);
        }
        catch (Exception ex)
        {
            archive.SetState(JobState.Failed, ex.Message);
            _logger.ArchiveRunFailed(ex, archive.Id);
            throw;
        }

        if (_options.RawRetentionDays == 0 && _options.ArchiveRetentionDays == 0)
        {
            return new ArchiveRunReport(archive.Id, null, cutoff, written.Files, written.Rows, written.Bytes, 0, 0, 0, [],
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        var today = DateOnly.FromDateTime(now);
        var retention = _jobs.Start(JobKind.Retention, null,
            $"retention: raw zone {Describe(_options.RawRetentionDays)}, archive {Describe(_options.ArchiveRetentionDays)}");
        try
        {
            var raw = _options.RawRetentionDays > 0
                ? await _store.DeleteArchivedRawAsync(today.AddDays(-_options.RawRetentionDays), now, cancellationToken)
                : new RawRetentionResult(today, 0, 0, []);
            var partitions = _options.ArchiveRetentionDays > 0
                ? await _store.DeleteArchivePartitionsAsync(today.AddDays(-_options.ArchiveRetentionDays), now, cancellationToken)
                : new ArchiveRetentionResult(today, 0, 0, 0, 0);
            var summary = $"deleted {raw.RowsDeleted} raw rows and {partitions.PartitionsDeleted} archive partitions; kept {raw.RowsKeptUnarchived} raw rows not archived";
            foreach (var p in raw.Problems)
            {
                _logger.RetentionKeptRaw(p.Path, p.Problem, p.Detail);
            }

            if (raw.Problems.Count > 0)
            {
                retention.SetState(JobState.Failed, $"{summary}; {raw.Problems.Count} archive files failed their check, first {raw.Problems[0].Path}: {raw.Problems[0].Problem}");
            }
            else
            {
                retention.SetState(JobState.Stopped, summary);
            }

            _logger.RetentionApplied(raw.RowsDeleted, raw.RowsKeptUnarchived, partitions.PartitionsDeleted, partitions.FilesDeleted);
            return new ArchiveRunReport(archive.Id, retention.Id, cutoff, written.Files, written.Rows, written.Bytes,
                raw.RowsDeleted, raw.RowsKeptUnarchived, partitions.PartitionsDeleted, raw.Problems,
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception ex)
        {
            retention.SetState(JobState.Failed, ex.Message);
            _logger.ArchiveRunFailed(ex, retention.Id);
            throw;
        }
    }

    private static string Describe(int days) => days == 0 ? "kept" : $"older than {days} days";

    /// <summary>Runs once a day at <paramref name="timeOfDay"/> UTC until <paramref name="stopping"/>; a failed run is logged and retried the next day.</summary>
    /// <remarks>The first wait is armed before this returns, so a test's fake clock can be advanced right after the platform starts.</remarks>
    internal async Task RunDailyAsync(TimeSpan timeOfDay, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            var now = _time.GetUtcNow().UtcDateTime;
            try
            {
                await Task.Delay(NextRun(now, timeOfDay) - now, _time, stopping);
                await RunAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Already recorded on the failed job and logged; the loop must outlive it, and the next day's run tries again.
            }
        }
    }
}
