namespace Usine.Cli.Internal;

internal sealed partial class UsineClient
{
    public Task<AlertsInfo> GetAlertsAsync(CancellationToken cancellationToken) =>
        GetAsync<AlertsInfo>("api/alerts", cancellationToken);

    public Task<IReadOnlyList<AlertEventInfo>> GetAlertHistoryAsync(int? limit, string? rule, string? source, CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<AlertEventInfo>>(
            "api/alerts/history" + Query(("limit", limit?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("rule", rule), ("source", source)),
            cancellationToken);

    public Task<RollupRebuildResult> RebuildRollupsAsync(string model, string from, string to, CancellationToken cancellationToken) =>
        SendAsync<RollupRebuildResult>(HttpMethod.Post, "api/rollups/rebuild",
            System.Net.Http.Json.JsonContent.Create(new { model, from, to }), cancellationToken);

    public Task<ReconcileInfo> ReconcileAsync(string source, string? from, string? to, CancellationToken cancellationToken) =>
        GetAsync<ReconcileInfo>("api/reconcile" + Query(("source", source), ("from", from), ("to", to)), cancellationToken);
}

internal sealed record FiringAlertInfo(string Rule, string? Severity, string? Source, string? Summary, DateTimeOffset? Since);

internal sealed record AlertRuleInfo(string Name, string? Signal, string? Severity, IReadOnlyList<string>? Sources, double? ForSeconds, string? Origin);

internal sealed record NotifierInfo(string Name, string? Kind, long Delivered, long Failed, long Retries, long Dropped, long Queued);

internal sealed record AlertsInfo(IReadOnlyList<FiringAlertInfo>? Firing, IReadOnlyList<AlertRuleInfo>? Rules, IReadOnlyList<NotifierInfo>? Notifiers);

internal sealed record AlertEventInfo(long Id, string Status, string Rule, string? Severity, string? Source, string? Summary, DateTimeOffset? Since, DateTimeOffset? At);

internal sealed record ReconcileTotals(long Landed, long Stored, long Duplicates, long Rejected, long Pending);

internal sealed record ReconcileHourInfo(
    DateTimeOffset Hour, long Landed, long Stored, long Replayed, long Duplicates, long Rejected, long RecordsFound, long DeadLettersFound, IReadOnlyList<string>? Problems);

internal sealed record ReconcileFileInfo(string Stream, string? Name, long? Declared, long? Lines, long Landed, IReadOnlyList<string>? Problems);

internal sealed record ReconcileGapInfo(string Scope, long After, long Before, long Missing, DateTimeOffset AfterTime, DateTimeOffset BeforeTime);

internal sealed record ReconcileInfo(
    string Source, DateTimeOffset From, DateTimeOffset To, bool Consistent, IReadOnlyList<string>? Mismatches, ReconcileTotals? Totals,
    IReadOnlyList<ReconcileHourInfo>? Hours, IReadOnlyList<ReconcileFileInfo>? Files, IReadOnlyList<ReconcileGapInfo>? Gaps);

internal sealed record RollupRebuildInfo(string Rollup, string? Table, DateTimeOffset From, DateTimeOffset To, long RowsBefore, long RowsAfter);

internal sealed record RollupRebuildResult(string Model, IReadOnlyList<RollupRebuildInfo> Rollups);
