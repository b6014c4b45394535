using Usine.Ingestion;
using Usine.Operations;
using Usine.Sources;

namespace Usine.Storage;

/// <summary>The counters operations read: per-source totals, reconciliation by hour, and the alert history.</summary>
public interface IOperationsStore
{
    /// <summary>What every source delivered since its first message, and when it was last seen.</summary>
    IReadOnlyDictionary<string, SourceTotals> SourceTotals();

    /// <summary>Reconciles one source over [from, to); <paramref name="pending"/> is what the engine holds of it, not yet committed.</summary>
    ReconcileReport Reconcile(SourceDefinition source, DateTime from, DateTime to, long pending);

    /// <summary>Reconciles many sources over [from, to) from one snapshot.</summary>
    IReadOnlyDictionary<string, ReconcileReport> ReconcileAll(IReadOnlyCollection<SourceDefinition> sources, DateTime from, DateTime to);

    Task AppendAlertEventsAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken);

    /// <summary>The latest alert events, oldest first.</summary>
    Task<IReadOnlyList<AlertEvent>> RecentAlertEventsAsync(int limit, CancellationToken cancellationToken);
}
