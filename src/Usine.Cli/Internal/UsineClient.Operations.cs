namespace Usine.Cli.Internal;

internal sealed partial class UsineClient
{
    public Task<ApiAnswer<AlertsInfo>> GetAlertsAsync(CancellationToken cancellationToken) =>
        GetAnswerAsync<AlertsInfo>("api/alerts", cancellationToken);

    public Task<ApiAnswer<IReadOnlyList<AlertEventInfo>>> GetAlertHistoryAsync(int? limit, string? rule, string? source, CancellationToken cancellationToken) =>
        GetAnswerAsync<IReadOnlyList<AlertEventInfo>>(
            "api/alerts/history" + Query(("limit", limit?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("rule", rule), ("source", source)),
            cancellationToken);

    public Task<RollupRebuildResult> RebuildRollupsAsync(string model, string from, string to, CancellationToken cancellationToken) =>
        SendAsync<RollupRebuildResult>(HttpMethod.Post, "api/rollups/rebuild",
            System.Net.Http.Json.JsonContent.Create(new { model, from, to }), cancellationToken);

    /// <summary>A model's aggregates: <c>GET /api/models/{model}/aggregate</c> with the given parameters.</summary>
    public Task<AggregateInfo> AggregateAsync(string model, IEnumerable<(string Name, string? Value)> query, CancellationToken cancellationToken) =>
        GetAsync<AggregateInfo>(Path("api/models", model) + "/aggregate" + Query([.. query]), cancellationToken);

    /// <summary>Streams an export to <paramref name="destination"/> as it arrives, showing each chunk to <paramref name="rows"/>; returns the bytes written.</summary>
    public async Task<long> ExportAsync(
        string model, IEnumerable<(string Name, string? Value)> query, Stream destination, ExportRows rows, CancellationToken cancellationToken)
    {
        var builder = new System.Text.StringBuilder(Path("api/models", model, "export"));
        foreach (var (name, value) in query)
        {
            if (value is not null)
            {
                builder.Append(builder.ToString().Contains('?', StringComparison.Ordinal) ? '&' : '?').Append(name).Append('=').Append(Uri.EscapeDataString(value));
            }
        }

        var path = builder.ToString();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorFromAsync(HttpMethod.Get, path, response, cancellationToken);
            }

            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            var buffer = new byte[81920];
            long bytes = 0;
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                rows.Add(buffer.AsSpan(0, read));
                bytes += read;
            }

            return bytes;
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
        {
            throw CliException.Failure($"cannot reach the Usine server at {Display(Server)} (is `usine serve` running?)");
        }
    }

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

internal sealed record AggregateInfo(string Source, IReadOnlyList<Dictionary<string, System.Text.Json.JsonElement>> Buckets);
