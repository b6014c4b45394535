namespace Usine.Tests.Storage.Conformance;

/// <summary>
/// What every store must do, seen through its facets only: effectively-once commits, duplicates by natural key,
/// late data in old rollup buckets, the dead-letter lifecycle, idempotent raw replays, avatars and time-versioned
/// links, the plant scope of every read, reconciliation counters and checkpoint resume. A store runs it by deriving
/// a class that says how to open one (<see cref="OpenStore"/>); nothing here knows which store it is.
/// </summary>
/// <remarks>
/// The data: source <c>line1</c> of plant flins and <c>line2</c> of plant douai send screwing results of vehicles at
/// stations (test definitions), each record giving its vehicle a link to its station and a <c>last_station</c> attribute.
/// </remarks>
public abstract class StoreConformance : IAsyncLifetime
{
    protected const string Vin1 = TestDefinitions.Vin1;
    protected const string Vin2 = TestDefinitions.Vin2;
    protected const string Vin3 = "VF1CCCCC333333333";

    private static readonly HashSet<string> Flins = new(StringComparer.Ordinal) { "flins" };

    /// <summary>When every test message is received, and the raw-zone range that holds them.</summary>
    private static readonly DateTime Received = new(2026, 11, 26, 10, 0, 0, DateTimeKind.Utc);

    private readonly UsineDefinitions _definitions = TestDefinitions.TwoPlants();

    private IngestEngine? _engine;

    protected IUsineStore Store { get; private set; } = null!;

    /// <summary>
    /// A store over the storage called <paramref name="name"/>, not initialized yet: a name not used before in this
    /// test gives an empty store, the name of a store disposed earlier in the test opens that same store again.
    /// </summary>
    protected abstract IUsineStore OpenStore(string name);

    public async Task InitializeAsync() => await StartAsync();

    public async Task DisposeAsync()
    {
        await StopAsync();
        await DisposeStorageAsync();
    }

    /// <summary>Removes what the test's stores left (files, schemas); called once the last store is closed.</summary>
    protected virtual Task DisposeStorageAsync() => Task.CompletedTask;

    private async Task StartAsync()
    {
        Store = OpenStore("main");
        _engine = new IngestEngine(_definitions, Store.Commit);
        await _engine.StartAsync(CancellationToken.None);
    }

    private async Task StopAsync()
    {
        if (_engine is not null)
        {
            await _engine.DisposeAsync();
            _engine = null;
        }

        await Store.DisposeAsync();
    }

    /// <summary>Closes the store and opens it again, as a restart does.</summary>
    private async Task RestartAsync()
    {
        await StopAsync();
        await StartAsync();
    }

    private static string Screwing(string vin, string station, string time, double torque) => TestDefinitions.Screwing(vin, station, time, torque);

    private Task<IngestResult> Ingest(string source, string stream, params string[] payloads) => Ingest(source, stream, 1, payloads);

    private Task<IngestResult> Ingest(string source, string stream, long firstPosition, params string[] payloads) =>
        _engine!.IngestAsync(new IngestBatch
        {
            SourceId = source,
            StreamId = stream,
            Messages = [.. payloads.Select((p, i) => new RawMessage(firstPosition + i, Received, Encoding.UTF8.GetBytes(p)))],
        }, CancellationToken.None);

    /// <summary>Vehicles 1, 2 and 3 screwed at ST040, ST050 and ST060 of flins, five minutes apart from 08:15; a torque over 200 fails validation.</summary>
    private Task<IngestResult> IngestThree(double first, double second, double third) => Ingest("line1", "http:line1",
        Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", first), Screwing(Vin2, "ST050", "2026-11-26T08:20:00Z", second), Screwing(Vin3, "ST060", "2026-11-26T08:25:00Z", third));

    private Task<ReplayResult> ReplayAsync(IAsyncEnumerable<RawZoneMessage> messages, IngestMode mode) =>
        new ReplayRunner(_engine!).RunAsync(messages, mode, (_, stream, _) => Task.FromResult(Store.RawZone.CsvHeader(stream)), null, CancellationToken.None);

    private long Records(IReadOnlySet<string>? plants = null) => Store.Records.RecordCounts(plants).GetValueOrDefault("screwing");

    /// <summary>The 1h rollup of the screwing model over one day, as (hour, count) pairs.</summary>
    private async Task<List<(int Hour, long Count)>> HourlyCounts(AggregateSource from, IReadOnlySet<string>? plants = null)
    {
        var result = await Store.Records.AggregateAsync(new AggregateQuery
        {
            Model = "screwing",
            Bucket = AggregateBucket.All.Single(b => b.Name == "1h"),
            Measures = [new AggregateMeasure(null, AggregateFunction.Count)],
            Filter = new RecordFilter { From = new DateTime(2026, 11, 26, 0, 0, 0, DateTimeKind.Utc), To = new DateTime(2026, 11, 27, 0, 0, 0, DateTimeKind.Utc) },
            Source = from,
        }, plants, CancellationToken.None);
        return [.. result.Buckets.Select(b => (((DateTime)b["bucket"]!).Hour, Convert.ToInt64(b["count"], System.Globalization.CultureInfo.InvariantCulture)))];
    }

    [Fact]
    public async Task Committing_the_same_records_twice_from_any_stream_stores_them_once()
    {
        string[] batch = [Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 10), Screwing(Vin2, "ST050", "2026-11-26T08:20:00Z", 20)];

        var first = await Ingest("line1", "http:line1", batch);
        var second = await Ingest("line1", "http:line1", batch);
        var elsewhere = await Ingest("line1", "file:line1:other", [.. batch.Reverse()]);

        Assert.Equal((2, 0), (first.Stored, first.Duplicates));
        Assert.Equal((0, 2), (second.Stored, second.Duplicates));
        Assert.Equal((0, 2), (elsewhere.Stored, elsewhere.Duplicates));
        Assert.Equal(2, Records());
        Assert.Equal([(8, 2L)], await HourlyCounts(AggregateSource.Rollup));
    }

    [Fact]
    public async Task Records_with_the_same_natural_key_are_stored_once_even_within_one_batch()
    {
        // The key is (vin, station, ts): another torque for the same screwing is the same record.
        var r = await Ingest("line1", "http:line1",
            Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 10),
            Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 11),
            Screwing(Vin1, "ST040", "2026-11-26T08:16:00Z", 12));
        var later = await Ingest("line1", "http:line1", 4, Screwing(Vin1, "ST040", "2026-11-26T08:16:00Z", 13));

        Assert.Equal((2, 1), (r.Stored, r.Duplicates));
        Assert.Equal((0, 1), (later.Stored, later.Duplicates));
        Assert.Equal(2, Records());
        var page = await Store.Records.QueryRecordsAsync(new RecordQuery { Model = "screwing" }, null, CancellationToken.None);
        Assert.Equal([12.0, 10.0], page.Records.Select(x => Convert.ToDouble(x["torque"], System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task A_failed_commit_leaves_nothing_behind_and_the_next_batch_still_lands()
    {
        await Store.DisposeAsync(); // the engine's next commit hits a closed store
        await Assert.ThrowsAnyAsync<Exception>(() => Ingest("line1", "http:line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 10)));
        await RestartAsync();

        Assert.Equal(0, Store.RawZone.CountRaw("line1", Received, Received.AddMinutes(1)));
        Assert.Null(await Store.Commit.GetCheckpointAsync("http:line1", CancellationToken.None));
        Assert.Equal(0, Store.Avatars.AvatarTotal());
        var r = await Ingest("line1", "http:line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 10));
        Assert.Equal(1, r.Stored);
        Assert.Single(Store.Avatars.FindAvatars(Vin1, "vehicle"));
    }

    [Fact]
    public async Task Late_data_lands_in_the_rollup_bucket_of_its_own_old_hour()
    {
        await Ingest("line1", "http:line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 10));
        await Ingest("line1", "http:line1", 2, Screwing(Vin1, "ST040", "2026-11-26T10:15:00Z", 30));
        await Ingest("line1", "http:line1", 3, Screwing(Vin2, "ST040", "2026-11-26T08:50:00Z", 50));

        Assert.Equal([(8, 2L), (10, 1L)], await HourlyCounts(AggregateSource.Rollup));
        Assert.Equal(await HourlyCounts(AggregateSource.Records), await HourlyCounts(AggregateSource.Rollup));
        var result = await Store.Records.AggregateAsync(new AggregateQuery
        {
            Model = "screwing",
            Bucket = AggregateBucket.All.Single(b => b.Name == "1h"),
            Measures = [new AggregateMeasure("torque", AggregateFunction.Min), new AggregateMeasure("torque", AggregateFunction.Max), new AggregateMeasure("torque", AggregateFunction.Avg)],
            Filter = new RecordFilter { From = new DateTime(2026, 11, 26, 8, 0, 0, DateTimeKind.Utc), To = new DateTime(2026, 11, 26, 9, 0, 0, DateTimeKind.Utc) },
            Source = AggregateSource.Rollup,
        }, null, CancellationToken.None);
        var bucket = Assert.Single(result.Buckets);
        Assert.Equal((10.0, 50.0, 30.0), (Convert.ToDouble(bucket["torque_min"], System.Globalization.CultureInfo.InvariantCulture),
            Convert.ToDouble(bucket["torque_max"], System.Globalization.CultureInfo.InvariantCulture), Convert.ToDouble(bucket["torque_avg"], System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task A_dead_letter_is_open_until_it_is_replayed_or_discarded_and_every_retry_counts_an_attempt()
    {
        await IngestThree(999, 888, 30);
        var letters = Store.DeadLetters.List(new DeadLetterFilter(), 10);
        Assert.Equal([(2L, "open", 1), (1L, "open", 1)], letters.Select(l => (l.Position, l.Status, l.Attempts)));
        var (first, second) = (letters[1].Id, letters[0].Id);
        Assert.Equal("validate", letters[0].Stage);

        // A retry of both, unchanged, fails again: one more attempt each, still open.
        var retried = await ReplayAsync(Store.DeadLetters.ReadForReplayAsync(new DeadLetterFilter(), 5, false, CancellationToken.None), IngestMode.Retry);
        Assert.Equal((2L, 0L, 2L), (retried.Read, retried.Stored, retried.Failed));
        Assert.Equal(new ReplayCounts(0, 0, 2, 0), retried.DeadLetters);
        Assert.Equal((2L, 2L), Store.DeadLetters.CountReplayable(new DeadLetterFilter(), 2));

        // The first is fixed by an edit that keeps its original payload, then retried: it is replayed and its record stored.
        var fixedPayload = Encoding.UTF8.GetBytes(Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 99));
        Assert.True(await Store.DeadLetters.EditAsync(first, fixedPayload, new AuditRecord("tester", "deadletter.edit", "deadletter:" + first, "{}", "ok"), CancellationToken.None));
        var edited = Store.DeadLetters.Get(first)!;
        Assert.Equal(fixedPayload, edited.Letter.Payload);
        Assert.Contains("999", Encoding.UTF8.GetString(edited.OriginalPayload!), StringComparison.Ordinal);
        Assert.NotNull(edited.EditedAt);
        var replayed = await ReplayAsync(Store.DeadLetters.ReadForReplayAsync(new DeadLetterFilter { Ids = [first] }, 5, false, CancellationToken.None), IngestMode.Retry);
        Assert.Equal((1L, 1L, new ReplayCounts(0, 0, 0, 1)), (replayed.Read, replayed.Stored, replayed.DeadLetters));
        Assert.Equal(2, Records());

        // The second is discarded with a reason; neither can be edited nor discarded again.
        var discarded = await Store.DeadLetters.DiscardAsync(new DeadLetterFilter { Status = "open" }, "sensor fault",
            id => new AuditRecord("tester", "deadletter.discard", "deadletter:" + id, "{}", "ok"), CancellationToken.None);
        Assert.Equal(1, discarded);
        Assert.Equal(("discarded", "sensor fault"), (Store.DeadLetters.Get(second)!.Letter.Status, Store.DeadLetters.Get(second)!.DiscardReason));
        Assert.Equal("replayed", Store.DeadLetters.Get(first)!.Letter.Status);
        Assert.Equal(["deadletter.discard", "deadletter.edit"], Store.Audit.Entries(null, null, 10).Select(e => e.Action));
        Assert.False(await Store.DeadLetters.EditAsync(second, fixedPayload, new AuditRecord("tester", "deadletter.edit", "deadletter:" + second, "{}", "ok"), CancellationToken.None));
        Assert.Equal(0, await Store.DeadLetters.DiscardAsync(new DeadLetterFilter { Ids = [first, second] }, "again",
            id => new AuditRecord("tester", "deadletter.discard", "deadletter:" + id, "{}", "ok"), CancellationToken.None));
        Assert.Equal((0L, 2L), Store.DeadLetters.Count(new DeadLetterFilter()));
        Assert.Equal(("line1", "flins"), Store.DeadLetters.Owner(first));
        Assert.Null(Store.DeadLetters.Owner(second + 1000));
    }

    [Fact]
    public async Task Dead_letters_that_failed_the_same_way_form_one_group_whatever_their_values()
    {
        await Ingest("line1", "http:line1",
            Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 999),
            Screwing(Vin2, "ST050", "2026-11-26T08:20:00Z", 888),
            "{broken");

        var groups = Store.DeadLetters.Groups(new DeadLetterFilter(), 10);

        Assert.Equal([("validate", 2L), ("decode", 1L)], groups.Select(g => (g.Stage, g.Count)));
        Assert.Equal(2, Store.DeadLetters.List(new DeadLetterFilter { Rule = groups[0].Rule }, 10).Count);
    }

    [Fact]
    public async Task Replaying_a_raw_range_twice_changes_nothing_and_leaves_the_checkpoint_where_it_is()
    {
        await IngestThree(10, 999, 30);
        var (from, to) = (Received, Received.AddMinutes(1));
        Assert.Equal(3, Store.RawZone.CountRaw("line1", from, to));
        Assert.Equal(0, Store.RawZone.CountRaw("line1", to, to.AddHours(1)));

        foreach (var _ in new[] { 1, 2 })
        {
            var r = await ReplayAsync(Store.RawZone.ReadRawAsync("line1", from, to, CancellationToken.None), IngestMode.Replay);
            Assert.Equal((3L, 0L, 2L, 1L), (r.Read, r.Stored, r.Duplicates, r.Failed));
            Assert.Equal(new ReplayCounts(0, 1, 0, 0), r.DeadLetters);
        }

        Assert.Equal(2, Records());
        Assert.Equal((1L, 1L), Store.DeadLetters.Count(new DeadLetterFilter()));
        Assert.Equal(3, Store.RawZone.CountRaw("line1", from, to));
        Assert.Equal(3, await Store.Commit.GetCheckpointAsync("http:line1", CancellationToken.None));
        Assert.Equal([(8, 2L)], await HourlyCounts(AggregateSource.Rollup));
    }

    [Fact]
    public async Task Avatars_and_their_links_are_versioned_in_time_and_survive_a_restart_without_being_created_twice()
    {
        await Ingest("line1", "http:line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 10));
        await RestartAsync();
        await Ingest("line1", "http:line1", 2, Screwing(Vin1, "ST040", "2026-11-26T08:20:00Z", 10));
        await Ingest("line1", "http:line1", 3, Screwing(Vin1, "ST050", "2026-11-26T08:30:00Z", 10));

        var vehicle = Assert.Single(Store.Avatars.FindAvatars(Vin1, null));
        Assert.Equal(("vehicle", "flins"), (vehicle.Type, vehicle.Plant));
        var links = Store.Avatars.Links(vehicle.Key);
        Assert.Equal([("flins/assembly/L1/ST050", (DateTime?)null), ("flins/assembly/L1/ST040", new DateTime(2026, 11, 26, 8, 30, 0, DateTimeKind.Utc))],
            links.Select(l => (l.Id, l.Until)));
        Assert.Equal("flins/assembly/L1/ST040", Assert.Single(Store.Avatars.LinksAt(vehicle.Key, new DateTime(2026, 11, 26, 8, 29, 0, DateTimeKind.Utc), null)).To.Id);
        Assert.Equal("flins/assembly/L1/ST050", Assert.Single(Store.Avatars.LinksAt(vehicle.Key, new DateTime(2026, 11, 26, 8, 30, 0, DateTimeKind.Utc), null)).To.Id);
        Assert.Empty(Store.Avatars.LinksAt(vehicle.Key, new DateTime(2026, 11, 26, 8, 0, 0, DateTimeKind.Utc), null));

        var station = Assert.Single(Store.Avatars.FindAvatars("flins/assembly/L1/ST050", "station"));
        Assert.Equal(["plant", "shop", "line"], Store.Avatars.Ancestors(station, null).Select(a => a.Type));
        Assert.Equal([Vin1], Store.Avatars.LinksTo(station.Key, 10).Select(l => l.Id));
        Assert.Equal("ST050", Assert.Single(Store.Avatars.AvatarAttributes([vehicle.Key], null)[vehicle.Key]).Value);
        var line = Assert.Single(Store.Avatars.FindAvatars("flins/assembly/L1", "line"));
        Assert.Equal(["flins/assembly/L1/ST040", "flins/assembly/L1/ST050"], Store.Avatars.Children(line.Key, 10, null).Select(a => a.Id));

        // The plant, its shop, line and two stations, and the vehicle.
        Assert.Equal(6, Store.Avatars.AvatarTotal());
        Assert.Equal(3, (await Store.Avatars.AvatarHistoryAsync(vehicle.Key, null, null, 10, null, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Every_read_keeps_to_the_plants_of_its_scope()
    {
        await Ingest("line1", "s1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 10), Screwing(Vin2, "ST050", "2026-11-26T08:20:00Z", 20));
        await Ingest("line2", "s2",
            Screwing(Vin3, "ST040", "2026-11-26T08:30:00Z", 30), Screwing(Vin1, "ST060", "2026-11-26T09:10:00Z", 40), Screwing(Vin3, "ST070", "2026-11-26T09:20:00Z", 999));
        var vin1 = Assert.Single(Store.Avatars.FindAvatars(Vin1, null)).Key;

        Assert.Equal(["douai", "flins"], Store.Avatars.Plants());
        Assert.Equal((4L, 2L), (Records(), Records(Flins)));
        Assert.Equal(0, Records(new HashSet<string>()));
        Assert.Equal(2, (await Store.Records.QueryRecordsAsync(new RecordQuery { Model = "screwing" }, Flins, CancellationToken.None)).Records.Count);
        Assert.Equal([(8, 2L)], await HourlyCounts(AggregateSource.Rollup, Flins));
        Assert.Equal([(8, 2L)], await HourlyCounts(AggregateSource.Records, Flins));
        Assert.Empty(Store.Avatars.FindAvatars(Vin3, null, Flins));
        Assert.Single(Store.Avatars.FindAvatars(Vin3, null, null));
        Assert.Equal([Vin1, Vin2], Store.Avatars.SearchAvatars("VF1", null, null, 10, Flins).Select(a => a.Id));
        Assert.Equal([Vin1, Vin2], Store.Avatars.SearchAvatars("VF1", 10, Flins).Select(a => a.Id));
        Assert.Equal(Store.Avatars.AvatarTotal(null) - Store.Avatars.AvatarTotal(new HashSet<string> { "douai" }), Store.Avatars.AvatarTotal(Flins));
        Assert.Equal(["flins/assembly/L1/ST040"], Store.Avatars.Links(vin1, Flins).Select(l => l.Id));
        Assert.Equal(["douai/assembly/L1/ST060", "flins/assembly/L1/ST040"], Store.Avatars.Links(vin1, null).Select(l => l.Id));
        Assert.Single(await Store.Avatars.AvatarHistoryAsync(vin1, null, null, 10, Flins, CancellationToken.None));
        Assert.Equal(1, Store.Avatars.AvatarRecords(vin1, 10, Flins).Counts["screwing"]);
        Assert.Equal((0L, 0L), Store.DeadLetters.Count(new DeadLetterFilter { Plants = Flins }));
        Assert.Equal((1L, 1L), Store.DeadLetters.Count(new DeadLetterFilter { Plants = new HashSet<string> { "douai" } }));
        Assert.Empty(Store.DeadLetters.List(new DeadLetterFilter { Plants = Flins }, 10));
    }

    [Fact]
    public async Task Source_totals_and_hourly_counters_add_up_to_what_was_received()
    {
        string[] batch = [Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 10), Screwing(Vin2, "ST050", "2026-11-26T08:20:00Z", 20), "{broken"];
        await Ingest("line1", "http:line1", batch);
        await Ingest("line1", "http:line1", 4, batch);

        var totals = Store.Operations.SourceTotals()["line1"];
        Assert.Equal((6L, 2L, 2L, 2L), (totals.Received, totals.Stored, totals.Duplicates, totals.DeadLetters));
        Assert.NotNull(totals.LastSeen);
        Assert.False(Store.Operations.SourceTotals().ContainsKey("line2"));

        // Counters go by the hour a batch landed, on the store's clock: the hours around the last commit hold them all.
        var seen = totals.LastSeen!.Value;
        var hourStart = new DateTime(seen.Ticks - (seen.Ticks % TimeSpan.TicksPerHour), DateTimeKind.Utc);
        var report = Store.Operations.Reconcile(_definitions.Sources["line1"], hourStart.AddHours(-1), hourStart.AddHours(1), 0);
        Assert.Equal((6L, 2L, 2L, 2L), (report.Hours.Sum(h => h.Landed), report.Hours.Sum(h => h.Stored), report.Hours.Sum(h => h.Duplicates), report.Hours.Sum(h => h.Rejected)));
        Assert.Empty(report.Mismatches);
        Assert.Equal(["line1"], Store.Operations.ReconcileAll([_definitions.Sources["line1"]], hourStart.AddHours(-1), hourStart.AddHours(1)).Keys);
    }

    [Fact]
    public async Task A_stream_resumes_from_its_committed_checkpoint_after_a_restart()
    {
        await Ingest("line1", "mqtt:line1", Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 10), Screwing(Vin2, "ST050", "2026-11-26T08:20:00Z", 20));
        await Ingest("line1", "http:line1", 7, Screwing(Vin3, "ST040", "2026-11-26T08:25:00Z", 30));

        await RestartAsync();

        Assert.Equal(2, await Store.Commit.GetCheckpointAsync("mqtt:line1", CancellationToken.None));
        Assert.Equal(7, await Store.Commit.GetCheckpointAsync("http:line1", CancellationToken.None));
        Assert.Null(await Store.Commit.GetCheckpointAsync("mqtt:unknown", CancellationToken.None));
        Assert.Equal(3, Records());
    }

    [Fact]
    public async Task A_registered_stream_keeps_its_csv_header_and_its_line_counts_once()
    {
        await Store.RawZone.RegisterStreamAsync("file:csv-line1:abc", "csv-line1", "file", "a.csv", ["vin", "station", "ts", "torque_lbft"], CancellationToken.None);
        await Store.RawZone.RegisterStreamAsync("file:csv-line1:abc", "csv-line1", "file", "b.csv", ["other"], CancellationToken.None);
        await Store.RawZone.CompleteStreamAsync("file:csv-line1:abc", 10, 12, CancellationToken.None);

        Assert.Equal(["vin", "station", "ts", "torque_lbft"], Store.RawZone.CsvHeader("file:csv-line1:abc"));
        Assert.Null(Store.RawZone.CsvHeader("file:csv-line1:unknown"));
    }

    [Fact]
    public async Task The_audit_log_lists_the_latest_entries_first_and_filters_by_action()
    {
        await Store.Audit.AppendAsync(new AuditRecord("ana", "model.create", "model:screwing", """{"version":1}""", "ok"), CancellationToken.None);
        await Store.Audit.AppendAsync(new AuditRecord("bob", "source.delete", "source:line2", "{}", "ok"), CancellationToken.None);
        await Store.Audit.AppendAsync(new AuditRecord("ana", "model.create", "model:energy", "{}", "failed: no field"), CancellationToken.None);

        Assert.Equal(["model:energy", "source:line2", "model:screwing"], Store.Audit.Entries(null, null, 10).Select(e => e.Target));
        Assert.Equal(["failed: no field", "ok"], Store.Audit.Entries("model.create", null, 10).Select(e => e.Result));
        Assert.Single(Store.Audit.Entries(null, null, 1));
    }

    [Fact]
    public async Task Alert_events_are_kept_oldest_first_and_survive_a_restart()
    {
        var at = new DateTime(2026, 11, 26, 9, 0, 0, DateTimeKind.Utc);
        await Store.Operations.AppendAlertEventsAsync(
            [
                new AlertEvent(1, "firing", "silent", "silence", "warning", "line1", "no data for 5m", at, at, "line1"),
                new AlertEvent(2, "resolved", "silent", "silence", "warning", "line1", "no data for 5m", at, at.AddMinutes(7), "line1"),
            ], CancellationToken.None);

        await RestartAsync();

        Assert.Equal(["firing", "resolved"], (await Store.Operations.RecentAlertEventsAsync(10, CancellationToken.None)).Select(e => e.Status));
        Assert.Equal(["resolved"], (await Store.Operations.RecentAlertEventsAsync(1, CancellationToken.None)).Select(e => e.Status));
    }
}
