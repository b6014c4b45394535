namespace Usine.Server.Internal;

/// <summary>The signals alert rules evaluate, read from the running engine and the store.</summary>
internal sealed class PlatformSignals(Usine.Ingestion.IngestEngine engine, Usine.Storage.IOperationsStore store, Usine.Configuration.UsineDefinitions definitions, ClusterMonitor? cluster = null, SourceHost? sources = null) : IAlertSignals
{
    public IReadOnlyList<Usine.Sources.SourcePart> Parts(string sourceId) => sources?.PartsOf(sourceId)?.Parts ?? [];

    public long? ConsumerLag() => cluster?.Last is { } last ? last.Pending + last.Unacknowledged : null;

    public SourceSignal Source(string sourceId)
    {
        var stats = engine.Stats.GetValueOrDefault(sourceId);
        return new SourceSignal(stats?.LastSeen, stats?.Received ?? 0, stats?.DeadLetters ?? 0, engine.OldestPendingAge(sourceId));
    }

    public IReadOnlyList<Usine.Ingestion.CommitFailure> FailingCommits() => engine.Commits.Failing;

    public Task<IReadOnlyList<ReconcileIssue>> FindMismatchesAsync(DateTime from, DateTime to, CancellationToken cancellationToken)
    {
        // One pass over every source: a query per table, not a few per source.
        cancellationToken.ThrowIfCancellationRequested();
        var reports = store.ReconcileAll([.. definitions.Sources.Values], from, to);
        if (sources is not null)
        {
            reports = reports.ToDictionary(kv => kv.Key, kv => LiveParts.WithSourceGaps(kv.Value, sources.PartsOf(kv.Key)), StringComparer.Ordinal);
        }

        var issues = reports.Values.OrderBy(r => r.Source, StringComparer.Ordinal)
            .SelectMany(r => r.Mismatches.Select(m => new ReconcileIssue(r.Source, m))).ToList();
        return Task.FromResult<IReadOnlyList<ReconcileIssue>>(issues);
    }
}
