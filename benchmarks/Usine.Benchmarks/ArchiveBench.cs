using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using DuckDB.NET.Data;
using Usine.Storage;
using Usine.Storage.DuckDb;

namespace Usine.Benchmarks;

/// <summary>The figures of one archive run.</summary>
public sealed record ArchiveBenchReport(
    long Messages, int Sources, int Days, long PayloadBytes, long DatabaseBytes, double ArchiveSeconds, int Files, long ParquetBytes,
    double SecondRunSeconds, double VerifySeconds, long ReadMessages, double ReadSeconds, double RetentionSeconds);

/// <summary>
/// <c>usine bench --archive</c>: the raw zone of the reference workload rolled into the Parquet archive. The
/// raw messages are appended straight into the raw zone (the pipeline is measured by the main scenario),
/// spread evenly over the sources and over two days of receipt.
/// </summary>
public static class ArchiveBench
{
    private const int Days = 2;
    private static readonly DateTime Start = new(2026, 11, 24, 0, 0, 0, DateTimeKind.Utc);

    public static async Task<ArchiveBenchReport> RunAsync(long messages, int sources, string work, Action<string> log, CancellationToken ct)
    {
        var files = Path.Combine(work, "workload");
        log($"generating {messages:N0} messages in {files}");
        var manifest = await Workload.WorkloadGenerator.GenerateAsync(new Workload.WorkloadOptions { Directory = files, Messages = messages }, ct);
        var definitions = await BenchRunner.LoadDefinitionsAsync(work, ct);
        var store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(work, "usine") });
        await store.Commit.InitializeAsync(definitions, ct);
        try
        {
            log($"landing them in the raw zone: {sources} sources, {Days} days");
            long payloadBytes = 0;
            long n = 0;
            using (var conn = store.OpenReader())
            using (var raw = conn.CreateAppender("raw_messages"))
            {
                foreach (var file in manifest.Files)
                {
                    // Each file's messages are spread over the whole period, so every source has every day.
                    var spacing = TimeSpan.FromDays(Days) / file.Messages;
                    long i = 0;
                    foreach (var line in File.ReadLines(file.Path))
                    {
                        var payload = System.Text.Encoding.UTF8.GetBytes(line);
                        var source = sources <= 4 ? file.SourceId : "bench-" + (n % sources).ToString("D4", CultureInfo.InvariantCulture);
                        raw.CreateRow().AppendValue(source).AppendValue("bench:" + source).AppendValue(n + 1).AppendValue(Start + (spacing * i++))
                            .AppendValue((string?)null).AppendValue(MemoryMarshal.AsMemory<byte>(payload).Span).EndRow();
                        payloadBytes += payload.Length;
                        n++;
                    }
                }
            }

            using (var conn = store.OpenReader())
            using (var cmd = conn.CreateCommand())
            {
                cmd.CommandText = "CHECKPOINT";
                cmd.ExecuteNonQuery();
            }

            var databaseBytes = new FileInfo(store.Options.DatabasePath).Length;
            var now = Start.AddDays(Days).AddMinutes(30);
            log("archiving");
            var clock = Stopwatch.StartNew();
            var run = await store.Archive.ArchiveAsync(Start.AddDays(Days), now, ct);
            var archiveSeconds = clock.Elapsed.TotalSeconds;
            clock.Restart();
            var again = await store.Archive.ArchiveAsync(Start.AddDays(Days), now, ct);
            var secondSeconds = clock.Elapsed.TotalSeconds;
            if (again.Rows != 0)
            {
                throw new UsineException($"the second archive run wrote {again.Rows} rows; it must write none");
            }

            log("verifying");
            clock.Restart();
            var verify = await store.Archive.VerifyArchiveAsync(ct);
            var verifySeconds = clock.Elapsed.TotalSeconds;
            if (!verify.IsOk || run.Rows != n)
            {
                throw new UsineException($"archived {run.Rows} of {n} rows, {verify.Problems.Count} files failed their check");
            }

            log("reading one source's day back");
            var first = store.Archive.ArchiveFiles(null)[0];
            var day = first.Day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
            clock.Restart();
            long read = 0;
            await foreach (var m in store.Archive.ReadArchiveAsync(first.SourceId, day, day.AddDays(1), ct))
            {
                read++;
            }

            var readSeconds = clock.Elapsed.TotalSeconds;

            log("deleting the archived raw messages");
            clock.Restart();
            var retention = await store.Archive.DeleteArchivedRawAsync(DateOnly.FromDateTime(Start.AddDays(Days)), now, ct);
            var retentionSeconds = clock.Elapsed.TotalSeconds;
            if (retention.RowsDeleted != n)
            {
                throw new UsineException($"raw retention deleted {retention.RowsDeleted} of {n} archived rows");
            }

            return new ArchiveBenchReport(n, sources, Days, payloadBytes, databaseBytes, archiveSeconds, run.Files, run.Bytes,
                secondSeconds, verifySeconds, read, readSeconds, retentionSeconds);
        }
        finally
        {
            await store.DisposeAsync();
        }
    }

    public static string Format(ArchiveBenchReport r) => string.Join(Environment.NewLine,
        $"raw messages        {r.Messages,15:N0} from {r.Sources} sources over {r.Days} days",
        $"payload bytes       {r.PayloadBytes / 1e6,15:N1} MB (database file {r.DatabaseBytes / 1e6:N1} MB)",
        $"archive run         {r.ArchiveSeconds,15:N1} s, {r.Messages / r.ArchiveSeconds,10:N0} msg/s, {r.Files:N0} files",
        $"parquet bytes       {r.ParquetBytes / 1e6,15:N1} MB, {(double)r.ParquetBytes / r.PayloadBytes:P1} of the payload bytes",
        $"second run          {r.SecondRunSeconds,15:N2} s (nothing to archive)",
        $"verify (re-hash)    {r.VerifySeconds,15:N2} s",
        $"read back one day   {r.ReadSeconds,15:N2} s, {r.ReadMessages:N0} messages of one source and day, checksum included",
        $"raw retention       {r.RetentionSeconds,15:N1} s to delete every archived raw message, files checked first");
}
