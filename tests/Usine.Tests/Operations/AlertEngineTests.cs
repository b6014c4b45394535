namespace Usine.Tests.Operations;

/// <summary>The alert engine on a fake clock, over signals the test sets.</summary>
public sealed class AlertEngineTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero));
    private readonly Signals _signals = new();
    private readonly Recorder _notified = new();

    private sealed class Signals : IAlertSignals
    {
        public Dictionary<string, SourceSignal> Sources { get; } = [];
        public List<ReconcileIssue> Issues { get; } = [];
        public int Reconciliations { get; private set; }

        public List<Usine.Ingestion.CommitFailure> Failing { get; } = [];

        public SourceSignal Source(string sourceId) => Sources.GetValueOrDefault(sourceId);

        public IReadOnlyList<Usine.Ingestion.CommitFailure> FailingCommits() => [.. Failing];

        public long? Lag { get; set; }

        public long? ConsumerLag() => Lag;

        public Dictionary<string, List<Usine.Sources.SourcePart>> PartsOf { get; } = [];

        public IReadOnlyList<Usine.Sources.SourcePart> Parts(string sourceId) => PartsOf.TryGetValue(sourceId, out var parts) ? [.. parts] : [];

        public Task<IReadOnlyList<ReconcileIssue>> FindMismatchesAsync(DateTime from, DateTime to, CancellationToken cancellationToken)
        {
            Reconciliations++;
            return Task.FromResult<IReadOnlyList<ReconcileIssue>>([.. Issues]);
        }
    }

    private sealed class Recorder : IAlertNotifier
    {
        public List<AlertEvent> Events { get; } = [];
        public string Name => "recorder";
        public void Enqueue(AlertEvent alert) => Events.Add(alert);
    }

    private DateTime Now => _time.GetUtcNow().UtcDateTime;

    private (AlertEngine Engine, JobRegistry Jobs) Engine(string alerts, Recorder? notified = null)
    {
        var defs = DefinitionLoader.LoadText("""
            models:
              - name: m
                time: ts
                fields: { ts: { type: timestamp } }
            sources:
              - { id: s1, plant: p, kind: http, model: m, expect: { every: 30s } }
              - { id: s2, plant: p, kind: http, model: m }
            """ + "\n" + alerts, "usine.yaml");
        var jobs = new JobRegistry(_time);
        return (new AlertEngine(defs, jobs, _signals, [notified ?? _notified], new AlertEngineOptions { EvaluateEvery = TimeSpan.FromSeconds(5) }, _time), jobs);
    }

    [Fact]
    public async Task A_silent_source_fires_once_after_one_and_a_half_cadences_and_resolves_when_data_returns()
    {
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: quiet, signal: silence, severity: critical }\n");
        _signals.Sources["s1"] = new SourceSignal(Now, 10, 0, TimeSpan.Zero);

        _time.Advance(TimeSpan.FromSeconds(45));
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);

        _time.Advance(TimeSpan.FromSeconds(1));
        await engine.EvaluateAsync(default);
        _time.Advance(TimeSpan.FromSeconds(10));
        await engine.EvaluateAsync(default);

        var firing = Assert.Single(engine.Firing);
        Assert.Equal(("quiet", "critical", "s1"), (firing.Rule, firing.Severity, firing.Source));
        Assert.Contains("source s1 has sent nothing for 56s (expected every 30s)", firing.Summary, StringComparison.Ordinal);
        Assert.Equal(["firing"], _notified.Events.Select(e => e.Status));

        _signals.Sources["s1"] = new SourceSignal(Now, 11, 0, TimeSpan.Zero);
        await engine.EvaluateAsync(default);

        Assert.Empty(engine.Firing);
        Assert.Equal(["firing", "resolved"], _notified.Events.Select(e => e.Status));
        Assert.Equal(["resolved", "firing"], engine.History.Select(e => e.Status));
        Assert.Equal("source s1 is sending again (silent 56s until 08:00:56Z)", _notified.Events[1].Summary);
    }

    [Fact]
    public async Task A_store_that_cannot_commit_fires_one_alert_for_the_platform_after_its_for_and_resolves_when_commits_succeed()
    {
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: disk, signal: store-failing, for: 10s }\n");
        var since = Now;
        _signals.Failing.Add(new Usine.Ingestion.CommitFailure("s1", "the data directory's filesystem is full: No space left on device", since, since, 1));
        _signals.Failing.Add(new Usine.Ingestion.CommitFailure("s2", "the data directory's filesystem is full: No space left on device", since, since, 3));
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);

        _time.Advance(TimeSpan.FromSeconds(10));
        await engine.EvaluateAsync(default);
        var firing = Assert.Single(engine.Firing);
        Assert.Equal(("disk", "warning", null), (firing.Rule, firing.Severity, firing.Source));
        Assert.Equal($"the store cannot commit since {since:u} (2 sources waiting): the data directory's filesystem is full: No space left on device", firing.Summary);

        _signals.Failing.Clear();
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);
        Assert.Equal(["firing", "resolved"], _notified.Events.Select(e => e.Status));
        Assert.All(_notified.Events, e => Assert.Equal("store-failing", e.Signal));
    }

    [Fact]
    public async Task Processors_too_far_behind_in_jetstream_fire_one_alert_for_the_cluster_and_resolve_when_they_catch_up()
    {
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: behind, signal: consumer-lag, above: 50000, for: 1m }\n");

        // Outside a cluster there is no lag to read: nothing fires.
        _time.Advance(TimeSpan.FromMinutes(5));
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);

        _signals.Lag = 80_000;
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);
        _time.Advance(TimeSpan.FromMinutes(1));
        await engine.EvaluateAsync(default);
        var firing = Assert.Single(engine.Firing);
        Assert.Equal(("behind", null), (firing.Rule, firing.Source));
        Assert.StartsWith("the processors are 80,000 messages behind in JetStream (threshold 50,000)", firing.Summary, StringComparison.Ordinal);

        _signals.Lag = 1_000;
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);
        Assert.Equal(["firing", "resolved"], _notified.Events.Select(e => e.Status));
        Assert.All(_notified.Events, e => Assert.Equal("consumer-lag", e.Signal));
    }

    private static Usine.Sources.SourcePart Part(string kind, string name, bool online, DateTime since, string reason) =>
        new(kind, name, online, since, reason, new Dictionary<string, string?>());

    [Fact]
    public async Task An_offline_edge_node_fires_one_alert_its_devices_none_and_it_resolves_saying_the_node_is_online_again()
    {
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: edges, signal: edge-offline, source: s1 }\n");
        var died = Now;
        _signals.PartsOf["s1"] = [Part("edge node", "G/E1", false, died, "NDEATH (bdSeq 3)"), Part("device", "G/E1/robot", false, died, "offline with its edge node (NDEATH (bdSeq 3))"),
            Part("edge node", "G/E2", true, died, "NBIRTH"), Part("device", "G/E2/press", false, died, "DDEATH")];
        _signals.PartsOf["s2"] = [Part("edge node", "G/E9", false, died, "NDEATH (bdSeq 0)")];
        await engine.EvaluateAsync(default);

        Assert.Equal(["device G/E2/press of source s1 is offline since 08:00:00Z (DDEATH)", "edge node G/E1 of source s1 is offline since 08:00:00Z (NDEATH (bdSeq 3))"],
            engine.Firing.Select(f => f.Summary).Order(StringComparer.Ordinal));
        Assert.All(_notified.Events, e => Assert.Equal(("edge-offline", "s1"), (e.Signal, e.Source)));

        _time.Advance(TimeSpan.FromSeconds(95));
        _signals.PartsOf["s1"] = [Part("edge node", "G/E1", true, Now, "NBIRTH"), Part("device", "G/E1/robot", true, Now, "DBIRTH"),
            Part("edge node", "G/E2", true, died, "NBIRTH"), Part("device", "G/E2/press", false, died, "DDEATH")];
        await engine.EvaluateAsync(default);

        Assert.Equal("device G/E2/press of source s1 is offline since 08:00:00Z (DDEATH)", Assert.Single(engine.Firing).Summary);
        var resolved = Assert.Single(_notified.Events, e => e.Status == "resolved");
        Assert.Equal(("s1:G/E1", "edge node G/E1 of source s1 is online again (NBIRTH at 08:01:35Z, offline for 1m35s)"), (resolved.Subject, resolved.Summary));
    }

    [Fact]
    public async Task An_edge_offline_alert_carried_over_a_restart_stays_firing_until_the_restarted_host_sees_the_node_again()
    {
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: edges, signal: edge-offline }\n");
        var since = Now.AddMinutes(-10);
        engine.RestoreHistory([new AlertEvent(7, "firing", "edges", "edge-offline", "warning", "s1", "edge node G/E1 of source s1 is offline since 07:50:00Z (NDEATH (bdSeq 1))", since, since, "s1:G/E1")]);

        // A restarted host knows nothing of the node until its next birth: the alert is not judged over.
        _time.Advance(TimeSpan.FromMinutes(5));
        await engine.EvaluateAsync(default);
        Assert.Equal(since, Assert.Single(engine.Firing).Since);
        Assert.Empty(_notified.Events);

        _signals.PartsOf["s1"] = [Part("edge node", "G/E1", true, Now, "NBIRTH")];
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);
        Assert.Equal("edge node G/E1 of source s1 is online again (NBIRTH at 08:05:00Z, offline for 15m00s)", Assert.Single(_notified.Events).Summary);
    }

    [Fact]
    public void A_consumer_lag_rule_takes_no_source_and_a_number_of_messages()
    {
        var sourced = Assert.Throws<DefinitionException>(() => Engine("alerts:\n  rules:\n    - { name: behind, signal: consumer-lag, source: s1 }\n"));
        Assert.Contains("takes no source", sourced.Message, StringComparison.Ordinal);
        Assert.Throws<DefinitionException>(() => Engine("alerts:\n  rules:\n    - { name: behind, signal: consumer-lag, above: lots }\n"));
    }

    [Fact]
    public async Task A_source_silent_since_the_start_fires_too_and_sources_without_a_cadence_are_not_watched()
    {
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: quiet, signal: silence }\n");

        _time.Advance(TimeSpan.FromMinutes(10));
        await engine.EvaluateAsync(default);

        Assert.Equal("s1", Assert.Single(engine.Firing).Source);
    }

    [Fact]
    public async Task After_a_restart_sources_get_their_limit_to_be_heard_from_before_a_silence_fires()
    {
        // Last seen an hour before this process started (the store's figure): no alert in the first 45 s.
        _signals.Sources["s1"] = new SourceSignal(Now - TimeSpan.FromHours(1), 10, 0, TimeSpan.Zero);
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: quiet, signal: silence }\n");

        _time.Advance(TimeSpan.FromSeconds(40));
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);

        _time.Advance(TimeSpan.FromSeconds(10));
        await engine.EvaluateAsync(default);
        Assert.Equal("source s1 has sent nothing for 1h00m (expected every 30s)", Assert.Single(engine.Firing).Summary);
    }

    [Fact]
    public async Task An_alert_firing_when_the_platform_stopped_is_firing_after_the_restart_and_resolves_once_worded_as_a_resolution()
    {
        var stoppedSource = Now;
        _signals.Sources["s1"] = new SourceSignal(stoppedSource, 10, 0, TimeSpan.Zero);
        var (before, _) = Engine("alerts:\n  rules:\n    - { name: quiet, signal: silence }\n");
        _time.Advance(TimeSpan.FromMinutes(1));
        await before.EvaluateAsync(default);
        var fired = Assert.Single(before.Firing);

        // The platform stops for an hour, then starts again with the kept history; the source is still silent.
        _time.Advance(TimeSpan.FromHours(1));
        var after = new Recorder();
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: quiet, signal: silence }\n", after);
        engine.RestoreHistory(before.History.Reverse());
        Assert.Equal((fired.Rule, fired.Since), (Assert.Single(engine.Firing).Rule, engine.Firing[0].Since));

        await engine.EvaluateAsync(default);
        Assert.Equal("source s1 has sent nothing for 1h01m (expected every 30s)", Assert.Single(engine.Firing).Summary);
        Assert.Empty(after.Events);

        _time.Advance(TimeSpan.FromSeconds(3));
        _signals.Sources["s1"] = new SourceSignal(Now, 11, 0, TimeSpan.Zero);
        await engine.EvaluateAsync(default);

        Assert.Empty(engine.Firing);
        var resolved = Assert.Single(after.Events);
        Assert.Equal(("resolved", fired.Since, 2L), (resolved.Status, resolved.Since, resolved.Id));
        Assert.Equal("source s1 is sending again (silent 1h01m until 09:01:03Z)", resolved.Summary);
    }

    [Fact]
    public async Task An_alert_carried_over_a_restart_whose_condition_ended_meanwhile_is_resolved_at_the_first_evaluation()
    {
        var (before, jobs) = Engine("alerts:\n  rules:\n    - { name: down, signal: connector-down, for: 0s }\n    - { name: gone, signal: lag, above: 1s }\n");
        jobs.Stream("s1", JobState.Running).SetState(JobState.Degraded, "connection refused");
        await before.EvaluateAsync(default);
        Assert.Single(before.Firing);

        // Restarted without the lag rule; the connector connects at once.
        _time.Advance(TimeSpan.FromMinutes(10));
        var after = new Recorder();
        var (engine, restarted) = Engine("alerts:\n  rules:\n    - { name: down, signal: connector-down, for: 0s }\n", after);
        var history = before.History.Reverse().Append(new AlertEvent(99, "firing", "gone", "lag", "warning", "s2", "late", Now, Now)).ToList();
        engine.RestoreHistory(history);
        restarted.Stream("s1", JobState.Running);

        // The connector gets 30 s to connect or fail before the carried alert is judged.
        await engine.EvaluateAsync(default);
        Assert.Equal("down", Assert.Single(engine.Firing).Rule);
        Assert.Equal([("resolved", "gone", "rule gone is no longer defined")], after.Events.Select(e => (e.Status, e.Rule, e.Summary)));

        _time.Advance(TimeSpan.FromSeconds(30));
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);
        Assert.Equal(("resolved", "down"), (after.Events[1].Status, after.Events[1].Rule));
        Assert.StartsWith("connector of source s1 is running again", after.Events[1].Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_import_carried_over_a_restart_stays_firing_until_an_import_of_the_same_source_succeeds()
    {
        var (before, jobs) = Engine("alerts:\n  rules:\n    - { name: failed, signal: job-failed }\n");
        jobs.Start(JobKind.Import, "s2", "a.csv").SetState(JobState.Failed, "the CSV file is empty");
        await before.EvaluateAsync(default);
        Assert.Equal("import:s2", Assert.Single(before.History).Subject);

        var after = new Recorder();
        var (engine, restarted) = Engine("alerts:\n  rules:\n    - { name: failed, signal: job-failed }\n", after);
        engine.RestoreHistory(before.History);
        _time.Advance(TimeSpan.FromMinutes(10));
        await engine.EvaluateAsync(default);
        Assert.Single(engine.Firing);

        restarted.Start(JobKind.Import, "s2", "b.csv").SetState(JobState.Stopped);
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);
        Assert.Equal("resolved", Assert.Single(after.Events).Status);
    }

    [Fact]
    public async Task The_dead_letter_rate_is_measured_over_its_window_with_a_minimum_of_messages()
    {
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: rejects, signal: dead-letter-rate, above: 10%, window: 1m, min: 20 }\n");
        _signals.Sources["s2"] = new SourceSignal(Now, 1000, 5, TimeSpan.Zero);
        await engine.EvaluateAsync(default);

        // 10 messages, all bad: below the minimum of 20.
        _time.Advance(TimeSpan.FromSeconds(30));
        _signals.Sources["s2"] = new SourceSignal(Now, 1010, 15, TimeSpan.Zero);
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);

        // 50 messages in the minute, 15 bad: 30%.
        _time.Advance(TimeSpan.FromSeconds(30));
        _signals.Sources["s2"] = new SourceSignal(Now, 1050, 20, TimeSpan.Zero);
        await engine.EvaluateAsync(default);
        Assert.Contains("15 of 50 messages of source s2 became dead letters in the last 1m00s (30%, threshold 10%)", Assert.Single(engine.Firing).Summary, StringComparison.Ordinal);

        // The next minute is clean: the bad burst leaves the window.
        _time.Advance(TimeSpan.FromSeconds(65));
        _signals.Sources["s2"] = new SourceSignal(Now, 1200, 20, TimeSpan.Zero);
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);
    }

    [Fact]
    public async Task A_connector_down_fires_only_after_it_stayed_down_for_the_rule_duration()
    {
        var (engine, jobs) = Engine("alerts:\n  rules:\n    - { name: down, signal: connector-down, for: 30s }\n");
        var stream = jobs.Stream("s1", JobState.Running);

        stream.SetState(JobState.Degraded, "connection refused");
        await engine.EvaluateAsync(default);
        _time.Advance(TimeSpan.FromSeconds(20));
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);

        _time.Advance(TimeSpan.FromSeconds(15));
        await engine.EvaluateAsync(default);
        Assert.Contains("connector of source s1 is degraded", Assert.Single(engine.Firing).Summary, StringComparison.Ordinal);
        Assert.Contains("connection refused", engine.Firing[0].Summary, StringComparison.Ordinal);

        stream.SetState(JobState.Running);
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);
        Assert.Equal(["firing", "resolved"], _notified.Events.Select(e => e.Status));
        Assert.Equal("connector of source s1 is running again (down for 35s)", _notified.Events[1].Summary);
    }

    [Fact]
    public async Task A_failed_import_fires_until_a_later_import_of_the_same_source_succeeds()
    {
        var (engine, jobs) = Engine("alerts:\n  rules:\n    - { name: failed, signal: job-failed }\n");
        jobs.Start(JobKind.Import, "s2", "a.csv").SetState(JobState.Failed, "the CSV file is empty");
        await engine.EvaluateAsync(default);
        Assert.Contains("failed: the CSV file is empty", Assert.Single(engine.Firing).Summary, StringComparison.Ordinal);

        _time.Advance(TimeSpan.FromSeconds(1));
        var later = jobs.Start(JobKind.Import, "s2", "b.csv");
        later.SetState(JobState.Stopped);
        await engine.EvaluateAsync(default);
        Assert.Empty(engine.Firing);
        Assert.Equal(("resolved", $"a later import job of source s2 did not fail: {later.Id} is stopped"), (_notified.Events[1].Status, _notified.Events[1].Summary));
    }

    [Fact]
    public async Task Reconciliation_runs_on_its_own_schedule_and_a_mismatch_fires_per_source()
    {
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: recon, signal: reconcile-mismatch }\n");
        _signals.Issues.Add(new ReconcileIssue("s2", "file a.csv: declares 5 lines but has 4"));

        await engine.EvaluateAsync(default);
        _time.Advance(TimeSpan.FromMinutes(1));
        await engine.EvaluateAsync(default);

        Assert.Equal(1, _signals.Reconciliations);
        Assert.Contains("declares 5 lines but has 4", Assert.Single(engine.Firing).Summary, StringComparison.Ordinal);

        _signals.Issues.Clear();
        _time.Advance(TimeSpan.FromMinutes(5));
        await engine.EvaluateAsync(default);
        Assert.Equal(2, _signals.Reconciliations);
        Assert.Empty(engine.Firing);
    }

    [Fact]
    public async Task The_timer_evaluates_on_the_clock_it_is_given()
    {
        var (engine, _) = Engine("alerts:\n  rules:\n    - { name: quiet, signal: silence }\n");
        using var stop = new CancellationTokenSource();
        var loop = engine.RunAsync(stop.Token);

        // Each advance releases the loop's delay; the alert appears once the clock is past 45 s.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (engine.Firing.Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the evaluation loop did not fire the silence alert within 20 s of real time");
            _time.Advance(TimeSpan.FromSeconds(5));
            await Task.Yield();
            SpinWait.SpinUntil(() => engine.Firing.Count > 0, 50);
        }

        Assert.True(Now - new DateTime(2026, 11, 26, 8, 0, 0, DateTimeKind.Utc) >= TimeSpan.FromSeconds(45));
        await stop.CancelAsync();
        await loop;
    }
}
