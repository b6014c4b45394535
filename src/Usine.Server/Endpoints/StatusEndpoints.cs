using Microsoft.Extensions.DependencyInjection;

namespace Usine.Server.Endpoints;

public sealed record SqlRequest(string? Sql, int? Limit);

internal static class StatusEndpoints
{
    public static IEndpointRouteBuilder MapStatus(this IEndpointRouteBuilder app)
    {
        // Degraded is still 200: the process lives and serves reads, and restarting it would not free a disk.
        // Monitors read "status". The reasons name no source: anyone may ask.
        app.MapGet("/health", (IngestEngine engine) =>
        {
            var failing = engine.Commits.Failing;
            return failing.Count == 0
                ? TypedResults.Ok(new { status = "ok", reasons = Array.Empty<string>() })
                : TypedResults.Ok(new { status = "degraded", reasons = failing.GroupBy(f => f.Reason).Select(g => $"commits fail since {g.Min(f => f.Since):u} ({g.Count()} sources): {g.Key}").ToArray() });
        }).AllowAnonymous().WithSummary("Health: ok, or degraded while the store cannot commit, with why");

        var api = app.MapGroup("/api");
        api.MapGet("/status", (IAvatarReads avatars, IDeadLetterStore deadLetters, IRecordReads records, UsineDefinitions definitions, TimeProvider time, UsineOptions options, IngestEngine engine, JobRegistry jobRegistry, DefinitionCatalog catalog, AlertStatus alertStatus, SourceHost sourceHost, UsineStarted started, IngestTracker tracker, ClusterInfo cluster, IServiceProvider services, HttpContext http) =>
        {
            // A caller kept to some plants sees their counts, their sources, and the jobs and alerts of those.
            var scope = Explore.Plants(http);
            var now = time.GetUtcNow().UtcDateTime;
            var pending = engine.OldestPending();
            var jobs = jobRegistry.List().Where(j => PlantScopes.MayReadSource(scope, definitions, j.SourceId)).ToList();
            var (open, total) = deadLetters.Count(scope is null ? new DeadLetterFilter() : PlantScopes.Scoped(scope, definitions, new DeadLetterFilter()));
            return TypedResults.Ok(new
            {
                startedAt = started.At,
                uptimeSeconds = Math.Round((now - started.At).TotalSeconds, 1),
                // Where the data lives is the server's business, not that of a caller kept to some plants.
                dataDirectory = scope is null ? Path.GetFullPath(options.DataDirectory) : null,
                store = new
                {
                    status = engine.Commits.Failing.Count == 0 ? "ok" : "degraded",
                    failing = engine.Commits.Failing.Where(f => PlantScopes.MayReadSource(scope, definitions, f.SourceId))
                        .Select(f => new { source = f.SourceId, reason = f.Reason, since = f.Since, lastAt = f.LastAt, attempts = f.Attempts }),
                },
                plants = avatars.Plants().Where(plant => scope is null || scope.Contains(plant)),
                avatars = avatars.AvatarTotal(scope),
                records = records.RecordCounts(scope),
                deadLetters = new { open, total },
                sources = definitions.Sources.Values.Where(s => PlantScopes.MayRead(scope, s)).OrderBy(s => s.Id, StringComparer.Ordinal).Select(s => SourceEndpoints.Summary(time, engine, jobRegistry, catalog, sourceHost, tracker, s, pending)),
                jobs = Enum.GetValues<JobState>().ToDictionary(s => s.ToString().ToLowerInvariant(), s => jobs.Count(j => j.State == s && (j.Kind == JobKind.Stream || j.EndedAt is null || j.EndedAt > now.AddHours(-1)))),
                // This process's roles, and the transport between roles when there is one.
                cluster = cluster.Nats is null ? (object)new { roles = UsineCluster.Describe(cluster.Roles), transport = "embedded" } : services.GetRequiredService<ClusterMonitor>().Describe(),
                alertsAvailable = alertStatus.View is not null,
                alerts = (alertStatus.View?.Firing ?? []).Where(a => PlantScopes.MayReadSource(scope, definitions, a.Source))
                    .Select(a => new { rule = a.Rule, severity = a.Severity, source = a.Source, summary = a.Summary, since = a.Since }),
            });
        }).WithSummary("The platform at a glance: plants, records, sources, jobs, alerts (within the caller's plants)");

        api.MapPost("/sql", async Task<IResult> (SqlRequest? body, IUsineStore store, UsineHttpOptions httpOptions, UsineOptions options, HttpContext http, CancellationToken ct) =>
        {
            if (body?.Sql is not { } sql || string.IsNullOrWhiteSpace(sql))
            {
                return Errors.BadRequest("send {\"sql\": \"SELECT ...\"}: the query is missing");
            }

            if (store.SqlConsole is null)
            {
                return Errors.Status(StatusCodes.Status501NotImplemented, "this server's store offers no SQL console (PostgreSQL, in a cluster): query the records through /api/records and /api/aggregate, or PostgreSQL with a read-only user");
            }

            var limit = body.Limit ?? 1000;
            if (limit is < 1 or > 100_000)
            {
                return Errors.BadRequest("limit must be between 1 and 100000");
            }

            try
            {
                var r = await store.SqlConsole!.QueryAsync(sql, limit, httpOptions.SqlTimeout, ct, Explore.Plants(http));
                return TypedResults.Ok(new
                {
                    columns = r.Columns.Select(c => new { name = c.Name, type = c.Type }),
                    rows = r.Rows,
                    truncated = r.Truncated,
                    elapsedMs = Math.Round(r.ElapsedMs, 2),
                });
            }
            catch (QueryRefusedException ex)
            {
                return ex.OutOfScope ? Errors.Status(StatusCodes.Status403Forbidden, ex.Message) : Errors.BadRequest(ex.Message);
            }
            catch (TimeoutException ex)
            {
                return Errors.Status(StatusCodes.Status408RequestTimeout, ex.Message);
            }
        }).WithSummary("Read-only SQL with a row limit and a time limit");

        return app;
    }
}
