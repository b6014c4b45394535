namespace Usine.Tests.Storage;

/// <summary>Finding avatars by id, which every avatar page and history starts from.</summary>
public sealed class AvatarLookupTests : IAsyncLifetime
{
    // The body shop of douai names its bodies by the VIN of the vehicle they become: two avatars share each id.
    private const string PaintModel = """
          - name: paint
            version: 1
            time: ts
            key: [vin, ts]
            avatar: { type: body, id: "{vin}" }
            fields:
              vin:       { type: string, required: true }
              ts:        { type: timestamp, required: true }
              thickness: { type: double }

        """;

    private const string PaintSource = """

          - id: paint-douai
            plant: douai
            kind: http
            model: paint
            map: { vin: "$.VIN", ts: "$.time", thickness: "$.thickness" }
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-avatars-").FullName;
    private readonly UsineDefinitions _definitions =
        DefinitionLoader.LoadText(TestDefinitions.Yaml.Replace("models:\n", "models:\n" + PaintModel, StringComparison.Ordinal) + PaintSource, "test.yaml");
    private DuckDbStore _store = null!;
    private IngestEngine _engine = null!;

    public async Task InitializeAsync() => await OpenAsync();

    private async Task OpenAsync()
    {
        _store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = _dir, MemoryLimit = "256MB" });
        _engine = new IngestEngine(_definitions, _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<IngestResult> Ingest(string source, params string[] payloads) =>
        _engine.IngestAsync(new IngestBatch { SourceId = source, StreamId = "http:" + source, Messages = TestDefinitions.Messages(payloads) }, CancellationToken.None);

    private static string Paint(string vin, string time, double thickness) =>
        "{\"VIN\":\"" + vin + "\",\"time\":\"" + time + "\",\"thickness\":" + thickness.ToString(System.Globalization.CultureInfo.InvariantCulture) + "}";

    private string Plan(string sql, params object[] args) => string.Join("\n", _store.Read("EXPLAIN ANALYZE " + sql, r => r.GetString(1), args));

    [Fact]
    public async Task Avatars_are_found_by_id_through_an_index_after_a_restart_with_every_type_and_within_the_plant_scope()
    {
        await Ingest("line1",
            TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", "2026-11-26T08:15:00Z", 12.5),
            TestDefinitions.Screwing(TestDefinitions.Vin2, "ST040", "2026-11-26T08:16:00Z", 14));
        await Ingest("paint-douai", Paint(TestDefinitions.Vin1, "2026-11-26T07:00:00Z", 0.12));
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
        await OpenAsync();

        Assert.Equal(["body", "vehicle"], _store.Avatars.FindAvatars(TestDefinitions.Vin1, null, null).Select(a => a.Type));
        Assert.Equal([("body", "douai"), ("vehicle", "flins")], _store.Avatars.FindAvatars(TestDefinitions.Vin1, null).Select(a => (a.Type, a.Plant)));
        Assert.Equal("douai", _store.Avatars.FindAvatars(TestDefinitions.Vin1, "body", null).Single().Plant);
        Assert.Equal("vehicle", _store.Avatars.FindAvatars(TestDefinitions.Vin1, null, new HashSet<string> { "flins" }).Single().Type);
        Assert.Empty(_store.Avatars.FindAvatars(TestDefinitions.Vin1, "body", new HashSet<string> { "flins" }));
        Assert.Empty(_store.Avatars.FindAvatars(TestDefinitions.Vin1, null, new HashSet<string>()));
        Assert.Equal("vehicle", _store.Avatars.FindAvatars(TestDefinitions.Vin2, null, null).Single().Type);
        Assert.Empty(_store.Avatars.FindAvatars("VF1ZZZZZ999999999", null, null));
        Assert.Equal("line", _store.Avatars.FindAvatars("flins/assembly/L1", null, null).Single().Type);

        // The lookup reads the index, not the table.
        Assert.Equal(1, _store.Count("SELECT count(*) FROM duckdb_indexes() WHERE table_name = 'avatars' AND expressions = '[id]'"));
        Assert.Contains("Index Scan", Plan(DuckDbAvatars.AvatarsByIdSql, TestDefinitions.Vin1), StringComparison.Ordinal);

        // Avatars created after the restart are found too.
        await Ingest("paint-douai", Paint(TestDefinitions.Vin2, "2026-11-26T07:05:00Z", 0.11));
        Assert.Equal(["body", "vehicle"], _store.Avatars.FindAvatars(TestDefinitions.Vin2, null, null).Select(a => a.Type));
    }
}
