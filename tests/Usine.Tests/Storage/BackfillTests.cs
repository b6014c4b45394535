using Usine.Connectors.Files;
using static Usine.Tests.TestDefinitions;

namespace Usine.Tests.Storage;

/// <summary>Historical files go through the same pipeline as live data, and late records update old rollup buckets.</summary>
public sealed class BackfillTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-backfill-").FullName;
    private DuckDbStore _store = null!;
    private IngestEngine _engine = null!;
    private UsineDefinitions _defs = null!;

    public async Task InitializeAsync()
    {
        _defs = Load();
        _store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(_dir, "data"), MemoryLimit = "256MB" });
        _engine = new IngestEngine(_defs, _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private (long N, double Min, double Max, double Sum)? Bucket(string hour) => _store.Read(
        "SELECT n, torque_min, torque_max, torque_sum FROM r_screwing_1h WHERE station = 'ST040' AND bucket = CAST($1 AS TIMESTAMP)",
        r => ((long, double, double, double)?)(r.GetInt64(0), r.GetDouble(1), r.GetDouble(2), r.GetDouble(3)), hour).SingleOrDefault();

    [Fact]
    public async Task A_late_file_updates_the_rollups_of_old_hours_and_drops_nothing()
    {
        await _engine.IngestAsync(new IngestBatch
        {
            SourceId = "line1",
            StreamId = "http:line1",
            Messages = Messages(
                Screwing(Vin1, "ST040", "2026-11-26T08:00:00Z", 20),
                Screwing(Vin1, "ST040", "2026-11-26T10:00:00Z", 12),
                Screwing(Vin2, "ST040", "2026-11-26T10:05:00Z", 14)),
        }, CancellationToken.None);
        Assert.Equal((1, 20, 20, 20), Bucket("2026-11-26 08:00:00"));

        // Yesterday's export from the line, found late: two records of the 08:00 hour, one of an hour never seen,
        // and one already stored (it must not count twice). Written with a byte order mark, as exports often are.
        var file = Path.Combine(_dir, "history.ndjson");
        await File.WriteAllTextAsync(file, string.Join("\n",
            Screwing(Vin2, "ST040", "2026-11-26T08:10:00Z", 30),
            Screwing(Vin2, "ST040", "2026-11-26T08:20:00Z", 5),
            Screwing(Vin1, "ST040", "2026-11-26T07:05:00Z", 40),
            Screwing(Vin1, "ST040", "2026-11-26T08:00:00Z", 20)) + "\n", Encoding.UTF8);
        var import = await new FileImporter(_engine, _store.RawZone, TimeProvider.System).ImportFileAsync(_defs.Sources["line1"], file, CancellationToken.None);

        Assert.Equal((4, 3, 1, 0), (import.Messages, import.Stored, import.Duplicates, import.DeadLetters));
        Assert.Equal((3, 5, 30, 55), Bucket("2026-11-26 08:00:00"));
        Assert.Equal((1, 40, 40, 40), Bucket("2026-11-26 07:00:00"));
        Assert.Equal((2, 12, 14, 26), Bucket("2026-11-26 10:00:00"));
        Assert.Equal(6, _store.Count("SELECT count(*) FROM m_screwing"));
        Assert.Equal(6, _store.Count("SELECT CAST(sum(n) AS BIGINT) FROM r_screwing_1h"));
    }
}
