using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Configuration;
using Usine.Internal;

namespace Usine.Operations;

/// <summary>What the alert engine reads of a source at each evaluation.</summary>
/// <param name="LastSeen">When its last message was committed, if any since the start.</param>
/// <param name="Received">Messages committed since the start (cumulative).</param>
/// <param name="Rejected">Of those, dead letters (cumulative).</param>
/// <param name="Lag">How long the oldest message waiting in the engine has waited; zero when none.</param>
public readonly record struct SourceSignal(DateTime? LastSeen, long Received, long Rejected, TimeSpan Lag);

/// <summary>A reconciliation problem of one source, as the alert engine sees it.</summary>
public sealed record ReconcileIssue(string SourceId, string Summary);

/// <summary>The signals the alert engine evaluates; the platform implements it over its engine, connectors and store.</summary>
public interface IAlertSignals
{
    SourceSignal Source(string sourceId);

    /// <summary>Reconciles every source over [from, to) and returns what disagrees.</summary>
    Task<IReadOnlyList<ReconcileIssue>> FindMismatchesAsync(DateTime from, DateTime to, CancellationToken cancellationToken);

    /// <summary>The sources whose latest commit failed (see <see cref="Ingestion.CommitHealth"/>); none by default.</summary>
    IReadOnlyList<Ingestion.CommitFailure> FailingCommits() => [];

    /// <summary>Messages the processors of a cluster have not committed yet, as last seen; null outside a cluster or before the first look.</summary>
    long? ConsumerLag() => null;

    /// <summary>The parts (Sparkplug edge nodes and devices) a running source follows, as it sees them now; empty for a source that follows none.</summary>
    IReadOnlyList<Sources.SourcePart> Parts(string sourceId) => [];
}

/// <summary>An alert that is firing now.</summary>
public sealed record FiringAlert(string Rule, string Severity, string? Source, string Summary, DateTime Since);

/// <summary>A read-only view of the alerts firing now, for status pages.</summary>
public interface IAlertView
{
    IReadOnlyList<FiringAlert> Firing { get; }
}

/// <summary>An alert fired or resolved: what notifiers receive and the history lists.</summary>
/// <param name="Summary">For a firing event, what is wrong; for a resolved one, what is right again.</param>
/// <param name="Subject">What the alert is about within its rule: the source, or for <c>job-failed</c> the job kind and source (<c>import:line1</c>).</param>
public sealed record AlertEvent(
    long Id, string Status, string Rule, string Signal, string Severity, string? Source, string Summary, DateTime Since, DateTime At, string? Subject = null);

/// <summary>Receives alert events. Implementations must not block: the engine hands events over and goes on.</summary>
public interface IAlertNotifier
{
    string Name { get; }

    void Enqueue(AlertEvent alert);
}

/// <summary>Settings of the alert engine.</summary>
public sealed record AlertEngineOptions
{
    /// <summary>How often rules are evaluated. Default 5 s.</summary>
    public TimeSpan EvaluateEvery { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often reconciliation runs for the reconcile-mismatch signal. Default 5 minutes.</summary>
    public TimeSpan ReconcileEvery { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Alert events kept in memory for the API. Default 1000.</summary>
    public int HistoryLimit { get; init; } = 1000;
}

/// <summary>
/// Evaluates the alert rules over the platform's signals on a timer. An alert is identified by its rule and
/// subject (a source, a job); it fires once when its condition has held for the rule's <c>for</c>, stays
/// firing without repeating itself, and resolves once when the condition ends. Both events go to the log and
/// to the rule's notifiers, which deliver on their own so that a slow webhook never holds ingestion.
/// </summary>
public sealed class AlertEngine : IAlertView
{
    private readonly UsineDefinitions _definitions;
    private readonly JobRegistry _jobs;
    private readonly IAlertSignals _signals;
    private readonly IReadOnlyList<IAlertNotifier> _notifiers;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly AlertEngineOptions _options;
    private readonly DateTime _startedAt;
    private readonly Dictionary<string, Instance> _instances = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Queue<(DateTime At, long Received, long Rejected)>> _samples = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<AlertEvent> _history = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private IReadOnlyList<FiringAlert> _firing = [];
    private IReadOnlyList<ReconcileIssue> _reconcileIssues = [];
    private DateTime _lastReconcile = DateTime.MinValue;
    private long _nextEventId;

    private sealed class Instance(AlertRule rule, string? source, string subject)
    {
        public AlertRule Rule { get; } = rule;
        public string? Source { get; } = source;
        public string Subject { get; } = subject;
        public DateTime PendingSince { get; set; }
        public DateTime? FiringSince { get; set; }
        public string Summary { get; set; } = "";
        public bool Seen { get; set; }

        /// <summary>Firing when the platform last stopped, and restored at start-up.</summary>
        public bool Carried { get; init; }

        /// <summary>For a silence: the last message before it (the start, for a source that never sent one).</summary>
        public DateTime? SilentFrom { get; set; }
    }

    public AlertEngine(UsineDefinitions definitions, JobRegistry jobs, IAlertSignals signals, IEnumerable<IAlertNotifier> notifiers,
        AlertEngineOptions? options = null, TimeProvider? time = null, ILogger<AlertEngine>? logger = null)
    {
        _definitions = definitions;
        _jobs = jobs;
        _signals = signals;
        _notifiers = [.. notifiers];
        _options = options ?? new AlertEngineOptions();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _startedAt = _time.GetUtcNow().UtcDateTime;
    }

    public IReadOnlyList<AlertRule> Rules => _definitions.EffectiveAlertRules;

    public IReadOnlyList<FiringAlert> Firing => Volatile.Read(ref _firing);

    /// <summary>
    /// Receives every event, whatever the rules' <c>notify</c> lists: the store that keeps the history
    /// across restarts. Set before the first evaluation.
    /// </summary>
    public IAlertNotifier? Recorder { get; set; }

    /// <summary>
    /// Puts events kept from before a restart back into the history (oldest first), and numbers new events after
    /// them. An alert whose last event is a firing one was firing when the platform stopped: it is firing again
    /// now, under its first event, and the evaluations judge it afresh (see <see cref="CanJudge"/>); the next
    /// event about it is its resolution. One whose rule no longer exists is resolved at once, to every notifier,
    /// so that a receiver that opened an incident for it can close it.
    /// </summary>
    public void RestoreHistory(IEnumerable<AlertEvent> events)
    {
        var last = new Dictionary<string, AlertEvent>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            _history.Enqueue(e);
            if (e.Id > _nextEventId)
            {
                _nextEventId = e.Id;
            }

            last[e.Rule + "|" + (e.Subject ?? e.Source ?? "-")] = e;
        }

        while (_history.Count > _options.HistoryLimit && _history.TryDequeue(out _))
        {
        }

        var now = _time.GetUtcNow().UtcDateTime;
        foreach (var (key, e) in last.Where(kv => kv.Value.Status == "firing"))
        {
            if (Rules.FirstOrDefault(r => r.Name == e.Rule) is not { } rule)
            {
                Record(new AlertEvent(Interlocked.Increment(ref _nextEventId), "resolved", e.Rule, e.Signal, e.Severity, e.Source,
                    $"rule {e.Rule} is no longer defined", e.Since, now, e.Subject), notify: _notifiers);
                continue;
            }

            _instances[key] = new Instance(rule, e.Source, e.Subject ?? e.Source ?? "-")
            {
                Carried = true,
                PendingSince = e.Since,
                FiringSince = e.Since,
                Summary = e.Summary,
                SilentFrom = rule.Signal == AlertSignal.Silence && e.Source is { } id ? _signals.Source(id).LastSeen : null,
            };
        }

        PublishFiring();
    }

    /// <summary>Fired and resolved events, newest first.</summary>
    public IReadOnlyList<AlertEvent> History => [.. _history.Reverse()];

    /// <summary>Evaluates on a timer until cancelled; an evaluation that fails is logged and the next one runs.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.EvaluateEvery, _time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await EvaluateAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.AlertEvaluationFailed(ex);
            }
        }
    }

    /// <summary>Evaluates every rule once, now.</summary>
    public async Task EvaluateAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var now = _time.GetUtcNow().UtcDateTime;
            await RefreshReconcileAsync(now, cancellationToken);
            SampleRates(now);
            foreach (var i in _instances.Values)
            {
                i.Seen = false;
            }

            foreach (var rule in Rules)
            {
                foreach (var (source, subject, summary, silentFrom) in Conditions(rule, now))
                {
                    var key = rule.Name + "|" + subject;
                    if (!_instances.TryGetValue(key, out var inst))
                    {
                        _instances[key] = inst = new Instance(rule, source, subject) { PendingSince = now };
                    }

                    inst.Seen = true;
                    inst.Summary = summary;
                    inst.SilentFrom = silentFrom;
                    if (inst.FiringSince is null && now - inst.PendingSince >= rule.For)
                    {
                        inst.FiringSince = now;
                        Publish(inst, "firing", now);
                    }
                }
            }

            foreach (var (key, inst) in _instances.Where(kv => !kv.Value.Seen).ToList())
            {
                if (!CanJudge(inst, now))
                {
                    continue;
                }

                if (inst.FiringSince is not null)
                {
                    inst.Summary = Resolution(inst, now);
                    Publish(inst, "resolved", now);
                }

                _instances.Remove(key);
            }

            PublishFiring();
        }
        finally
        {
            _gate.Release();
        }
    }

    private void PublishFiring() =>
        Volatile.Write(ref _firing, [.. _instances.Values.Where(i => i.FiringSince is not null)
            .OrderBy(i => i.FiringSince).Select(i => new FiringAlert(i.Rule.Name, Lower(i.Rule.Severity), i.Source, i.Summary, i.FiringSince!.Value))]);

    /// <summary>
    /// Whether an alert that no evaluation confirmed may be resolved now. Always, except for one carried over a
    /// restart whose signal the new process cannot see yet: a connector gets the rule's <c>for</c> (at least 30 s)
    /// to connect or fail, a dead-letter rate a full window of samples, a reconciliation mismatch the first
    /// reconciliation, a failed job a later job of its kind and source (jobs are not kept across a restart).
    /// </summary>
    private bool CanJudge(Instance inst, DateTime now) => !inst.Carried || inst.Rule.Signal switch
    {
        AlertSignal.ConnectorDown => now - _startedAt >= (inst.Rule.For > ConnectorGrace ? inst.Rule.For : ConnectorGrace),
        AlertSignal.DeadLetterRate => now - _startedAt >= (inst.Rule.Window ?? DefaultRateWindow),
        AlertSignal.ReconcileMismatch => _lastReconcile != DateTime.MinValue,
        AlertSignal.JobFailed => !inst.Subject.Contains(':', StringComparison.Ordinal) || LatestJob(inst.Subject) is not null,

        // A restarted host knows an edge node again only from its next birth: until then, it is still offline.
        AlertSignal.EdgeOffline => inst.Source is null || Part(inst.Source, inst.Subject) is not null,
        _ => true,
    };

    private static readonly TimeSpan ConnectorGrace = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DefaultRateWindow = TimeSpan.FromMinutes(5);

    /// <summary>The latest job of the kind and source a <c>job-failed</c> subject names (<c>import:line1</c>).</summary>
    private Job? LatestJob(string subject)
    {
        var colon = subject.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return null;
        }

        var kind = subject[..colon];
        var source = subject[(colon + 1)..];
        return _jobs.List().FirstOrDefault(j => Lower(j.Kind) == kind && (j.SourceId ?? "-") == source);
    }

    /// <summary>The summary of a resolved event: what is right again, never the firing summary repeated.</summary>
    private string Resolution(Instance inst, DateTime now)
    {
        var rule = inst.Rule;
        var id = inst.Source ?? inst.Subject;
        var watched = inst.Source is null || SourcesOf(rule).Contains(inst.Source, StringComparer.Ordinal);
        if (!watched)
        {
            return $"source {id} is no longer watched by rule {rule.Name}";
        }

        switch (rule.Signal)
        {
            case AlertSignal.Silence:
                var seen = _signals.Source(id).LastSeen;
                return seen is { } t && inst.SilentFrom is { } from && t > from
                    ? $"source {id} is sending again (silent {Format(t - from)} until {t:HH:mm:ss}Z)"
                    : seen is { } t2 ? $"source {id} is sending again (last message at {t2:HH:mm:ss}Z)"
                    : $"source {id} is no longer silent for longer than its limit";
            case AlertSignal.ConnectorDown:
                var state = _jobs.Get("stream:" + id)?.State;
                return $"connector of source {id} is {(state is { } st ? Lower(st) : "gone")} again (down for {Format(now - inst.PendingSince)})";
            case AlertSignal.DeadLetterRate:
                return $"dead letters of source {id} are back at or under {100 * (rule.Above ?? 0):0.#}% of its messages over {Format(rule.Window ?? DefaultRateWindow)}";
            case AlertSignal.Lag:
                return $"messages of source {id} are stored within {Format(TimeSpan.FromSeconds(rule.Above ?? 0))} of their arrival again";
            case AlertSignal.JobFailed:
                var latest = LatestJob(inst.Subject);
                return latest is null
                    ? $"the failed job of source {id} is not known since the restart (jobs are not kept across one)"
                    : $"a later {Lower(latest.Kind)} job{(latest.SourceId is null ? "" : " of source " + latest.SourceId)} did not fail: {latest.Id} is {Lower(latest.State)}";
            case AlertSignal.ReconcileMismatch:
                return $"source {id} reconciles again";
            case AlertSignal.StoreFailing:
                return $"the store commits again (it failed for {Format(now - inst.PendingSince)})";
            case AlertSignal.ConsumerLag:
                return $"the processors are back at or under {rule.Above ?? 0:N0} messages behind";
            case AlertSignal.EdgeOffline:
                var part = Part(id, inst.Subject);
                var name = PartName(inst.Subject);
                return part is { Online: true }
                    ? $"{part.Kind} {name} of source {id} is online again ({part.Reason} at {part.Since:HH:mm:ss}Z, offline for {Format(part.Since - (inst.SilentFrom ?? inst.PendingSince))})"
                    : part is null ? $"{name} of source {id} is no longer followed (the source stopped or restarted)"
                    : $"{part.Kind} {name} of source {id} is no longer offline on its own: its edge node is";
            default:
                return $"the condition of rule {rule.Name} no longer holds";
        }
    }

    private void Publish(Instance inst, string status, DateTime now)
    {
        var e = new AlertEvent(Interlocked.Increment(ref _nextEventId), status, inst.Rule.Name, AlertRule.SignalName(inst.Rule.Signal),
            Lower(inst.Rule.Severity), inst.Source, inst.Summary, inst.FiringSince ?? now, now, inst.Subject);
        Record(e, notify: _notifiers.Where(n => inst.Rule.Notify.Count == 0 || inst.Rule.Notify.Contains(n.Name, StringComparer.Ordinal)));
    }

    private void Record(AlertEvent e, IEnumerable<IAlertNotifier> notify)
    {
        _history.Enqueue(e);
        while (_history.Count > _options.HistoryLimit && _history.TryDequeue(out _))
        {
        }

        if (e.Status == "firing")
        {
            _logger.AlertFired(e.Rule, e.Severity, e.Source ?? "-", e.Summary);
        }
        else
        {
            _logger.AlertResolved(e.Rule, e.Source ?? "-", e.Summary);
        }

        Recorder?.Enqueue(e);
        foreach (var n in notify)
        {
            n.Enqueue(e);
        }
    }

    /// <summary>The subject of an edge-offline alert: the source and the part's name, <c>SOURCE:GROUP/EDGE[/DEVICE]</c>.</summary>
    private static string PartSubject(string sourceId, string part) => sourceId + ":" + part;

    private static string PartName(string subject) => subject[(subject.IndexOf(':', StringComparison.Ordinal) + 1)..];

    private Sources.SourcePart? Part(string sourceId, string subject)
    {
        var name = PartName(subject);
        return _signals.Parts(sourceId).FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal));
    }

    private IEnumerable<string> SourcesOf(AlertRule rule) =>
        (rule.Sources.Count > 0 ? rule.Sources : (IEnumerable<string>)_definitions.Sources.Keys.Order(StringComparer.Ordinal)).Where(_definitions.Sources.ContainsKey);

    private IEnumerable<(string? Source, string Subject, string Summary, DateTime? SilentFrom)> Conditions(AlertRule rule, DateTime now)
    {
        switch (rule.Signal)
        {
            case AlertSignal.Silence:
                foreach (var id in SourcesOf(rule))
                {
                    var source = _definitions.Sources[id];
                    var limit = rule.After ?? (source.ExpectEvery is { } every ? every * rule.AfterCadences : null);
                    if (limit is null)
                    {
                        continue;
                    }

                    var seen = _signals.Source(id).LastSeen;
                    DateTime from;
                    bool holds;
                    if (_instances.GetValueOrDefault(rule.Name + "|" + id) is { FiringSince: not null } firing)
                    {
                        // Firing, maybe since before a restart: until a message newer than the silence arrives.
                        from = firing.SilentFrom ?? (firing.Carried ? firing.FiringSince.Value - limit.Value : _startedAt);
                        holds = seen is null || seen <= from;
                    }
                    else
                    {
                        // A source silent since the start counts from the start: a restart must not hide a dead source.
                        // Nor may it raise alerts for all of them: the platform must have been up for the limit
                        // (time to connect and hear from the source) before it calls a source silent.
                        from = seen ?? _startedAt;
                        holds = now - from > limit && now - _startedAt > limit;
                    }

                    if (holds)
                    {
                        var expected = source.ExpectEvery is { } e ? $" (expected every {Format(e)})" : "";
                        yield return (id, id, $"source {id} has sent nothing for {Format(now - from)}{expected}", from);
                    }
                }

                break;
            case AlertSignal.ConnectorDown:
                foreach (var id in SourcesOf(rule))
                {
                    if (_jobs.Get("stream:" + id) is { State: JobState.Degraded or JobState.Failed } job)
                    {
                        yield return (id, id, $"connector of source {id} is {Lower(job.State)} since {job.StateSince:u}: {job.LastError ?? "no error recorded"}", null);
                    }
                }

                break;
            case AlertSignal.DeadLetterRate:
                foreach (var id in SourcesOf(rule))
                {
                    if (!_samples.TryGetValue(id, out var q) || q.Count < 2)
                    {
                        continue;
                    }

                    var window = rule.Window ?? TimeSpan.FromMinutes(5);
                    var start = q.LastOrDefault(s => s.At <= now - window);
                    if (start.At == default)
                    {
                        start = q.Peek();
                    }

                    var last = q.Last();
                    var received = last.Received - start.Received;
                    var rejected = last.Rejected - start.Rejected;
                    if (received >= rule.MinMessages && received > 0 && (double)rejected / received > rule.Above)
                    {
                        yield return (id, id, $"{rejected} of {received} messages of source {id} became dead letters in the last {Format(window)} ({100.0 * rejected / received:0.#}%, threshold {100 * rule.Above:0.#}%)", null);
                    }
                }

                break;
            case AlertSignal.Lag:
                foreach (var id in SourcesOf(rule))
                {
                    var lag = _signals.Source(id).Lag;
                    if (lag.TotalSeconds > rule.Above)
                    {
                        yield return (id, id, $"messages of source {id} wait {Format(lag)} before being stored (threshold {Format(TimeSpan.FromSeconds(rule.Above ?? 0))})", null);
                    }
                }

                break;
            case AlertSignal.JobFailed:
                var watched = rule.Sources.Count > 0 ? rule.Sources.ToHashSet(StringComparer.Ordinal) : null;

                // The latest run of each kind and source decides: a failed import stays firing until one succeeds.
                foreach (var group in _jobs.List().Where(j => watched is null || (j.SourceId is { } s && watched.Contains(s)))
                    .GroupBy(j => (j.Kind, j.SourceId)))
                {
                    var latest = group.First();
                    if (latest.State == JobState.Failed)
                    {
                        var subject = $"{Lower(latest.Kind)}:{latest.SourceId ?? "-"}";
                        yield return (latest.SourceId, subject, $"job {latest.Id} ({Lower(latest.Kind)}{(latest.SourceId is null ? "" : " of source " + latest.SourceId)}) failed: {latest.LastError ?? "no error recorded"}", null);
                    }
                }

                break;
            case AlertSignal.StoreFailing:
                // One alert for the platform: the reasons, not the sources, which may be of plants a reader may not see.
                var failing = _signals.FailingCommits();
                if (failing.Count > 0)
                {
                    var since = failing.Min(f => f.Since);
                    var reasons = string.Join("; ", failing.Select(f => f.Reason).Distinct(StringComparer.Ordinal).Take(3));
                    yield return (null, "store", $"the store cannot commit since {since:u} ({failing.Count} sources waiting): {reasons}", null);
                }

                break;
            case AlertSignal.ConsumerLag:
                // One alert for the cluster: the processors share one consumer.
                if (_signals.ConsumerLag() is { } behind && behind > (rule.Above ?? 0))
                {
                    yield return (null, "cluster", $"the processors are {behind:N0} messages behind in JetStream (threshold {rule.Above ?? 0:N0}): add processors, or look at why they are slow", null);
                }

                break;
            case AlertSignal.EdgeOffline:
                foreach (var id in SourcesOf(rule))
                {
                    var parts = _signals.Parts(id);
                    var offline = parts.Where(p => !p.Online).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
                    foreach (var p in parts.Where(p => !p.Online))
                    {
                        // A device of an offline edge node is offline with it: the node's alert says it all.
                        if (p.Name.LastIndexOf('/') is var slash and > 0 && offline.Contains(p.Name[..slash]))
                        {
                            continue;
                        }

                        yield return (id, PartSubject(id, p.Name), $"{p.Kind} {p.Name} of source {id} is offline since {p.Since:HH:mm:ss}Z ({p.Reason})", p.Since);
                    }
                }

                break;
            case AlertSignal.ReconcileMismatch:
                var sources = rule.Sources.Count > 0 ? rule.Sources.ToHashSet(StringComparer.Ordinal) : null;
                foreach (var group in _reconcileIssues.Where(i => sources is null || sources.Contains(i.SourceId)).GroupBy(i => i.SourceId))
                {
                    yield return (group.Key, group.Key, $"source {group.Key} does not reconcile: {string.Join("; ", group.Select(i => i.Summary).Take(3))}", null);
                }

                break;
        }
    }

    private async Task RefreshReconcileAsync(DateTime now, CancellationToken ct)
    {
        var rules = Rules.Where(r => r.Signal == AlertSignal.ReconcileMismatch).ToList();
        if (rules.Count == 0 || now - _lastReconcile < _options.ReconcileEvery)
        {
            return;
        }

        _lastReconcile = now;
        var window = rules.Max(r => r.Window ?? TimeSpan.FromHours(24));
        _reconcileIssues = await _signals.FindMismatchesAsync(now - window, now, ct);
    }

    private void SampleRates(DateTime now)
    {
        var rules = Rules.Where(r => r.Signal == AlertSignal.DeadLetterRate).ToList();
        if (rules.Count == 0)
        {
            return;
        }

        var keep = rules.Max(r => r.Window ?? TimeSpan.FromMinutes(5)) + _options.EvaluateEvery;
        foreach (var id in _definitions.Sources.Keys)
        {
            var s = _signals.Source(id);
            if (!_samples.TryGetValue(id, out var q))
            {
                _samples[id] = q = new Queue<(DateTime, long, long)>();
            }

            q.Enqueue((now, s.Received, s.Rejected));

            // Keep one sample older than the window, so the rate covers all of it.
            while (q.Count > 2 && q.ElementAt(1).At <= now - keep)
            {
                q.Dequeue();
            }
        }
    }

    private static string Lower<T>(T e) where T : struct, Enum => e.ToString().ToLowerInvariant();

    internal static string Format(TimeSpan t) =>
        t.TotalDays >= 1 ? $"{(int)t.TotalDays}d{t.Hours:00}h"
        : t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s"
        : t.TotalSeconds >= 1 ? $"{t.TotalSeconds:0.#}s"
        : $"{t.TotalMilliseconds:0}ms";
}
