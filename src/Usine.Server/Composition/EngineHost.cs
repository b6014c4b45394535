using Microsoft.Extensions.Hosting;

namespace Usine.Server;

/// <summary>
/// Starts the engine over the opened store before anything hands it messages, and stops it last: its batches in
/// flight are committed, then the alert history is written and the store closed.
/// </summary>
internal sealed class EngineHost(UsineOptions options, LoadedDefinitions loaded, IUsineStore store, IngestEngine engine, AlertEngine alerting,
    AlertRecorder recorder, DefinitionCatalog catalog, IngestTracker tracker) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // The engine's two stages and the store's commits hold pool threads for tens of milliseconds at a time;
        // on a 2-core machine the pool would otherwise grow too slowly and keep the API waiting behind them.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(io, 32));
        // The tracker needs the engine (metrics read its totals), so it is attached here rather than by the container.
        engine.Observer = tracker;
        await engine.StartAsync(cancellationToken);

        // Before the alert history, whose silences are judged against when each source was last seen.
        engine.SeedStats(store.Operations.SourceTotals());
        alerting.RestoreHistory(await store.Operations.RecentAlertEventsAsync(options.Alerting.HistoryLimit, cancellationToken));
        catalog.SetAsideAtStart(loaded.SetAside);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await recorder.DisposeAsync();
        await engine.DisposeAsync();

        // Closed here rather than when the container is disposed, so that a stopped platform leaves its data
        // directory free for the next one.
        await store.DisposeAsync();
    }
}

/// <summary>Evaluates the alert rules on their timer (see <see cref="AlertEngineOptions.EvaluateEvery"/>).</summary>
internal sealed class AlertLoop(AlertEngine alerting) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => alerting.RunAsync(stoppingToken);
}

/// <summary>Runs the archive and retention once a day at <see cref="UsineOptions.ArchiveTimeOfDay"/>.</summary>
internal sealed class DailyArchive(UsineOptions options, ArchiveService archive) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.ArchiveTimeOfDay is { } at ? archive.RunDailyAsync(at, stoppingToken) : Task.CompletedTask;
}
