using Microsoft.Extensions.Logging;
using Usine.Configuration;
using Usine.Connectors.Files;
using Usine.Connectors.Http;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Pipeline;
using Usine.Server.Internal;
using Usine.Server.Operations;
using Usine.Sources;
using Usine.Storage;
using Usine.Storage.DuckDb;

namespace Usine.Server;

/// <summary>
/// One running Usine: the store, the engine, and a connector per live source. The HTTP API, the demo and
/// the benchmark all drive this same object.
/// </summary>
public sealed class UsinePlatform : IAsyncDisposable
{
    private readonly ILoggerFactory _loggers;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _running = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ILiveSource> _live = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (CancellationTokenSource Stop, Task Run)> _connectors = new(StringComparer.Ordinal);
    private readonly List<WebhookNotifier> _webhooks = [];
    private readonly AlertRecorder _alertRecorder;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _failedSources = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _degradedByCommits = new(StringComparer.Ordinal);

    private UsinePlatform(UsineServerOptions options, UsineDefinitions definitions, IUsineStore store, IngestEngine engine, ILoggerFactory loggers, TimeProvider time)
    {
        Options = options;
        Definitions = definitions;
        Store = store;
        Engine = engine;
        Time = time;
        _loggers = loggers;
        Jobs = new JobRegistry(time, loggers.CreateLogger<JobRegistry>());
        foreach (var n in definitions.Notifiers.Where(n => n.Kind == NotifierKind.Webhook))
        {
            _webhooks.Add(new WebhookNotifier(n, time: time, logger: loggers.CreateLogger<WebhookNotifier>()));
        }

        Alerting = new AlertEngine(definitions, Jobs, new PlatformSignals(this), _webhooks, options.Alerting, time, loggers.CreateLogger<AlertEngine>());
        _alertRecorder = new AlertRecorder(store.Operations, loggers.CreateLogger<AlertRecorder>());
        Alerting.Recorder = _alertRecorder;
        Alerts = options.EvaluateAlerts && definitions.EffectiveAlertRules.Count > 0 ? Alerting : null;
        Kinds = DefinitionCatalog.SourceKinds(options);
        Streams = store.RawZone;
        Importer = new FileImporter(engine, Streams, time, Jobs);
        Push = new HttpPush(engine, Streams, time);
        Replays = new Replays(definitions, engine, store, Jobs, options.MaxReplayAttempts, loggers.CreateLogger<Replays>(), time);
        Archive = new ArchiveService(options, store.Archive, Jobs, time, loggers.CreateLogger<ArchiveService>());
        Catalog = new DefinitionCatalog(this);
        StartedAt = time.GetUtcNow().UtcDateTime;
        Metrics = new UsineMetrics(this);
        Tracker = new IngestTracker(Metrics);
        engine.Observer = Tracker;
        engine.Commits.Failed += OnCommitFailed;
        engine.Commits.Cleared += OnCommitsCleared;
    }

    public UsineServerOptions Options { get; }
    public UsineDefinitions Definitions { get; }
    /// <summary>The store, by its facets.</summary>
    public IUsineStore Store { get; }
    public IngestEngine Engine { get; }
    public FileImporter Importer { get; }

    /// <summary>HTTP pushes, each a bounded run answered once committed.</summary>
    public HttpPush Push { get; }

    /// <summary>The registered kinds of source: how each loads its settings and starts.</summary>
    public SourceKindRegistry Kinds { get; }

    /// <summary>What the store keeps about the streams of files and CSV pushes.</summary>
    public ISourceStreams Streams { get; }

    /// <summary>Replays of dead letters and of raw ranges, audited.</summary>
    public Replays Replays { get; }
    public TimeProvider Time { get; }

    /// <summary>Models and sources created and changed through the API.</summary>
    public DefinitionCatalog Catalog { get; }

    /// <summary>The alert rules, what fires now and what fired before.</summary>
    public AlertEngine Alerting { get; }

    /// <summary>The webhook notifiers with their delivery counters.</summary>
    public IReadOnlyList<WebhookNotifier> Webhooks => _webhooks;

    /// <summary>Every stream and bounded run (import, replay, backfill, archive, retention) with its state and history.</summary>
    public JobRegistry Jobs { get; }
    public DateTime StartedAt { get; }

    /// <summary>The archive of the raw zone and retention: run on demand, and daily at <see cref="UsineServerOptions.ArchiveTimeOfDay"/>.</summary>
    public ArchiveService Archive { get; }

    /// <summary>The alerts firing now, for status pages; null while no alerting is attached.</summary>
    public IAlertView? Alerts { get; set; }

    internal UsineMetrics Metrics { get; }

    internal IngestTracker Tracker { get; }

    /// <summary>Loads the definitions, opens the store and starts the engine and the connectors.</summary>
    public static async Task<UsinePlatform> StartAsync(UsineServerOptions options, ILoggerFactory loggers, IEnumerable<IPipelineStep>? steps = null, TimeProvider? time = null, CancellationToken ct = default)
    {
        time ??= TimeProvider.System;

        // The engine's two stages and DuckDB commits hold pool threads for tens of milliseconds at a time;
        // on a 2-core machine the pool would otherwise grow too slowly and keep the API waiting behind them.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(io, 32));
        if (options.ConfigPath is null)
        {
            throw new ArgumentException("a configuration file is needed: --config usine.yaml (see docs/models.md and docs/sources.md)");
        }

        options.Validate();
        var (definitions, setAside) = DefinitionCatalog.LoadAtStart(options);
        // The one place that names the store's implementation.
        IUsineStore store = new DuckDbStore(new DuckDbStoreOptions
        {
            DataDirectory = options.DataDirectory,
            MemoryLimit = options.MemoryLimit,
            ArchiveDirectory = options.ArchiveDirectory,
            Time = time,
        });
        var engine = new IngestEngine(definitions, store.Commit, steps, loggers.CreateLogger<IngestEngine>(), time);
        var platform = new UsinePlatform(options, definitions, store, engine, loggers, time);
        await engine.StartAsync(ct);

        // Before the alert history, whose silences are judged against when each source was last seen.
        engine.SeedStats(store.Operations.SourceTotals());
        platform.Alerting.RestoreHistory(await store.Operations.RecentAlertEventsAsync(options.Alerting.HistoryLimit, ct));
        foreach (var source in definitions.Sources.Values.Where(s => platform.Kinds.Find(s.Kind) is { Start: null }))
        {
            platform.Jobs.Stream(source.Id);
        }

        platform.Catalog.SetAsideAtStart(setAside);
        foreach (var aside in setAside)
        {
            if (aside.SourceId is { } id)
            {
                platform.FailSource(id, aside.Reason);
            }
            else
            {
                loggers.CreateLogger<UsinePlatform>().DefinitionSetAside(aside.File, aside.Reason);
            }
        }

        if (options.StartConnectors)
        {
            platform.StartConnectors();
        }

        platform._running.Add(platform.WatchStreamsAsync(platform._stopping.Token));
        if (options.EvaluateAlerts)
        {
            platform._running.Add(platform.Alerting.RunAsync(platform._stopping.Token));
        }

        if (options.ArchiveTimeOfDay is { } at)
        {
            platform._running.Add(platform.Archive.RunDailyAsync(at, platform._stopping.Token));
        }

        return platform;
    }

    /// <summary>Starts every source; one that cannot start is failed with its reason, and the others run.</summary>
    private void StartConnectors()
    {
        foreach (var source in Definitions.Sources.Values)
        {
            try
            {
                StartConnector(source);
            }
            catch (Exception ex) when (ex is ArgumentException or UsineException or InvalidOperationException or FormatException)
            {
                FailSource(source.Id, $"source '{source.Id}' ({source.Origin}) cannot start: {ex.Message}");
            }
        }
    }

    /// <summary>Sources that could not start (a stored definition that no longer loads, settings a connector refuses), with why.</summary>
    public IReadOnlyDictionary<string, string> FailedSources => _failedSources;

    /// <summary>Marks a source failed at start: its stream job fails with the reason, which the API, the overview and the job-failed alert show.</summary>
    internal void FailSource(string sourceId, string reason)
    {
        _failedSources[sourceId] = reason;
        Jobs.Stream(sourceId, JobState.Failed).SetState(JobState.Failed, reason);
        _loggers.CreateLogger<UsinePlatform>().SourceFailedAtStart(sourceId, reason);
    }

    /// <summary>Forgets that a source failed at start: it was defined again, or removed.</summary>
    internal void ClearFailedSource(string sourceId)
    {
        if (_failedSources.TryRemove(sourceId, out _))
        {
            Jobs.Get("stream:" + sourceId)?.TrySetState(JobState.Failed, JobState.Idle, "defined again");
        }
    }

    /// <summary>
    /// A commit of a source failed: its stream job is degraded with the reason. Sources on the runner say it
    /// themselves (their state is retrying and their peer holds the messages), so only the others are handled here.
    /// </summary>
    private void OnCommitFailed(CommitFailure failure)
    {
        if (_live.TryGetValue(failure.SourceId, out var live) && live.ReportsCommitFailures || Jobs.Get("stream:" + failure.SourceId) is not { State: not (JobState.Stopped or JobState.Failed) } job)
        {
            return;
        }

        _degradedByCommits[failure.SourceId] = 0;
        job.SetState(JobState.Degraded, $"batches cannot be committed since {failure.Since:u} ({failure.Attempts} failed): {failure.Reason}");
    }

    private void OnCommitsCleared(string sourceId)
    {
        if (_degradedByCommits.TryRemove(sourceId, out _))
        {
            Jobs.Get("stream:" + sourceId)?.TrySetState(JobState.Degraded, JobState.Running, "batches are committed again");
        }
    }

    /// <summary>
    /// While commits fail and nobody has tried one for <see cref="UsineServerOptions.StoreProbeAfter"/>, writes a
    /// probe: once it commits, the store is known to work again and nothing is reported failing any more.
    /// </summary>
    public async Task ProbeStoreAsync(CancellationToken ct)
    {
        var commits = Engine.Commits;
        if (commits.Failing.Count == 0 || commits.LastAttemptAt is { } last && Time.GetUtcNow().UtcDateTime - last < Options.StoreProbeAfter)
        {
            return;
        }

        var logger = _loggers.CreateLogger<UsinePlatform>();
        try
        {
            await Store.Admin.ProbeWriteAsync(ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.StoreProbeFailed(ex);
            return;
        }

        logger.StoreRecovered(commits.Failing.Count);
        commits.Recovered();
    }

    /// <summary>Starts what brings a source's data in, as its kind's registration says; a kind whose data is pushed only gets its stream job.</summary>
    internal void StartConnector(SourceDefinition source)
    {
        var kind = Kinds.Of(source);
        if (kind.Start is null)
        {
            Jobs.Stream(source.Id);
            return;
        }

        if (!Options.StartConnectors)
        {
            return;
        }

        var live = kind.Start(source, new SourceStartContext(Engine, Jobs.Stream(source.Id), Jobs, Streams, _loggers, Time, Options.DataDirectory));
        var stop = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        _live[source.Id] = live;
        var run = live.RunAsync(stop.Token);
        _connectors[source.Id] = (stop, run);
        lock (_running)
        {
            _running.Add(run);
        }
    }

    /// <summary>Stops a source's connector, if it has one, and waits for it to end; its stream job ends stopped.</summary>
    internal async Task StopConnectorAsync(string sourceId)
    {
        if (_connectors.TryRemove(sourceId, out var c))
        {
            await c.Stop.CancelAsync();
            try
            {
                await c.Run;
            }
            catch (OperationCanceledException)
            {
                // Connectors end by cancellation.
            }

            c.Stop.Dispose();
        }

        _live.TryRemove(sourceId, out _);
        Jobs.Get("stream:" + sourceId)?.SetState(JobState.Stopped, "source changed or removed");
    }

    /// <summary>
    /// Marks silent streams idle, every <see cref="UsineServerOptions.JobCheckInterval"/>, until the platform stops.
    /// </summary>
    private async Task WatchStreamsAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Options.JobCheckInterval, Time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                try
                {
                    CheckStreams();
                    await ProbeStoreAsync(ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A state a check could not set is set by the next one; the loop must outlive it.
                    _loggers.CreateLogger<UsinePlatform>().StreamCheckFailed(ex);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Marks idle the running streams that have been silent longer than their source allows (see <see cref="UsineServerOptions.IdleAfter"/>).</summary>
    public void CheckStreams() => Jobs.MarkSilentStreamsIdle(job =>
        job.SourceId is { } id && Definitions.Sources.TryGetValue(id, out var source) ? IdleAfter(source) : Options.IdleAfter);

    /// <summary>Silence after which a running stream of <paramref name="source"/> is idle: twice its cadence, else the default.</summary>
    public TimeSpan IdleAfter(SourceDefinition source) => source.ExpectEvery is { } every ? every * 2 : Options.IdleAfter;

    /// <summary>The state of a source's connector, for status pages: running, connecting, reconnecting, retrying, degraded, failed, ready, stopped.</summary>
    public (string State, string? LastError) SourceState(SourceDefinition source)
    {
        if (_failedSources.TryGetValue(source.Id, out var reason))
        {
            return ("failed", reason);
        }

        _live.TryGetValue(source.Id, out var live);
        if (live is { ReportsCommitFailures: true })
        {
            return live.Status;
        }

        // Drop folders and pushes have nobody holding messages for them: while their commits fail, they are degraded.
        if (Engine.Commits.Of(source.Id) is { } failure)
        {
            return ("degraded", $"batches cannot be committed since {failure.Since:u} ({failure.Attempts} failed): {failure.Reason}");
        }

        if (live is not null)
        {
            return live.Status;
        }

        return Kinds.Find(source.Kind) is { Start: null } ? ("ready", null) : ("stopped", null);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        try
        {
            Task[] running;
            lock (_running)
            {
                running = [.. _running];
            }

            await Task.WhenAll(running);
        }
        catch (OperationCanceledException)
        {
            // Connectors end by cancellation.
        }

        foreach (var source in Definitions.Sources.Values.Where(s => Kinds.Find(s.Kind) is { Start: null }))
        {
            Jobs.Stream(source.Id).SetState(JobState.Stopped, "shut down");
        }

        foreach (var w in _webhooks)
        {
            await w.DisposeAsync();
        }

        await _alertRecorder.DisposeAsync();
        await Engine.DisposeAsync();
        await Store.DisposeAsync();
        Metrics.Dispose();
        _stopping.Dispose();
    }
}
