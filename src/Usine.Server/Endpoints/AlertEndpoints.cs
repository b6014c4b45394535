using System.Globalization;

namespace Usine.Server.Endpoints;

internal static class AlertEndpoints
{
    public static IEndpointRouteBuilder MapAlerts(this IEndpointRouteBuilder app)
    {
        var alerts = app.MapGroup("/api/alerts");
        alerts.MapGet("/", (UsineDefinitions definitions, AlertEngine alerting, IEnumerable<WebhookNotifier> webhooks, HttpContext http) =>
        {
            var scope = Explore.Plants(http);
            bool Readable(string? source) => PlantScopes.MayReadSource(scope, definitions, source);
            return TypedResults.Ok(new
            {
                firing = alerting.Firing.Where(a => Readable(a.Source)),

                // A rule shows the sources the caller may read; one that only names other plants' sources is not shown.
                rules = alerting.Rules.Where(r => r.Sources.Count == 0 || r.Sources.Any(Readable))
                    .Select(r => Rule(r with { Sources = [.. r.Sources.Where(Readable)] })),
                notifiers = Notifiers(webhooks),
            });
        }).WithSummary("Alerts firing now, the rules that run and the notifiers' delivery counters");

        alerts.MapGet("/history", IResult (int? limit, string? rule, string? source, UsineDefinitions definitions, AlertEngine alerting, HttpContext http) =>
        {
            var n = limit ?? 100;
            if (n is < 1 or > 1000)
            {
                return Errors.BadRequest("limit must be between 1 and 1000");
            }

            if (source is not null)
            {
                Explore.EnsureSourceInScope(http, definitions, source);
            }

            var scope = Explore.Plants(http);
            return TypedResults.Ok(alerting.History
                .Where(e => rule is null || e.Rule == rule)
                .Where(e => source is null || e.Source == source)
                .Where(e => PlantScopes.MayReadSource(scope, definitions, e.Source))
                .Take(n));
        }).WithSummary("Alerts fired and resolved, newest first");

        alerts.MapPost("/evaluate", async (AlertEngine alerting, CancellationToken ct) =>
        {
            await alerting.EvaluateAsync(ct);
            return TypedResults.Ok(new { firing = alerting.Firing });
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Evaluate every alert rule now");

        app.MapGet("/api/reconcile", IResult (string? source, string? from, string? to, IOperationsStore operationsStore, UsineDefinitions definitions, TimeProvider time, IngestEngine engine, SourceHost sourceHost, HttpContext http) =>
        {
            if (string.IsNullOrWhiteSpace(source))
            {
                return Errors.BadRequest("source is missing: /api/reconcile?source=ID&from=2026-11-26T00:00:00Z&to=2026-11-27T00:00:00Z");
            }

            if (!definitions.Sources.TryGetValue(source, out var def))
            {
                return SourceEndpoints.UnknownSource(definitions, source, http);
            }

            Explore.EnsureSourceInScope(http, definitions, source);
            if (!PlantScopes.MayRead(Explore.Plants(http), def))
            {
                return Errors.Status(StatusCodes.Status403Forbidden, $"source '{source}' takes its plant from each message, so its counts span plants; reconciling it needs a key or token of every plant");
            }

            var now = time.GetUtcNow().UtcDateTime;
            if (!TimeArgument.TryParse(from, now, now.AddHours(-24), "from", out var f, out var error)
                || !TimeArgument.TryParse(to, now, now, "to", out var t, out error))
            {
                return Errors.BadRequest(error!);
            }

            if (t <= f)
            {
                return Errors.BadRequest($"to ({t:u}) must be after from ({f:u})");
            }

            var report = LiveParts.WithSourceGaps(operationsStore.Reconcile(def, f, t, engine.PendingMessages(source)), sourceHost.PartsOf(source));
            return TypedResults.Ok(new
            {
                source = report.Source,
                from = report.From,
                to = report.To,
                consistent = report.Consistent,
                mismatches = report.Mismatches,
                totals = new { landed = report.Landed, stored = report.Stored, duplicates = report.Duplicates, rejected = report.Rejected, pending = report.Pending },
                hours = report.Hours,
                files = report.Files,
                gaps = report.Gaps,
            });
        }).WithSummary("Hourly reconciliation of a source: counts against the tables, files and sequence gaps");

        return app;
    }

    private static object Rule(AlertRule r) => new
    {
        name = r.Name,
        signal = AlertRule.SignalName(r.Signal),
        severity = r.Severity.ToString().ToLowerInvariant(),
        sources = r.Sources,
        forSeconds = r.For.TotalSeconds,
        afterSeconds = r.After?.TotalSeconds,
        afterCadences = r.Signal == AlertSignal.Silence && r.After is null ? r.AfterCadences : (double?)null,
        above = r.Above,
        windowSeconds = r.Window?.TotalSeconds,
        notify = r.Notify,
        origin = r.Origin,
    };

    private static IEnumerable<object> Notifiers(IEnumerable<WebhookNotifier> webhooks) => webhooks.Select(w =>
    {
        var c = w.Counters;
        return new { name = w.Name, kind = "webhook", delivered = c.Delivered, failed = c.Failed, retries = c.Retries, dropped = c.Dropped, queued = w.Queued };
    });
}

/// <summary>Times in query strings: ISO 8601 (UTC unless an offset is given), <c>now</c>, or a time ago such as <c>2h</c> or <c>-2h</c>.</summary>
internal static class TimeArgument
{
    public static bool TryParse(string? text, DateTime now, DateTime fallback, string name, out DateTime value, out string? error)
    {
        error = null;
        value = fallback;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        text = text.Trim();
        if (text == "now")
        {
            value = now;
            return true;
        }

        // "-6h" and "6h" both mean six hours ago (a leading minus is awkward on command lines).
        var offset = text[0] == '-' ? text[1..] : text;
        if (offset.Length > 1 && char.IsAsciiDigit(offset[0]) && char.IsAsciiLetter(offset[^1])
            && Usine.Configuration.DefinitionLoader.ParseDuration(offset) is { } ago)
        {
            value = now - ago;
            return true;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var dto))
        {
            value = dto.UtcDateTime;
            return true;
        }

        error = $"{name} '{text}' is not a time: use ISO 8601 such as 2026-11-26T08:00:00Z, 'now', or a time ago such as 2h";
        return false;
    }
}
