namespace Usine.Server.Endpoints;

public sealed record RollupRebuildRequest(string? Model, string? From, string? To);

internal static class RollupEndpoints
{
    public static IEndpointRouteBuilder MapRollups(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/rollups/rebuild", async Task<IResult> (RollupRebuildRequest? body, HttpContext http, IStoreAdmin storeAdmin, UsineDefinitions definitions, TimeProvider time, CancellationToken ct) =>
        {
            if (body?.Model is not { Length: > 0 } model)
            {
                return Errors.BadRequest("send {\"model\": \"screwing\", \"from\": \"2026-11-26T00:00:00Z\", \"to\": \"2026-11-27T00:00:00Z\"}: the model is missing");
            }

            if (!definitions.Models.ContainsKey(model))
            {
                return Errors.NotFound($"unknown model '{model}' (models: {string.Join(", ", definitions.Models.Keys.Order(StringComparer.Ordinal))})");
            }

            var now = time.GetUtcNow().UtcDateTime;
            if (body.From is null || body.To is null)
            {
                return Errors.BadRequest("from and to are both needed: the rebuild recomputes the buckets between them");
            }

            if (!TimeArgument.TryParse(body.From, now, now, "from", out var from, out var error) || !TimeArgument.TryParse(body.To, now, now, "to", out var to, out error))
            {
                return Errors.BadRequest(error!);
            }

            if (to <= from)
            {
                return Errors.BadRequest($"to ({to:u}) must be after from ({from:u})");
            }

            try
            {
                var audit = new AuditRecord(UsineAuth.Actor(http), "rollups.rebuild", model, "", "");
                var rebuilt = await storeAdmin.RebuildRollupsAsync(model, from, to, audit, ct);
                return TypedResults.Ok(new { model, rollups = rebuilt });
            }
            catch (ArgumentException ex)
            {
                return Errors.BadRequest(ex.Message);
            }
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Recompute a model's rollup buckets over a time range from its records");

        return app;
    }
}
