namespace Usine.Tests.Pipeline;

/// <summary>
/// A format registered from outside the core whose payload holds many messages, through the engine, a real
/// DuckDB store, replay, dead-letter retry and reconciliation.
/// </summary>
public sealed class MultiMessageDecoderTests : IAsyncLifetime
{
    private const string Yaml = """
        models:
          - name: reading
            version: 1
            time: ts
            fields:
              tag:   { type: string, required: true }
              value: { type: double, required: true, min: 0 }
              ts:    { type: timestamp, required: true }
        sources:
          - id: batches
            plant: flins
            kind: http
            format: batch
            model: reading
        """;

    private const string Stream = "http:batches";

    // Raw messages arrive at this time and the store stamps what it writes with it, so the hour reconciled is known.
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private long _position;
    private UsineDefinitions _defs = null!;
    private DuckDbStore _store = null!;
    private IngestEngine _engine = null!;
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-decoders-").FullName;

    public Task InitializeAsync() => Open();

    public async Task DisposeAsync()
    {
        await Close();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Starts the platform's engine over the store in the test's folder, as a start of the platform does.</summary>
    private async Task Open()
    {
        _defs = DefinitionLoader.LoadText(Yaml, "batches.yaml", formats: new PayloadFormats([new BatchFormat()]));
        _store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(_dir, "data"), MemoryLimit = "256MB", Time = _time });
        _engine = new IngestEngine(_defs, _store.Commit);
        await _engine.StartAsync(CancellationToken.None);
    }

    private async Task Close()
    {
        await _engine.DisposeAsync();
        await _store.DisposeAsync();
    }

    private static string Item(string tag, string value) => $$"""{"tag":"{{tag}}","value":{{value}},"ts":"2026-11-26T09:00:00Z"}""";

    private static string Batch(params string[] items) => "{\"items\":[" + string.Join(",", items) + "]}";

    private async Task<IngestResult> Send(string payload)
    {
        var message = new RawMessage(++_position, _time.GetUtcNow().UtcDateTime, Encoding.UTF8.GetBytes(payload));
        return await _engine.IngestAsync(new IngestBatch { SourceId = "batches", StreamId = Stream, Messages = [message] }, CancellationToken.None);
    }

    private List<string> Records() => _store.Read(
        "SELECT raw_position, raw_index, tag, value FROM m_reading ORDER BY raw_position, raw_index",
        r => $"{r.GetInt64(0)}.{r.GetInt32(1)} {r.GetString(2)}={r.GetDouble(3)}");

    private List<string> Letters() => _store.Read(
        "SELECT position, coalesce(CAST(raw_index AS VARCHAR), '-'), stage, status, attempts FROM dead_letters ORDER BY id",
        r => $"{r.GetInt64(0)}.{r.GetString(1)} {r.GetString(2)} {r.GetString(3)} {r.GetInt32(4)}");

    private ReconcileReport Reconcile() =>
        _store.Operations.Reconcile(_defs.Sources["batches"], _time.GetUtcNow().UtcDateTime.AddHours(-1), _time.GetUtcNow().UtcDateTime.AddHours(1), 0);

    private ReplayRunner Runner() => new(_engine) { BatchSize = 2 };

    private static Task<IReadOnlyList<string>?> NoHeader(string source, string stream, CancellationToken ct) => Task.FromResult<IReadOnlyList<string>?>(null);

    private Task<ReplayResult> ReplayRange() => Runner().RunAsync(
        _store.RawZone.ReadRawAsync("batches", _time.GetUtcNow().UtcDateTime.AddHours(-1), _time.GetUtcNow().UtcDateTime.AddHours(1), CancellationToken.None),
        IngestMode.Replay, NoHeader, null, CancellationToken.None);

    private Task<ReplayResult> RetryLetters() => Runner().RunAsync(
        _store.DeadLetters.ReadForReplayAsync(new DeadLetterFilter { Source = "batches" }, 5, false, CancellationToken.None),
        IngestMode.Retry, NoHeader, null, CancellationToken.None);

    [Fact]
    public async Task One_raw_message_of_three_items_becomes_three_records_indexed_0_to_2()
    {
        // The first two items are the same reading: without a natural key each message of a payload is its own fact.
        var result = await Send(Batch(Item("a", "1"), Item("a", "1"), Item("b", "2")));

        Assert.Equal((1, 3, 0, 0), (result.Received, result.Stored, result.Duplicates, result.DeadLetters));
        Assert.Equal(["1.0 a=1", "1.1 a=1", "1.2 b=2"], Records());
        Assert.Equal(3, _store.Count("SELECT count(DISTINCT record_id) FROM m_reading"));
        var hour = Assert.Single(Reconcile().Hours);
        Assert.Equal((1L, 3L, 3L), (hour.Landed, hour.Decoded, hour.Stored));
        Assert.Empty(Reconcile().Mismatches);
    }

    [Fact]
    public async Task One_bad_item_becomes_one_dead_letter_with_its_index_and_the_other_items_are_stored()
    {
        var result = await Send(Batch(Item("a", "1"), Item("b", "-5"), "42", Item("c", "3")));

        Assert.Equal((2, 2), (result.DeadLetters, result.Stored));
        Assert.Equal(["1.0 a=1", "1.3 c=3"], Records());
        Assert.Equal(["1.1 validate open 1", "1.2 decode open 1"], Letters());
        var letter = _store.DeadLetters.List(new DeadLetterFilter { Stage = "decode" }, 10).Single();
        Assert.Equal("item 2 is a number, not an object", letter.Reason);
        Assert.Empty(Reconcile().Mismatches);
    }

    [Fact]
    public async Task Replaying_the_raw_range_twice_changes_nothing()
    {
        await Send(Batch(Item("a", "1"), Item("b", "-5"), Item("c", "3")));
        await Send(Batch(Item("d", "4"), Item("e", "5")));
        var records = _store.Read("SELECT record_id, raw_position, raw_index FROM m_reading ORDER BY ALL", r => $"{r.GetGuid(0)} {r.GetInt64(1)}.{r.GetInt32(2)}");
        var letters = Letters();

        for (var i = 0; i < 2; i++)
        {
            var replay = await ReplayRange();

            Assert.Equal((2L, 0L, 4L, 1L), (replay.Read, replay.Stored, replay.Duplicates, replay.Failed));
            Assert.Equal(new ReplayCounts(0, 1, 0, 0), replay.DeadLetters);
            Assert.Equal(records, _store.Read("SELECT record_id, raw_position, raw_index FROM m_reading ORDER BY ALL", r => $"{r.GetGuid(0)} {r.GetInt64(1)}.{r.GetInt32(2)}"));
            Assert.Equal(letters, Letters());
            Assert.Empty(Reconcile().Mismatches);
        }
    }

    [Fact]
    public async Task Retrying_a_dead_letter_after_fixing_its_item_stores_only_that_item()
    {
        await Send(Batch(Item("a", "1"), Item("b", "-5"), Item("c", "-6")));
        var first = _store.DeadLetters.List(new DeadLetterFilter(), 10).Single(d => d.Reason.Contains("-5", StringComparison.Ordinal));

        // The letter keeps the raw payload; the fix is made in it, and the retry runs the letter's item only.
        var edited = await _store.DeadLetters.EditAsync(first.Id, Encoding.UTF8.GetBytes(Batch(Item("a", "1"), Item("b", "5"), Item("c", "-6"))),
            new AuditRecord("test", "deadletter.edit", first.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "{}", "ok"), CancellationToken.None);
        Assert.True(edited);
        var retry = await RetryLetters();

        // Two letters retried: the fixed one is stored, the other fails again (one more attempt); item 0 is not run again.
        Assert.Equal((2L, 1L, 0L, 1L), (retry.Read, retry.Stored, retry.Duplicates, retry.Failed));
        Assert.Equal(new ReplayCounts(0, 0, 1, 1), retry.DeadLetters);
        Assert.Equal(["1.0 a=1", "1.1 b=5"], Records());
        Assert.Equal(["1.1 validate replayed 1", "1.2 validate open 2"], Letters());
        Assert.Empty(Reconcile().Mismatches);

        // A range replay reads the raw message as received: both failures are met again as they were recorded.
        var replay = await ReplayRange();
        Assert.Equal(new ReplayCounts(0, 2, 0, 0), replay.DeadLetters);
        Assert.Equal(["1.1 validate replayed 1", "1.2 validate open 2"], Letters());
        Assert.Equal(["1.0 a=1", "1.1 b=5"], Records());
    }

    [Fact]
    public async Task A_payload_without_items_stores_nothing_and_reconciliation_is_still_complete()
    {
        var result = await Send(Batch());
        await Send(Batch(Item("a", "1")));

        Assert.Equal((1, 0, 0), (result.Received, result.Stored, result.DeadLetters));
        Assert.Equal(["2.0 a=1"], Records());
        Assert.Empty(Letters());
        var report = Reconcile();
        Assert.Empty(report.Mismatches);
        var hour = Assert.Single(report.Hours);
        Assert.Equal((2L, 1L, 1L), (hour.Landed, hour.Decoded, hour.Stored));
        Assert.Equal(2, _store.RawZone.CountRaw("batches", _time.GetUtcNow().UtcDateTime.AddHours(-1), _time.GetUtcNow().UtcDateTime.AddHours(1)));
    }

    [Fact]
    public async Task A_payload_that_cannot_be_decoded_is_one_dead_letter_without_an_index_and_its_fix_stores_every_item()
    {
        var result = await Send("{\"items\":[" + Item("a", "1"));

        Assert.Equal((0, 1), (result.Stored, result.DeadLetters));
        Assert.Equal(["1.- decode open 1"], Letters());
        var letter = Assert.Single(_store.DeadLetters.List(new DeadLetterFilter(), 10));
        Assert.StartsWith("invalid JSON: ", letter.Reason, StringComparison.Ordinal);
        Assert.Empty(Reconcile().Mismatches);

        await _store.DeadLetters.EditAsync(letter.Id, Encoding.UTF8.GetBytes(Batch(Item("a", "1"), Item("b", "2"))),
            new AuditRecord("test", "deadletter.edit", "1", "{}", "ok"), CancellationToken.None);
        var retry = await RetryLetters();

        Assert.Equal((1L, 2L, 0L), (retry.Read, retry.Stored, retry.Failed));
        Assert.Equal(["1.0 a=1", "1.1 b=2"], Records());
        Assert.Equal(["1.- decode replayed 1"], Letters());
        Assert.Empty(Reconcile().Mismatches);
    }

    [Fact]
    public async Task A_store_written_before_lineage_indexes_gets_them_at_start_and_still_adds_up()
    {
        await Send(Batch(Item("a", "1")));
        await Send(Batch(Item("b", "-1")));

        // The columns are dropped while the platform is down, and the store is set back to the migration before
        // lineage, as a store of the version before was.
        await Close();
        using (var conn = new DuckDB.NET.Data.DuckDBConnection($"Data Source={Path.Combine(_dir, "data", "usine.duckdb")}"))
        {
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = "ALTER TABLE m_reading DROP COLUMN raw_index; ALTER TABLE dead_letters DROP COLUMN raw_index; ALTER TABLE source_hours DROP COLUMN decoded; DELETE FROM schema_migrations WHERE version >= 3";
            cmd.ExecuteNonQuery();
        }

        await Open();
        Assert.Equal(["1.0 a=1"], Records());
        Assert.Equal(["2.- validate open 1"], Letters());
        Assert.Empty(Reconcile().Mismatches);

        await Send(Batch(Item("c", "3"), Item("d", "4")));
        var retry = await RetryLetters();
        Assert.Equal((1L, 0L, 1L), (retry.Read, retry.Stored, retry.Failed));
        Assert.Equal(["1.0 a=1", "3.0 c=3", "3.1 d=4"], Records());
        var hour = Assert.Single(Reconcile().Hours);
        Assert.Equal((3L, 4L), (hour.Landed, hour.Decoded));
        Assert.Empty(Reconcile().Mismatches);
    }

    [Fact]
    public void A_decoder_that_throws_part_way_fails_the_message_it_was_reading_and_keeps_those_before()
    {
        var pipeline = new SourcePipeline(_defs.Sources["batches"], _defs);
        var output = new PipelineOutput();
        var payload = Encoding.UTF8.GetBytes(Batch(Item("a", "1"), "\"throw\"", Item("c", "3")));

        pipeline.Process([new RawMessage(1, _time.GetUtcNow().UtcDateTime, payload)], Stream, new Usine.Avatars.AvatarRegistry(), output);

        Assert.Equal([0], output.Records.Select(r => r.Index));
        var letter = Assert.Single(output.DeadLetters);
        Assert.Equal((1, DeadLetterStage.Decode), (letter.Index, letter.Stage));
        Assert.Equal("unexpected error (InvalidOperationException): the decoder broke", letter.Reason);
        Assert.Equal(2, output.Decoded);
    }

    [Fact]
    public void An_unknown_format_fails_at_start_up_naming_its_line_and_the_registered_formats()
    {
        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(Yaml, "batches.yaml"));
        Assert.Equal("batches.yaml:13: format 'batch' is not one of json, csv", ex.Message);

        var registered = Assert.Throws<DefinitionException>(() =>
            DefinitionLoader.LoadText(Yaml.Replace("format: batch", "format: xml", StringComparison.Ordinal), "batches.yaml", formats: new PayloadFormats([new BatchFormat()])));
        Assert.Equal("batches.yaml:13: format 'xml' is not one of json, csv, batch", registered.Message);
    }

    [Fact]
    public void A_format_registered_twice_under_one_name_is_refused()
    {
        var ex = Assert.Throws<ArgumentException>(() => new PayloadFormats([new BatchFormat(), new BatchFormat()]));
        Assert.StartsWith("format 'batch' is registered twice", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A payload <c>{"items":[...]}</c> holds one message per item, read in place.</summary>
    internal sealed class BatchFormat : PayloadFormat
    {
        public override string Name => "batch";

        public override IPayloadDecoder CreateDecoder(SourceDefinition source) => new Decoder();

        private sealed class Decoder : IPayloadDecoder
        {
            public void StartBatch(IReadOnlyList<string>? header)
            {
            }

            public void Decode(in RawMessage message, IDecodedMessages messages)
            {
                JsonDocument doc;
                try
                {
                    doc = JsonDocument.Parse(message.Payload);
                }
                catch (JsonException ex)
                {
                    messages.Reject("invalid JSON: " + ex.Message, ex);
                    return;
                }

                using (doc)
                {
                    if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("items", out var items) || items.ValueKind != JsonValueKind.Array)
                    {
                        messages.Reject("expected {\"items\":[...]}");
                        return;
                    }

                    var i = 0;
                    foreach (var item in items.EnumerateArray())
                    {
                        if (item.ValueKind == JsonValueKind.String && item.ValueEquals("throw"))
                        {
                            throw new InvalidOperationException("the decoder broke");
                        }

                        if (item.ValueKind == JsonValueKind.Object)
                        {
                            messages.Add(item);
                        }
                        else
                        {
                            messages.AddInvalid($"item {i} is a {item.ValueKind.ToString().ToLowerInvariant()}, not an object");
                        }

                        i++;
                    }
                }
            }
        }
    }
}
