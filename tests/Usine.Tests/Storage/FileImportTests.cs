using System.IO.Compression;
using System.Security.Cryptography;
using Usine.Connectors.Files;

namespace Usine.Tests.Storage;

public sealed class FileImportTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-import-").FullName;
    private DuckDbStore _store = null!;
    private IngestEngine _engine = null!;
    private FileImporter _importer = null!;
    private UsineDefinitions _defs = null!;

    public async Task InitializeAsync()
    {
        _defs = DefinitionLoader.LoadText(TestDefinitions.Yaml.Replace("    kind: http\n", "    kind: http\n    maxPayloadBytes: 1000\n", StringComparison.Ordinal), "t.yaml");
        _store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(_dir, "data"), MemoryLimit = "256MB" });
        _engine = new IngestEngine(_defs, _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
        _importer = new FileImporter(_engine, _store.RawZone, TimeProvider.System) { BatchSize = 3 };
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private string Write(string name, string text, bool gzip = false)
    {
        var path = Path.Combine(_dir, name);
        var bytes = Encoding.UTF8.GetBytes(text);
        if (gzip)
        {
            using var f = File.Create(path);
            using var z = new GZipStream(f, CompressionLevel.Fastest);
            z.Write(bytes);
        }
        else
        {
            File.WriteAllBytes(path, bytes);
        }

        return path;
    }

    [Fact]
    public async Task A_line_far_over_the_size_limit_becomes_a_dead_letter_without_being_held_whole()
    {
        var huge = "{\"VIN\":\"" + new string('A', 5_000_000) + "\"}";
        var path = Write("huge.ndjson", TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12) + "\n" + huge + "\n"
            + TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", "2026-11-26T08:16:00Z", 12) + "\n");

        var r = await _importer.ImportFileAsync(_defs.Sources["line1"], path, CancellationToken.None);

        Assert.Equal((3L, 2L, 1L), (r.Messages, r.Stored, r.DeadLetters));
        var dead = Assert.Single(_store.DeadLetters.List(new DeadLetterFilter(), 10));
        Assert.Equal(2, dead.Position);
        Assert.Equal(huge.Length, dead.PayloadBytes);
        Assert.Contains($"payload of {huge.Length} bytes is over the limit of 1000 bytes", dead.Reason, StringComparison.Ordinal);
        Assert.Equal(1000, _store.Count("SELECT octet_length(payload) FROM dead_letters"));
    }

    [Fact]
    public async Task Gzip_csv_with_quoted_line_breaks_and_a_json_array_go_through_the_same_pipeline()
    {
        var csv = Write("a.csv.gz", "vin,station,ts,torque_lbft,status\n"
            + $"{TestDefinitions.Vin1},\"ST\n040\",2026-11-26T08:15:00Z,10,OK\n"
            + $"{TestDefinitions.Vin2},ST050,2026-11-26T08:15:00Z,10,MAYBE\n", gzip: true);
        var r = await _importer.ImportFileAsync(_defs.Sources["csv-line1"], csv, CancellationToken.None);
        Assert.Equal((2L, 1L, 1L, "csv"), (r.Messages, r.Stored, r.DeadLetters, r.Format));
        Assert.Equal(4, _store.DeadLetters.List(new DeadLetterFilter { Source = "csv-line1" }, 10).Single().Position);

        var json = Write("b.json", "[" + TestDefinitions.Screwing(TestDefinitions.Vin1, "ST060", "2026-11-26T08:20:00Z", 12) + ", 42]");
        var j = await _importer.ImportFileAsync(_defs.Sources["line1"], json, CancellationToken.None);
        Assert.Equal((2L, 1L, 1L, "json-array"), (j.Messages, j.Stored, j.DeadLetters, j.Format));
    }

    [Theory]
    [InlineData("damaged")]
    [InlineData("cut short")]
    public async Task A_broken_gzip_file_in_a_drop_folder_is_moved_to_failed_with_a_note_an_operator_can_act_on(string how)
    {
        var folder = Path.Combine(_dir, "drop");
        Directory.CreateDirectory(folder);
        var lines = string.Concat(Enumerable.Range(0, 2000).Select(i => $"{TestDefinitions.Vin1},ST{i:000},2026-11-26T08:15:00Z,{i % 50},OK\n"));
        var gz = File.ReadAllBytes(Write("shift.csv.gz", "vin,station,ts,torque_lbft,status\n" + lines, gzip: true));
        if (how == "damaged")
        {
            for (var i = gz.Length / 3; i < gz.Length / 3 + 64; i++)
            {
                gz[i] ^= 0x5a;
            }
        }
        else
        {
            gz = gz[..(gz.Length / 2)];
        }

        File.WriteAllBytes(Path.Combine(folder, "shift.csv.gz"), gz);
        // Batches of the size a real import uses: the fixture's batches of 3 would commit hundreds of times first.
        var drop = new FileDropConnector(_defs.Sources["csv-line1"], folder, _store.RawZone, TimeSpan.FromMilliseconds(20));
        var runner = new Usine.Sources.SourceRunner(drop, _engine, new Usine.Sources.SourceRunnerOptions { BatchSize = 25_000 });
        using var stop = new CancellationTokenSource();
        var run = runner.RunAsync(stop.Token);
        var note = Path.Combine(folder, "failed", "shift.csv.gz.error");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!File.Exists(note))
        {
            Assert.True(DateTime.UtcNow < deadline, $"expected {note} within 30 s; the drop is {runner.State}, last error {runner.LastError?.Message ?? drop.LastFileError}");
            await Task.Delay(20);
        }

        await stop.CancelAsync();
        await run;
        var text = (await File.ReadAllTextAsync(note)).Trim();
        Assert.StartsWith("the file is gzip-compressed but damaged: it cannot be decompressed past ", text, StringComparison.Ordinal);
        Assert.EndsWith("send the whole file again (records already stored are not stored twice)", text, StringComparison.Ordinal);
        Assert.DoesNotContain("archive entry", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_same_content_imported_twice_is_skipped_whole_and_a_wrong_checksum_is_refused()
    {
        var text = string.Join("\n", Enumerable.Range(0, 10).Select(i => TestDefinitions.Screwing(TestDefinitions.Vin1, "ST0" + i, "2026-11-26T08:15:00Z", 12)));
        var path = Write("c.ndjson", text);

        var first = await _importer.ImportFileAsync(_defs.Sources["line1"], path, CancellationToken.None);
        var second = await _importer.ImportFileAsync(_defs.Sources["line1"], path, CancellationToken.None);

        Assert.Equal((10L, 10L, false), (first.Messages, first.Stored, first.AlreadyImported));
        Assert.Equal((0L, 10L, true), (second.Messages, second.Skipped, second.AlreadyImported));
        Assert.Equal(10, _store.Count("SELECT count(*) FROM raw_messages"));

        await using var s = File.OpenRead(Write("d.ndjson", text + "\n"));
        var wrong = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("other")));
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => _importer.ImportAsync(_defs.Sources["line1"], s, "d.ndjson", wrong, CancellationToken.None));
        Assert.Contains("not " + wrong + " as announced", ex.Message, StringComparison.Ordinal);
    }
}
