using Usine.Operations;

namespace Usine.Server.Internal;

/// <summary>The signals alert rules evaluate, read from the running platform.</summary>
internal sealed class PlatformSignals(UsinePlatform platform) : IAlertSignals
{
    public SourceSignal Source(string sourceId)
    {
        var stats = platform.Engine.Stats.GetValueOrDefault(sourceId);
        return new SourceSignal(stats?.LastSeen, stats?.Received ?? 0, stats?.DeadLetters ?? 0, platform.Engine.OldestPendingAge(sourceId));
    }

    public Task<IReadOnlyList<ReconcileIssue>> FindMismatchesAsync(DateTime from, DateTime to, CancellationToken cancellationToken)
    {
        var issues = new List<ReconcileIssue>();
        foreach (var source in platform.Definitions.Sources.Values)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var report = platform.Store.Reconcile(source, from, to, 0);
            issues.AddRange(report.Mismatches.Select(m => new ReconcileIssue(source.Id, m)));
        }

        return Task.FromResult<IReadOnlyList<ReconcileIssue>>(issues);
    }
}
