using System.Security.Cryptography;
using DuckDB.NET.Data;

namespace Usine.Tests.Storage;

/// <summary>The Parquet archive of the raw zone, on a real store and real files.</summary>
public sealed class ArchiveTests : IAsyncLifetime
{
    private const string DouaiSource = """

          - id: douai-press
            plant: douai
            kind: http
            model: screwing
        """;

    private static readonly DateTime Now = new(2026, 11, 26, 0, 30, 0, DateTimeKind.Utc);
    private static readonly DateTime Today = Now.Date;
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-archive-").FullName;
    private readonly UsineDefinitions _definitions = DefinitionLoader.LoadText(TestDefinitions.Yaml + DouaiSource, "test.yaml");
    private readonly Dictionary<string, long> _positions = new(StringComparer.Ordinal);
    private DuckDbStore _store = null!;
    private IngestEngine _engine = null!;

    public async Task InitializeAsync() => await OpenAsync();

    private async Task OpenAsync()
    {
        _store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = _dir, MemoryLimit = "256MB", Threads = 1 });
        _engine = new IngestEngine(_definitions, _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
    }

    private async Task ReopenAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        await OpenAsync();
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private string Root => _store.Archive.ArchiveRoot;

    /// <summary>Lands raw messages received at the given times, numbered on per stream; returns what landed.</summary>
    private async Task<List<RawZoneMessage>> Land(string source, string stream, params DateTime[] receivedAt)
    {
        var messages = new List<RawMessage>();
        foreach (var at in receivedAt)
        {
            var position = _positions[stream] = _positions.GetValueOrDefault(stream) + 1;
            // Bytes that are not UTF-8 and not JSON: the archive keeps payloads as bytes, whatever they are.
            byte[] payload = [.. Encoding.UTF8.GetBytes($"{stream}#{position}"), 0xFF, 0x00, (byte)position];
            messages.Add(new RawMessage(position, at, payload, position % 2 == 0 ? $"t/{position}" : null));
        }

        await _engine.IngestAsync(new IngestBatch { SourceId = source, StreamId = stream, Messages = messages }, CancellationToken.None);
        return [.. messages.Select(m => new RawZoneMessage(source, stream, m))];
    }

    private static DateTime Day(int daysAgo, int hour) => Today.AddDays(-daysAgo).AddHours(hour);

    private Task<ArchiveRunResult> Archive() => _store.Archive.ArchiveAsync(Today, Now, CancellationToken.None);

    private static long ParquetRows(string file)
    {
        using var conn = new DuckDBConnection("Data Source=:memory:");
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = $"SELECT count(*) FROM read_parquet('{file.Replace("'", "''", StringComparison.Ordinal)}')";
        return Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private string PartFile(string plant, string source, DateTime day, int part) =>
        Path.Combine(Root, $"plant={plant}", $"source={source}", $"day={day:yyyy-MM-dd}", $"part-{part:00000}.parquet");

    private async Task<List<RawZoneMessage>> ReadArchive(string source, DateTime from, DateTime to)
    {
        var list = new List<RawZoneMessage>();
        await foreach (var m in _store.Archive.ReadArchiveAsync(source, from, to, CancellationToken.None))
        {
            list.Add(m);
        }

        return list;
    }

    private static void AssertSameMessages(IEnumerable<RawZoneMessage> expected, IReadOnlyList<RawZoneMessage> actual)
    {
        var e = expected.ToList();
        Assert.Equal(e.Count, actual.Count);
        for (var i = 0; i < e.Count; i++)
        {
            Assert.Equal((e[i].SourceId, e[i].StreamId, e[i].Message.Position, e[i].Message.ReceivedAt, e[i].Message.Topic),
                (actual[i].SourceId, actual[i].StreamId, actual[i].Message.Position, actual[i].Message.ReceivedAt, actual[i].Message.Topic));
            Assert.Equal(DateTimeKind.Utc, actual[i].Message.ReceivedAt.Kind);
            Assert.Equal(e[i].Message.Payload.ToArray(), actual[i].Message.Payload.ToArray());
        }
    }

    [Fact]
    public async Task Archiving_writes_one_parquet_file_per_plant_source_and_day_with_its_rows_and_a_manifest()
    {
        await Land("line1", "http:line1", Day(2, 8), Day(2, 9), Day(2, 23));
        await Land("line1", "http:line1", Day(1, 0), Day(1, 12));
        await Land("douai-press", "http:douai-press", Day(1, 7));
        await Land("line1", "http:line1", Day(0, 0)); // today: not due

        var r = await Archive();

        Assert.Equal(new ArchiveRunResult(Today, 3, 3, 6, r.Bytes), r);
        Assert.Equal(3, ParquetRows(PartFile("flins", "line1", Day(2, 0), 1)));
        Assert.Equal(2, ParquetRows(PartFile("flins", "line1", Day(1, 0), 1)));
        Assert.Equal(1, ParquetRows(PartFile("douai", "douai-press", Day(1, 0), 1)));
        Assert.Equal(["douai/douai-press/2026-11-25", "flins/line1/2026-11-24", "flins/line1/2026-11-25"],
            _store.Archive.ArchivePartitions(null).Select(p => $"{p.Plant}/{p.SourceId}/{p.Day:yyyy-MM-dd}"));

        var files = _store.Archive.ArchiveFiles(null);
        Assert.Equal(r.Bytes, files.Sum(f => f.Bytes));
        var day2 = files.Single(f => f.Path == "plant=flins/source=line1/day=2026-11-24/part-00001.parquet");
        Assert.Equal((3L, Day(2, 8), Day(2, 23)), (day2.Rows, day2.MinReceivedAt, day2.MaxReceivedAt));
        Assert.Equal([new ArchiveFileStream("http:line1", 3, 1, 3)], day2.Streams);

        using var manifest = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(Root, "manifest.json")));
        Assert.Equal(3, manifest.RootElement.GetProperty("files").GetInt32());
        Assert.Equal(6, manifest.RootElement.GetProperty("rows").GetInt64());
        foreach (var part in manifest.RootElement.GetProperty("parts").EnumerateArray())
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(Root, part.GetProperty("path").GetString()!));
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), part.GetProperty("sha256").GetString());
            Assert.Equal(bytes.Length, part.GetProperty("bytes").GetInt64());
        }

        Assert.Empty(Directory.EnumerateFiles(Root, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Running_the_archive_again_archives_nothing_twice_even_after_a_restart()
    {
        await Land("line1", "http:line1", Day(2, 8), Day(1, 9));
        var first = await Archive();
        var second = await Archive();
        await ReopenAsync();
        var third = await Archive();

        Assert.Equal((2, 2L), (first.Files, first.Rows));
        Assert.Equal((0, 0L), (second.Files, second.Rows));
        Assert.Equal((0, 0L), (third.Files, third.Rows));
        Assert.Equal(2, Directory.EnumerateFiles(Root, "*.parquet", SearchOption.AllDirectories).Count());
    }

    [Fact]
    public async Task Late_messages_for_an_archived_day_go_into_a_new_part_and_only_they()
    {
        var early = await Land("line1", "http:line1", Day(1, 8), Day(1, 9));
        await Archive();

        // Received yesterday, landed after the archive ran: a connector's buffer, a slow commit.
        var late = await Land("line1", "mqtt:line1", Day(1, 23));
        var r = await Archive();

        Assert.Equal((1, 1L), (r.Files, r.Rows));
        Assert.Equal(2, ParquetRows(PartFile("flins", "line1", Day(1, 0), 1)));
        Assert.Equal(1, ParquetRows(PartFile("flins", "line1", Day(1, 0), 2)));
        var partition = Assert.Single(_store.Archive.ArchivePartitions("line1"));
        Assert.Equal((2, 3L), (partition.Files, partition.Rows));
        AssertSameMessages(early.Concat(late), await ReadArchive("line1", Day(1, 0), Today));
    }

    [Fact]
    public async Task A_lost_part_does_not_stop_the_archive_and_its_rows_still_in_the_raw_zone_are_written_again()
    {
        await Land("line1", "http:line1", Day(1, 8), Day(1, 9));
        await Archive();
        File.Delete(PartFile("flins", "line1", Day(1, 0), 1));
        await Land("line1", "http:line1", Day(1, 23));

        var r = await Archive();

        Assert.Equal((1, 3L), (r.Files, r.Rows));
        Assert.Equal(3, ParquetRows(PartFile("flins", "line1", Day(1, 0), 2)));
        Assert.Equal("missing", Assert.Single((await _store.Archive.VerifyArchiveAsync(CancellationToken.None)).Problems).Problem);
    }

    [Fact]
    public async Task Reading_the_archive_returns_exactly_the_messages_of_the_range_by_stream_then_position()
    {
        var a = await Land("line1", "http:line1", Day(3, 22), Day(2, 1), Day(2, 10), Day(1, 5));
        var b = await Land("line1", "file:line1:abc", Day(2, 2), Day(2, 3));
        await Land("douai-press", "http:douai-press", Day(2, 4));
        await Archive();

        var from = Day(3, 23);
        var to = Day(1, 5); // exclusive: the message received exactly then is not in the range
        var read = await ReadArchive("line1", from, to);

        AssertSameMessages(b.Concat(a.Where(m => m.Message.ReceivedAt >= from && m.Message.ReceivedAt < to)), read);
        Assert.Equal(["file:line1:abc", "file:line1:abc", "http:line1", "http:line1"], read.Select(m => m.StreamId));
        Assert.Empty(await ReadArchive("line1", Day(10, 0), Day(9, 0)));
        Assert.Empty(await ReadArchive("nobody", Day(10, 0), Today));
    }

    [Fact]
    public async Task An_altered_or_missing_file_is_reported_by_verify_and_refused_by_the_reader()
    {
        await Land("line1", "http:line1", Day(2, 8), Day(1, 9));
        await Archive();
        Assert.True((await _store.Archive.VerifyArchiveAsync(CancellationToken.None)).IsOk);

        var altered = PartFile("flins", "line1", Day(2, 0), 1);
        var bytes = await File.ReadAllBytesAsync(altered);
        bytes[bytes.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(altered, bytes);
        File.Delete(PartFile("flins", "line1", Day(1, 0), 1));
        await File.WriteAllTextAsync(Path.Combine(Root, "plant=flins", "stray.parquet"), "x");

        var v = await _store.Archive.VerifyArchiveAsync(CancellationToken.None);

        Assert.False(v.IsOk);
        Assert.Equal((2, 0), (v.Checked, v.Ok));
        Assert.Equal(
            [("plant=flins/source=line1/day=2026-11-24/part-00001.parquet", "altered"), ("plant=flins/source=line1/day=2026-11-25/part-00001.parquet", "missing")],
            v.Problems.Select(p => (p.Path, p.Problem)));
        Assert.Equal(["plant=flins/stray.parquet"], v.Unlisted);

        var refused = await Assert.ThrowsAsync<UsineException>(() => ReadArchive("line1", Day(2, 0), Day(1, 0)));
        Assert.Contains(altered, refused.Message, StringComparison.Ordinal);
        Assert.Contains("altered", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Raw_retention_deletes_archived_old_rows_and_never_an_unarchived_one()
    {
        var archived = await Land("line1", "http:line1", Day(40, 8), Day(40, 9), Day(35, 1));
        await Land("line1", "http:line1", Day(5, 1)); // archived, but young
        await Archive();
        await Land("line1", "mqtt:line1", Day(40, 10)); // late for an archived day: not archived yet
        var before = DateOnly.FromDateTime(Today.AddDays(-30));

        var r = await _store.Archive.DeleteArchivedRawAsync(before, Now, CancellationToken.None);

        Assert.Equal((3L, 1L), (r.RowsDeleted, r.RowsKeptUnarchived));
        Assert.Empty(r.Problems);
        Assert.Equal(1, _store.Count($"SELECT count(*) FROM raw_messages WHERE stream_id = 'mqtt:line1'"));
        Assert.Equal(1, _store.Count($"SELECT count(*) FROM raw_messages WHERE stream_id = 'http:line1'"));
        AssertSameMessages(archived, await ReadArchive("line1", Day(41, 0), Day(30, 0)));

        // The next run archives the late message into a new part of its old day; then it may go.
        var again = await Archive();
        Assert.Equal((1, 1L), (again.Files, again.Rows));
        var after = await _store.Archive.DeleteArchivedRawAsync(before, Now, CancellationToken.None);
        Assert.Equal((1L, 0L), (after.RowsDeleted, after.RowsKeptUnarchived));
        Assert.Equal(1, _store.Count("SELECT count(*) FROM raw_messages"));
        Assert.Equal(0, (await Archive()).Files);
    }

    [Fact]
    public async Task Raw_retention_keeps_the_rows_of_a_day_whose_archive_file_fails_its_check()
    {
        await Land("line1", "http:line1", Day(40, 8), Day(40, 9));
        await Archive();
        await File.AppendAllTextAsync(PartFile("flins", "line1", Day(40, 0), 1), "tampered");

        var r = await _store.Archive.DeleteArchivedRawAsync(DateOnly.FromDateTime(Today.AddDays(-30)), Now, CancellationToken.None);

        Assert.Equal((0L, 2L), (r.RowsDeleted, r.RowsKeptUnarchived));
        Assert.Equal("altered", Assert.Single(r.Problems).Problem);
        Assert.Equal(2, _store.Count("SELECT count(*) FROM raw_messages"));
    }

    [Fact]
    public async Task Archive_retention_removes_old_partitions_their_files_and_their_manifest_entries()
    {
        await Land("line1", "http:line1", Day(400, 8), Day(399, 8), Day(2, 8));
        await Land("douai-press", "http:douai-press", Day(400, 9));
        await Archive();

        var r = await _store.Archive.DeleteArchivePartitionsAsync(DateOnly.FromDateTime(Today.AddDays(-365)), Now, CancellationToken.None);

        Assert.Equal(new ArchiveRetentionResult(DateOnly.FromDateTime(Today.AddDays(-365)), 3, 3, 3, r.BytesDeleted), r);
        Assert.Equal(["flins/line1/2026-11-24"], _store.Archive.ArchivePartitions(null).Select(p => $"{p.Plant}/{p.SourceId}/{p.Day:yyyy-MM-dd}"));
        Assert.False(Directory.Exists(Path.Combine(Root, "plant=douai")));
        Assert.Equal([PartFile("flins", "line1", Day(2, 0), 1)], Directory.EnumerateFiles(Root, "*.parquet", SearchOption.AllDirectories));
        using var manifest = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(Root, "manifest.json")));
        Assert.Equal(1, manifest.RootElement.GetProperty("files").GetInt32());
        Assert.True((await _store.Archive.VerifyArchiveAsync(CancellationToken.None)).IsOk);

        // What a crash left after the manifest update goes at the next run.
        var leftover = PartFile("flins", "line1", Day(500, 0), 1);
        Directory.CreateDirectory(Path.GetDirectoryName(leftover)!);
        await File.WriteAllTextAsync(leftover, "x");
        Assert.Equal(["plant=flins/source=line1/day=2025-07-14/part-00001.parquet"], (await _store.Archive.VerifyArchiveAsync(CancellationToken.None)).Unlisted);
        var next = await _store.Archive.DeleteArchivePartitionsAsync(DateOnly.FromDateTime(Today.AddDays(-365)), Now, CancellationToken.None);
        Assert.Equal(0, next.PartitionsDeleted);
        Assert.Empty((await _store.Archive.VerifyArchiveAsync(CancellationToken.None)).Unlisted);
    }

    [Fact]
    public async Task After_a_crash_a_recorded_file_left_under_its_temporary_name_is_finished_and_an_unrecorded_one_is_dropped()
    {
        await Land("line1", "http:line1", Day(2, 8), Day(1, 8));
        await Archive();
        var recorded = PartFile("flins", "line1", Day(2, 0), 1);
        File.Move(recorded, recorded + ".tmp"); // recorded in the manifest, crashed before the rename
        var unrecorded = PartFile("flins", "line1", Day(1, 0), 2) + ".tmp"; // written, crashed before the record
        File.Copy(PartFile("flins", "line1", Day(1, 0), 1), unrecorded);

        await ReopenAsync();

        Assert.True(File.Exists(recorded));
        Assert.False(File.Exists(unrecorded));
        var v = await _store.Archive.VerifyArchiveAsync(CancellationToken.None);
        Assert.True(v.IsOk, string.Join("; ", v.Problems));
        Assert.Empty(v.Unlisted);
        Assert.Equal(0, (await Archive()).Files);
    }

    [Fact]
    public void A_partition_directory_name_escapes_what_a_path_cannot_hold()
    {
        Assert.Equal("flins-assembly_1.2", DuckDbArchive.PartitionValue("flins-assembly_1.2"));
        Assert.Equal("a%2Fb%20c", DuckDbArchive.PartitionValue("a/b c"));
        Assert.Equal("%2E.", DuckDbArchive.PartitionValue(".."));
        Assert.Equal("%C3%A9", DuckDbArchive.PartitionValue("é"));
    }
}
