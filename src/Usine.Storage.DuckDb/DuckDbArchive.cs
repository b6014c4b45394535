using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text;
using DuckDB.NET.Data;
using Usine.Ingestion;
using Usine.Pipeline;
using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>
/// The long-term archive of the raw zone: Parquet files per plant, source and day of receipt, listed in the
/// <c>archive_files</c> table and in <c>manifest.json</c> at the archive root.
/// </summary>
/// <remarks>
/// A file is written under a temporary name, recorded in the manifest table, then renamed. A crash before
/// the record leaves a temporary file nobody lists (deleted at start, its rows archived again by the next
/// run); a crash after it leaves a listed temporary file (renamed at start). <c>archive_progress</c> holds,
/// per source and day, how many raw rows are known to be archived: a run only looks at the days whose raw
/// count differs, and writes only the rows whose (stream, position) no file of that day holds yet.
/// </remarks>
internal sealed class DuckDbArchive(DuckDbDatabase db) : DuckDbFacet(db), IArchiveStore
{
    private const string TempSuffix = ".tmp";
    private const string ManifestName = "manifest.json";
    private const string StagingName = ".staging";

    /// <summary>The root of the archive.</summary>
    public string ArchiveRoot => Db.Options.ArchivePath;

    /// <summary>Finishes or drops what a crash left between writing a file and renaming it.</summary>
    internal void RecoverArchiveTemporaries()
    {
        var root = ArchiveRoot;
        if (!Directory.Exists(root))
        {
            return;
        }

        var staging = Path.Combine(root, StagingName);
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        var listed = ArchiveFilesFrom(Writer, null).ToDictionary(f => f.Path, StringComparer.Ordinal);
        foreach (var temp in Directory.EnumerateFiles(root, "*" + TempSuffix, SearchOption.AllDirectories))
        {
            var final = temp[..^TempSuffix.Length];
            var relative = Relative(final);
            if (listed.TryGetValue(relative, out var file) && !File.Exists(final) && HashFile(temp) == file.Sha256)
            {
                File.Move(temp, final);
            }
            else
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>
    /// Archives every raw message received before <paramref name="cutoff"/> that no archive file holds yet: one
    /// new part file per plant, source and day that has such messages. Running it again writes nothing.
    /// </summary>
    /// <param name="now">The time recorded as the files' creation time.</param>
    public async Task<ArchiveRunResult> ArchiveAsync(DateTime cutoff, DateTime now, CancellationToken cancellationToken)
    {
        await Db.ArchiveLock.WaitAsync(cancellationToken);
        try
        {
            var result = await Task.Run(() => RunArchive(cutoff, now, cancellationToken), cancellationToken);
            await WriteManifestAsync(now, cancellationToken);
            return result;
        }
        finally
        {
            Db.ArchiveLock.Release();
        }
    }

    private ArchiveRunResult RunArchive(DateTime cutoff, DateTime now, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(ArchiveRoot);
        using var conn = OpenReader();

        // One snapshot for the whole run: the counts that decide what to archive and the rows copied agree,
        // whatever ingestion commits meanwhile (those rows change the count and are taken by the next run).
        Exec(conn, "BEGIN TRANSACTION");
        var counts = Read(conn, "SELECT source_id, CAST(received_at AS DATE), count(*) FROM raw_messages WHERE received_at < $1 GROUP BY ALL ORDER BY 1, 2",
            r => (Source: r.GetString(0), Day: DateOnly.FromDateTime(r.GetDateTime(1)), Rows: r.GetInt64(2)), cutoff);
        var progress = Read(conn, "SELECT source_id, CAST(day AS VARCHAR), raw_rows FROM archive_progress",
            r => (Source: r.GetString(0), Day: DateOnly.ParseExact(r.GetString(1), "yyyy-MM-dd", CultureInfo.InvariantCulture), Rows: r.GetInt64(2)))
            .ToDictionary(p => (p.Source, p.Day), p => p.Rows);
        var existing = ArchiveFilesFrom(conn, null).ToLookup(f => (f.SourceId, f.Day));

        var due = new List<Due>();
        foreach (var (source, day, rawRows) in counts)
        {
            if (!progress.TryGetValue((source, day), out var known) || known != rawRows)
            {
                var parts = existing[(source, day)].ToList();
                due.Add(new Due(parts.Count > 0 ? parts[0].Plant : PlantOf(source), source, day, rawRows, parts));
            }
        }

        var written = new List<ArchiveFile>();
        foreach (var chunk in due.Chunk(PartitionsPerCopy))
        {
            cancellationToken.ThrowIfCancellationRequested();
            written.AddRange(ArchiveChunk(conn, chunk, cutoff, now));
        }

        Exec(conn, "COMMIT");
        return new ArchiveRunResult(cutoff, written.Count, written.Select(f => (f.SourceId, f.Day)).Distinct().Count(), written.Sum(f => f.Rows), written.Sum(f => f.Bytes));
    }

    /// <summary>A source and day with raw rows no part may hold yet.</summary>
    private sealed record Due(string Plant, string Source, DateOnly Day, long RawRows, List<ArchiveFile> Parts);

    /// <summary>
    /// Partitions written by one COPY. One COPY per partition scanned the raw zone once per partition (2,000
    /// partitions of a million rows took minutes); one COPY for all of them keeps a Parquet writer open per
    /// partition. A hundred at a time bounds both.
    /// </summary>
    private const int PartitionsPerCopy = 100;

    /// <summary>
    /// Writes the due rows of up to <see cref="PartitionsPerCopy"/> partitions with one partitioned COPY into a
    /// staging directory, moves each file to its partition under a temporary name, records them all, then
    /// renames them.
    /// </summary>
    private List<ArchiveFile> ArchiveChunk(DuckDBConnection conn, Due[] chunk, DateTime cutoff, DateTime now)
    {
        var staging = Path.Combine(ArchiveRoot, StagingName);
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        var keys = string.Join(", ", chunk.Select((d, k) => $"({k}, {Sql.Literal(d.Source)}, {Sql.Timestamp(d.Day.ToDateTime(TimeOnly.MinValue))})"));
        // A part that is missing or altered cannot say what it holds: its rows still in the raw zone are written
        // again rather than the whole run failing on it; verify keeps reporting it until it is restored.
        var parts = chunk.SelectMany(d => d.Parts).Where(p => CheckFile(p) is null).ToList();
        var notArchived = parts.Count == 0 ? "" :
            $" AND NOT EXISTS (SELECT 1 FROM read_parquet({FileList(parts)}) a WHERE a.source_id = r.source_id AND a.stream_id = r.stream_id AND a.position = r.position)";
        Exec(conn, $"""
            COPY (SELECT c.k, r.source_id, r.stream_id, r.position, r.received_at, r.topic, r.payload
                  FROM raw_messages r JOIN (VALUES {keys}) c(k, source_id, day_start)
                    ON r.source_id = c.source_id AND r.received_at >= c.day_start AND r.received_at < c.day_start + INTERVAL 1 DAY
                  WHERE r.received_at < {Sql.Timestamp(cutoff)}{notArchived}
                  ORDER BY c.k, r.stream_id, r.position)
            TO {Sql.Literal(staging)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (k))
            """);

        var moved = new List<(ArchiveFile File, string Temp, string Final)>();
        try
        {
            var produced = Directory.Exists(staging) ? Directory.EnumerateFiles(staging, "*.parquet", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList() : [];
            var stats = produced.Count == 0 ? [] : Read(conn,
                $"""
                SELECT filename, stream_id, count(*), min(position), max(position), min(received_at), max(received_at)
                FROM read_parquet({Sql.Literal(Path.Combine(staging, "*", "*.parquet"))}, filename = true, hive_partitioning = false)
                GROUP BY ALL ORDER BY filename, stream_id
                """,
                r => (File: r.GetString(0), Stream: new ArchiveFileStream(r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4)), Min: Utc(r.GetDateTime(5)), Max: Utc(r.GetDateTime(6))));
            var byFile = stats.ToLookup(s => Path.GetFullPath(s.File), StringComparer.Ordinal);
            foreach (var file in produced)
            {
                var k = int.Parse(Path.GetFileName(Path.GetDirectoryName(file)!).AsSpan("k=".Length), NumberStyles.None, CultureInfo.InvariantCulture);
                var due = chunk[k];
                var streams = byFile[Path.GetFullPath(file)].ToList();
                if (streams.Count == 0)
                {
                    continue;
                }

                var directory = Path.Combine(ArchiveRoot, "plant=" + PartitionValue(due.Plant), "source=" + PartitionValue(due.Source), "day=" + Day(due.Day));
                Directory.CreateDirectory(directory);
                var final = Path.Combine(directory, $"part-{NextPartNumber(directory, due.Parts):00000}.parquet");
                var temp = final + TempSuffix;
                File.Move(file, temp);
                var archived = new ArchiveFile(Relative(final), due.Plant, due.Source, due.Day, streams.Sum(s => s.Stream.Rows), new FileInfo(temp).Length, HashFile(temp),
                    streams.Min(s => s.Min), streams.Max(s => s.Max), now, [.. streams.Select(s => s.Stream)]);
                moved.Add((archived, temp, final));
            }

            Record(moved.Select(m => m.File), chunk, now);
        }
        catch
        {
            // Unrecorded, the files are not part of the archive; their rows stay due and the next run writes them.
            foreach (var (_, temp, _) in moved)
            {
                File.Delete(temp);
            }

            throw;
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }

        // Recorded: a rename that does not happen now is finished by the start-up recovery.
        foreach (var (_, temp, final) in moved)
        {
            File.Move(temp, final);
        }

        return [.. moved.Select(m => m.File)];
    }

    private void Record(IEnumerable<ArchiveFile> files, IEnumerable<Due> partitions, DateTime now)
    {
        Db.WriteLock.Wait();
        try
        {
            Exec("BEGIN TRANSACTION");
            try
            {
                using (var appender = Writer.CreateAppender("archive_files"))
                using (var streams = Writer.CreateAppender("archive_file_streams"))
                {
                    foreach (var f in files)
                    {
                        appender.CreateRow().AppendValue(f.Path).AppendValue(f.Plant).AppendValue(f.SourceId).AppendValue(f.Day).AppendValue(f.Rows).AppendValue(f.Bytes)
                            .AppendValue(f.Sha256).AppendValue(f.MinReceivedAt).AppendValue(f.MaxReceivedAt).AppendValue(f.CreatedAt).EndRow();
                        foreach (var s in f.Streams)
                        {
                            streams.CreateRow().AppendValue(f.Path).AppendValue(s.StreamId).AppendValue(s.Rows).AppendValue(s.MinPosition).AppendValue(s.MaxPosition).EndRow();
                        }
                    }
                }

                foreach (var d in partitions)
                {
                    using var cmd = Writer.CreateCommand();
                    cmd.CommandText = "INSERT INTO archive_progress VALUES ($1, CAST($2 AS DATE), $3, $4) ON CONFLICT (source_id, day) DO UPDATE SET raw_rows = EXCLUDED.raw_rows, updated_at = EXCLUDED.updated_at";
                    cmd.Parameters.Add(new DuckDBParameter(d.Source));
                    cmd.Parameters.Add(new DuckDBParameter(Day(d.Day)));
                    cmd.Parameters.Add(new DuckDBParameter(d.RawRows));
                    cmd.Parameters.Add(new DuckDBParameter(now));
                    cmd.ExecuteNonQuery();
                }

                Exec("COMMIT");
            }
            catch
            {
                TryRollback();
                throw;
            }
        }
        finally
        {
            Db.WriteLock.Release();
        }
    }

    /// <summary>
    /// Deletes the raw rows of the days before <paramref name="before"/> that an archive file holds, after
    /// checking those files against their checksums. A row no file holds is never deleted.
    /// </summary>
    public async Task<RawRetentionResult> DeleteArchivedRawAsync(DateOnly before, DateTime now, CancellationToken cancellationToken)
    {
        await Db.ArchiveLock.WaitAsync(cancellationToken);
        try
        {
            return await Task.Run(() => DeleteArchivedRaw(before, now, cancellationToken), cancellationToken);
        }
        finally
        {
            Db.ArchiveLock.Release();
        }
    }

    private RawRetentionResult DeleteArchivedRaw(DateOnly before, DateTime now, CancellationToken cancellationToken)
    {
        var limit = before.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
        var candidates = Read("SELECT source_id, CAST(received_at AS DATE), count(*) FROM raw_messages WHERE received_at < $1 GROUP BY ALL ORDER BY 1, 2",
            r => (Source: r.GetString(0), Day: DateOnly.FromDateTime(r.GetDateTime(1)), Rows: r.GetInt64(2)), limit);
        if (candidates.Count == 0)
        {
            return new RawRetentionResult(before, 0, 0, []);
        }

        var files = ArchiveFiles(null).ToLookup(f => (f.SourceId, f.Day));
        var problems = new List<ArchiveFileProblem>();
        var eligible = new List<(string Source, DateOnly Day, List<ArchiveFile> Parts)>();
        long rowsBefore = 0;
        foreach (var (source, day, rows) in candidates)
        {
            cancellationToken.ThrowIfCancellationRequested();
            rowsBefore += rows;
            var parts = files[(source, day)].ToList();
            var bad = parts.Select(CheckFile).OfType<ArchiveFileProblem>().ToList();
            problems.AddRange(bad);
            if (parts.Count > 0 && bad.Count == 0)
            {
                eligible.Add((source, day, parts));
            }
        }

        long deleted = 0;
        foreach (var chunk in eligible.Chunk(PartitionsPerCopy))
        {
            cancellationToken.ThrowIfCancellationRequested();
            deleted += DeleteArchivedRawChunk(chunk, now);
        }

        return new RawRetentionResult(before, deleted, rowsBefore - deleted, problems);
    }

    /// <summary>
    /// Deletes, in one transaction, the raw rows of up to <see cref="PartitionsPerCopy"/> source-days whose
    /// (source, stream, position) one of their checked part files holds. One statement per source-day scanned
    /// the raw zone each time, as the archive did.
    /// </summary>
    private long DeleteArchivedRawChunk((string Source, DateOnly Day, List<ArchiveFile> Parts)[] chunk, DateTime now)
    {
        var days = string.Join(", ", chunk.Select(c => $"({Sql.Literal(c.Source)}, {Sql.Timestamp(c.Day.ToDateTime(TimeOnly.MinValue))})"));
        var where = $"""
            EXISTS (SELECT 1 FROM (VALUES {days}) c(source_id, day_start)
                    WHERE c.source_id = r.source_id AND r.received_at >= c.day_start AND r.received_at < c.day_start + INTERVAL 1 DAY)
            AND EXISTS (SELECT 1 FROM read_parquet({FileList(chunk.SelectMany(c => c.Parts))}) a
                        WHERE a.source_id = r.source_id AND a.stream_id = r.stream_id AND a.position = r.position)
            """;
        Db.WriteLock.Wait();
        try
        {
            Exec("BEGIN TRANSACTION");
            try
            {
                var perDay = Read(Writer, $"SELECT source_id, CAST(CAST(received_at AS DATE) AS VARCHAR), count(*) FROM raw_messages r WHERE {where} GROUP BY ALL",
                    r => (Source: r.GetString(0), Day: r.GetString(1), Rows: r.GetInt64(2)));
                var n = ExecCount($"DELETE FROM raw_messages r WHERE {where}");
                if (n != perDay.Sum(d => d.Rows))
                {
                    throw new UsineException($"raw retention counted {perDay.Sum(d => d.Rows)} archived rows but the delete matched {n}; nothing was deleted");
                }

                // Progress counts the archived rows still in the raw zone; the deleted ones leave both.
                if (perDay.Count > 0)
                {
                    var values = string.Join(", ", perDay.Select(d => $"({Sql.Literal(d.Source)}, CAST({Sql.Literal(d.Day)} AS DATE), {d.Rows})"));
                    using var cmd = Writer.CreateCommand();
                    cmd.CommandText = $"""
                        UPDATE archive_progress p SET raw_rows = greatest(p.raw_rows - d.n, 0), updated_at = $1
                        FROM (VALUES {values}) d(source_id, day, n) WHERE p.source_id = d.source_id AND p.day = d.day
                        """;
                    cmd.Parameters.Add(new DuckDBParameter(now));
                    cmd.ExecuteNonQuery();
                }

                Exec("COMMIT");
                return n;
            }
            catch
            {
                TryRollback();
                throw;
            }
        }
        finally
        {
            Db.WriteLock.Release();
        }
    }

    /// <summary>Deletes the archive partitions of the days before <paramref name="before"/>: manifest rows first, then the files.</summary>
    public async Task<ArchiveRetentionResult> DeleteArchivePartitionsAsync(DateOnly before, DateTime now, CancellationToken cancellationToken)
    {
        await Db.ArchiveLock.WaitAsync(cancellationToken);
        try
        {
            var result = await Task.Run(() => DeleteArchivePartitions(before), cancellationToken);
            await WriteManifestAsync(now, cancellationToken);
            return result;
        }
        finally
        {
            Db.ArchiveLock.Release();
        }
    }

    private ArchiveRetentionResult DeleteArchivePartitions(DateOnly before)
    {
        var expired = ArchiveFiles(null).Where(f => f.Day < before).ToList();
        if (expired.Count > 0)
        {
            Db.WriteLock.Wait();
            try
            {
                Exec("BEGIN TRANSACTION");
                try
                {
                    var day = Sql.Literal(Day(before));
                    Exec($"DELETE FROM archive_file_streams WHERE path IN (SELECT path FROM archive_files WHERE day < CAST({day} AS DATE))");
                    Exec($"DELETE FROM archive_files WHERE day < CAST({day} AS DATE)");
                    Exec("COMMIT");
                }
                catch
                {
                    TryRollback();
                    throw;
                }
            }
            finally
            {
                Db.WriteLock.Release();
            }
        }

        // Unlisted now, the files go with their whole day directory. The sweep covers every old day on disk,
        // so what a crash left between the manifest update and the deletion goes at the next run.
        if (Directory.Exists(ArchiveRoot))
        {
            foreach (var dir in Directory.EnumerateDirectories(ArchiveRoot, "day=*", SearchOption.AllDirectories).ToList())
            {
                var name = Path.GetFileName(dir);
                if (!name.StartsWith("day=", StringComparison.Ordinal) || Path.GetRelativePath(ArchiveRoot, dir).StartsWith(StagingName, StringComparison.Ordinal)
                    || !DateOnly.TryParseExact(name["day=".Length..], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) || d >= before)
                {
                    continue;
                }

                Directory.Delete(dir, recursive: true);
                DeleteIfEmpty(Path.GetDirectoryName(dir)!);
                DeleteIfEmpty(Path.GetDirectoryName(Path.GetDirectoryName(dir))!);
            }
        }

        var partitions = expired.Select(f => (f.SourceId, f.Day)).Distinct().Count();
        return new ArchiveRetentionResult(before, partitions, expired.Count, expired.Sum(f => f.Rows), expired.Sum(f => f.Bytes));
    }

    private void DeleteIfEmpty(string directory)
    {
        if (Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any() && !string.Equals(Path.GetFullPath(directory), Path.GetFullPath(ArchiveRoot), StringComparison.Ordinal))
        {
            Directory.Delete(directory);
        }
    }

    /// <summary>Every file of the manifest, optionally of one source, by plant, source, day and path.</summary>
    public IReadOnlyList<ArchiveFile> ArchiveFiles(string? sourceId)
    {
        using var conn = OpenReader();
        return ArchiveFilesFrom(conn, sourceId);
    }

    /// <summary>The manifest summed per plant, source and day.</summary>
    public IReadOnlyList<ArchivePartition> ArchivePartitions(string? sourceId) =>
        [.. ArchiveFiles(sourceId).GroupBy(f => (f.Plant, f.SourceId, f.Day)).Select(g => new ArchivePartition(
            g.Key.Plant, g.Key.SourceId, g.Key.Day, g.Count(), g.Sum(f => f.Rows), g.Sum(f => f.Bytes), g.Min(f => f.MinReceivedAt), g.Max(f => f.MaxReceivedAt)))];

    /// <summary>Re-hashes every file of the manifest, and lists the Parquet files under the root that it does not know.</summary>
    public async Task<ArchiveVerifyResult> VerifyArchiveAsync(CancellationToken cancellationToken)
    {
        await Db.ArchiveLock.WaitAsync(cancellationToken);
        try
        {
            return await Task.Run(() =>
            {
                var files = ArchiveFiles(null);
                var problems = new List<ArchiveFileProblem>();
                foreach (var f in files)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (CheckFile(f) is { } p)
                    {
                        problems.Add(p);
                    }
                }

                var listed = files.Select(f => f.Path).ToHashSet(StringComparer.Ordinal);
                var unlisted = !Directory.Exists(ArchiveRoot) ? [] : Directory.EnumerateFiles(ArchiveRoot, "*.parquet*", SearchOption.AllDirectories)
                    .Select(Relative).Where(p => !listed.Contains(p)).Order(StringComparer.Ordinal).ToList();
                return new ArchiveVerifyResult(files.Count, files.Count - problems.Count, files.Sum(f => f.Bytes), problems, unlisted);
            }, cancellationToken);
        }
        finally
        {
            Db.ArchiveLock.Release();
        }
    }

    /// <summary>
    /// The archived messages of <paramref name="sourceId"/> received in [<paramref name="from"/>, <paramref name="to"/>),
    /// ordered by stream, then position. Each file is checked against its manifest checksum before it is read;
    /// a missing or altered file throws <see cref="UsineException"/> naming it, before any of its rows are returned.
    /// </summary>
    /// <remarks>Times are UTC; a <see cref="DateTimeKind.Local"/> time is converted. Only files listed in the manifest are read.</remarks>
    public async IAsyncEnumerable<RawZoneMessage> ReadArchiveAsync(string sourceId, DateTime from, DateTime to, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceId);
        from = AsUtc(from);
        to = AsUtc(to);
        if (to < from)
        {
            throw new ArgumentOutOfRangeException(nameof(to), $"the end of the range ({to:O}) is before its start ({from:O})");
        }

        var files = ArchiveFiles(sourceId).Where(f => f.MaxReceivedAt >= from && f.MinReceivedAt < to).ToList();
        if (files.Count == 0)
        {
            yield break;
        }

        foreach (var f in files)
        {
            ct.ThrowIfCancellationRequested();
            if (await Task.Run(() => CheckFile(f), ct) is { } problem)
            {
                throw new UsineException($"archive file {Full(f.Path)} is {problem.Problem}: {problem.Detail}; it is not read (run usine archive verify, restore the file from a backup)");
            }
        }

        using var conn = OpenReader();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = $"""
            SELECT stream_id, position, received_at, topic, payload FROM read_parquet({FileList(files)})
            WHERE received_at >= $1 AND received_at < $2 ORDER BY stream_id, position
            """;
        cmd.Parameters.Add(new DuckDBParameter(from));
        cmd.Parameters.Add(new DuckDBParameter(to));
        using var r = await Task.Run(() => (DuckDBDataReader)cmd.ExecuteReader(), ct);
        while (r.Read())
        {
            ct.ThrowIfCancellationRequested();
            var payload = r.IsDBNull(4) ? [] : ReadBlob(r, 4);
            yield return new RawZoneMessage(sourceId, r.GetString(0),
                new RawMessage(r.GetInt64(1), Utc(r.GetDateTime(2)), payload, r.IsDBNull(3) ? null : r.GetString(3)));
        }
    }

    private static DateTime AsUtc(DateTime t) => t.Kind == DateTimeKind.Local ? t.ToUniversalTime() : DateTime.SpecifyKind(t, DateTimeKind.Utc);

    /// <summary>Null when the file is present and hashes to what the manifest recorded.</summary>
    private ArchiveFileProblem? CheckFile(ArchiveFile f)
    {
        var path = Full(f.Path);
        if (!File.Exists(path))
        {
            return new ArchiveFileProblem(f.Path, "missing", "the file does not exist");
        }

        var length = new FileInfo(path).Length;
        if (length != f.Bytes)
        {
            return new ArchiveFileProblem(f.Path, "altered", $"{length} bytes, the manifest says {f.Bytes}");
        }

        var hash = HashFile(path);
        return hash == f.Sha256 ? null : new ArchiveFileProblem(f.Path, "altered", $"sha256 {hash}, the manifest says {f.Sha256}");
    }

    /// <summary>Rewrites manifest.json from the manifest table, through a temporary file so a reader never sees half of it.</summary>
    private async Task WriteManifestAsync(DateTime now, CancellationToken cancellationToken)
    {
        var files = ArchiveFiles(null);
        Directory.CreateDirectory(ArchiveRoot);
        var path = Path.Combine(ArchiveRoot, ManifestName);
        var temp = path + TempSuffix;
        await using (var stream = File.Create(temp))
        {
            await using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
            json.WriteStartObject();
            json.WriteNumber("version", 1);
            json.WriteString("generatedAt", now);
            json.WriteNumber("files", files.Count);
            json.WriteNumber("rows", files.Sum(f => f.Rows));
            json.WriteNumber("bytes", files.Sum(f => f.Bytes));
            json.WriteStartArray("parts");
            foreach (var f in files)
            {
                json.WriteStartObject();
                json.WriteString("path", f.Path);
                json.WriteString("plant", f.Plant);
                json.WriteString("source", f.SourceId);
                json.WriteString("day", Day(f.Day));
                json.WriteNumber("rows", f.Rows);
                json.WriteNumber("bytes", f.Bytes);
                json.WriteString("sha256", f.Sha256);
                json.WriteString("minReceivedAt", f.MinReceivedAt);
                json.WriteString("maxReceivedAt", f.MaxReceivedAt);
                json.WriteString("createdAt", f.CreatedAt);
                json.WriteStartArray("streams");
                foreach (var s in f.Streams)
                {
                    json.WriteStartObject();
                    json.WriteString("stream", s.StreamId);
                    json.WriteNumber("rows", s.Rows);
                    json.WriteNumber("minPosition", s.MinPosition);
                    json.WriteNumber("maxPosition", s.MaxPosition);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        cancellationToken.ThrowIfCancellationRequested();
        File.Move(temp, path, overwrite: true);
    }

    private static List<ArchiveFile> ArchiveFilesFrom(DuckDBConnection conn, string? sourceId)
    {
        var streams = Read(conn,
            "SELECT s.path, s.stream_id, s.rows, s.min_position, s.max_position FROM archive_file_streams s JOIN archive_files f USING (path)"
            + (sourceId is null ? "" : " WHERE f.source_id = $1") + " ORDER BY s.path, s.stream_id",
            r => (Path: r.GetString(0), Stream: new ArchiveFileStream(r.GetString(1), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4))),
            sourceId is null ? [] : [sourceId]).ToLookup(s => s.Path, s => s.Stream, StringComparer.Ordinal);
        return Read(conn,
            "SELECT path, plant, source_id, CAST(day AS VARCHAR), rows, bytes, sha256, min_received_at, max_received_at, created_at FROM archive_files"
            + (sourceId is null ? "" : " WHERE source_id = $1") + " ORDER BY plant, source_id, day, path",
            r => new ArchiveFile(r.GetString(0), r.GetString(1), r.GetString(2), DateOnly.ParseExact(r.GetString(3), "yyyy-MM-dd", CultureInfo.InvariantCulture),
                r.GetInt64(4), r.GetInt64(5), r.GetString(6), Utc(r.GetDateTime(7)), Utc(r.GetDateTime(8)), Utc(r.GetDateTime(9)),
                [.. streams[r.GetString(0)]]),
            sourceId is null ? [] : [sourceId]);
    }

    private static List<T> Read<T>(DuckDBConnection conn, string sql, Func<DuckDBDataReader, T> map, params object?[] args)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        foreach (var a in args)
        {
            cmd.Parameters.Add(new DuckDBParameter(a ?? DBNull.Value));
        }

        using var r = (DuckDBDataReader)cmd.ExecuteReader();
        var list = new List<T>();
        while (r.Read())
        {
            list.Add(map(r));
        }

        return list;
    }

    private void TryRollback()
    {
        try
        {
            Exec("ROLLBACK");
        }
        catch (DuckDBException)
        {
            // The failure may have aborted the transaction already.
        }
    }

    /// <summary>The plant directory of a source: its constant plant; a source whose plant comes from each message, or that is no longer defined, gets a marker.</summary>
    private string PlantOf(string sourceId) =>
        Db.Definitions?.Sources.GetValueOrDefault(sourceId) is { } s ? s.Plant.Constant ?? "_multi" : "_unknown";

    private int NextPartNumber(string directory, List<ArchiveFile> parts)
    {
        // Files on disk count too: a part the manifest lost (a database restored from an older backup) is never overwritten.
        var numbers = parts.Select(p => Path.GetFileName(p.Path))
            .Concat(Directory.EnumerateFiles(directory, "part-*").Select(Path.GetFileName).OfType<string>())
            .Select(n => n.Length >= 10 && int.TryParse(n.AsSpan(5, 5), NumberStyles.None, CultureInfo.InvariantCulture, out var k) ? k : 0);
        return numbers.DefaultIfEmpty(0).Max() + 1;
    }

    private string FileList(IEnumerable<ArchiveFile> files) => "[" + string.Join(", ", files.Select(f => Sql.Literal(Full(f.Path)))) + "]";

    private string Full(string relative) => Path.Combine(ArchiveRoot, relative.Replace('/', Path.DirectorySeparatorChar));

    private string Relative(string full) => Path.GetRelativePath(ArchiveRoot, full).Replace(Path.DirectorySeparatorChar, '/');

    private static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>A plant or source id as a directory name: letters, digits, '-', '_' and inner '.' as they are, anything else %-encoded.</summary>
    public static string PartitionValue(string value)
    {
        var sb = new StringBuilder(value.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' || (c == '.' && i > 0))
            {
                sb.Append(c);
                continue;
            }

            var n = Encoding.UTF8.GetBytes(value.AsSpan(i, char.IsHighSurrogate(c) && i + 1 < value.Length ? 2 : 1), utf8);
            foreach (var b in utf8[..n])
            {
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }

            if (n == 4)
            {
                i++;
            }
        }

        return sb.ToString();
    }
}
