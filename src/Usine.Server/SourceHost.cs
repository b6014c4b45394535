using Microsoft.Extensions.Hosting;

namespace Usine.Server;

/// <summary>
/// The running sources: a connector per live source (MQTT, drop folders), the positions of HTTP pushes, and the
/// sources that could not start. Started by the host after the engine and stopped before it; while it runs it
/// watches streams for silence and probes a store whose commits fail.
/// </summary>
public sealed class SourceHost(UsineOptions options, SourceKindRegistry kinds, LoadedDefinitions loaded, IUsineStore store, IngestEngine engine, SourceSink sink, JobRegistry jobs,
    ILoggerFactory loggers, TimeProvider time) : IHostedService, IAsyncDisposable
{
    private readonly ILoggerFactory _loggers = loggers;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _running = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ILiveSource> _live = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (CancellationTokenSource Stop, Task Run)> _connectors = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _failedSources = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _degradedByCommits = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<DefinitionCatalog.SetAside> _setAside = loaded.SetAside;

    private UsineOptions Options => options;

    private UsineDefinitions Definitions => loaded.Definitions;

    private IUsineStore Store => store;

    private IngestEngine Engine => engine;

    private JobRegistry Jobs => jobs;

    /// <summary>The registered kinds of source: how each checks its settings and starts.</summary>
    public SourceKindRegistry Kinds => kinds;

    /// <summary>What the store keeps about the streams of files and CSV pushes.</summary>
    private ISourceStreams Streams => store.RawZone;

    private TimeProvider Time => time;

    /// <summary>
    /// Fails the sources whose stored definitions were set aside at start, starts the connectors (unless
    /// <see cref="UsineOptions.StartConnectors"/> is off) and the watch of streams.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Engine.Commits.Failed += OnCommitFailed;
        Engine.Commits.Cleared += OnCommitsCleared;
        foreach (var source in Definitions.Sources.Values.Where(s => Kinds.Find(s.Kind) is { Start: null }))
        {
            Jobs.Stream(source.Id);
        }

        foreach (var aside in _setAside)
        {
            if (aside.SourceId is { } id)
            {
                FailSource(id, aside.Reason);
            }
            else
            {
                _loggers.CreateLogger<SourceHost>().DefinitionSetAside(aside.File, aside.Reason);
            }
        }

        if (Options.StartConnectors)
        {
            StartConnectors();
        }

        lock (_running)
        {
            _running.Add(WatchStreamsAsync(_stopping.Token));
        }

        return Task.CompletedTask;
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

    /// <summary>The edge nodes and devices a running source follows (a Sparkplug host); null for a source that follows none or is not running.</summary>
    public ILiveSourceParts? PartsOf(string sourceId) => _live.TryGetValue(sourceId, out var live) ? live as ILiveSourceParts : null;

    /// <summary>Sources that could not start (a stored definition that no longer loads, settings a connector refuses), with why.</summary>
    public IReadOnlyDictionary<string, string> FailedSources => _failedSources;

    /// <summary>Marks a source failed at start: its stream job fails with the reason, which the API, the overview and the job-failed alert show.</summary>
    internal void FailSource(string sourceId, string reason)
    {
        _failedSources[sourceId] = reason;
        Jobs.Stream(sourceId, JobState.Failed).SetState(JobState.Failed, reason);
        _loggers.CreateLogger<SourceHost>().SourceFailedAtStart(sourceId, reason);
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
    /// While commits fail and nobody has tried one for <see cref="UsineOptions.StoreProbeAfter"/>, writes a
    /// probe: once it commits, the store is known to work again and nothing is reported failing any more.
    /// </summary>
    public async Task ProbeStoreAsync(CancellationToken ct)
    {
        var commits = Engine.Commits;
        if (commits.Failing.Count == 0 || commits.LastAttemptAt is { } last && Time.GetUtcNow().UtcDateTime - last < Options.StoreProbeAfter)
        {
            return;
        }

        var logger = _loggers.CreateLogger<SourceHost>();
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

        var live = kind.Start(source, new SourceStartContext(sink.Ingestor, Jobs.Stream(source.Id), Jobs, Streams, _loggers, Time, Options.DataDirectory));
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
    /// Marks silent streams idle, every <see cref="UsineOptions.JobCheckInterval"/>, until the platform stops.
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
                    _loggers.CreateLogger<SourceHost>().StreamCheckFailed(ex);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Marks idle the running streams that have been silent longer than their source allows (see <see cref="UsineOptions.IdleAfter"/>).</summary>
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

    /// <summary>Stops the connectors and the watch of streams, and waits for them; HTTP sources' streams end stopped.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
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

        Engine.Commits.Failed -= OnCommitFailed;
        Engine.Commits.Cleared -= OnCommitsCleared;
    }

    public ValueTask DisposeAsync()
    {
        _stopping.Dispose();
        return ValueTask.CompletedTask;
    }
}
