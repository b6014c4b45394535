using System.Text.Json;

namespace Usine.Server.Endpoints;

/// <summary>Replay of raw ranges and the audit log.</summary>
internal static class OperationsEndpoints
{
    public static IEndpointRouteBuilder MapOperations(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/replay", async Task<IResult> (HttpContext http, UsineDefinitions definitions, Replays replays, CancellationToken ct) =>
        {
            var body = await DeadLetterEndpoints.Body<RangeReplayRequest>(http, ct);
            if (string.IsNullOrWhiteSpace(body?.Source))
            {
                return Errors.BadRequest("source is required: {\"source\": \"ID\", \"from\": \"2026-11-26T08:00:00Z\", \"to\": \"2026-11-26T09:00:00Z\"}");
            }

            if (!definitions.Sources.TryGetValue(body.Source, out var source))
            {
                return SourceEndpoints.UnknownSource(definitions, body.Source, http);
            }

            Explore.EnsureSource(http, definitions, body.Source);

            if (string.IsNullOrWhiteSpace(body.From) || string.IsNullOrWhiteSpace(body.To))
            {
                return Errors.BadRequest("from and to are required: the range of receive times to replay, from included, to excluded");
            }

            if (Times.Parse("from", body.From, out var from) is { } fromError)
            {
                return Errors.BadRequest(fromError);
            }

            if (Times.Parse("to", body.To, out var to) is { } toError)
            {
                return Errors.BadRequest(toError);
            }

            if (from >= to)
            {
                return Errors.BadRequest($"from ({Replays.Iso(from!.Value)}) must be before to ({Replays.Iso(to!.Value)})");
            }

            RangeReplayResult? result;
            try
            {
                result = await replays.ReplayRangeAsync(source, from!.Value, to!.Value, body.FromArchive, UsineAuth.Actor(http), ct);
            }
            catch (RangeNotHeldException ex)
            {
                return Errors.NotFound(ex.Message);
            }
            catch (UsineException ex) when (!ex.IsTransient)
            {
                // The data cannot be processed again as it is (a CSV stream without its header): the job failed with this reason.
                return Errors.Status(StatusCodes.Status409Conflict, ex.Message);
            }

            return result is null
                ? Errors.NotFound($"no {(body.FromArchive ? "archived" : "raw")} messages of source {source.Id} received between {Replays.Iso(from.Value)} and {Replays.Iso(to.Value)}")
                : TypedResults.Ok(result);
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Replay the raw messages of a source received in a time range through the current pipeline");

        app.MapGet("/api/audit", IResult (string? action, string? since, int? limit, IAuditLog audit) =>
        {
            if (Times.Parse("since", since, out var from) is { } error)
            {
                return Errors.BadRequest(error);
            }

            if (limit is < 1 or > 100_000)
            {
                return Errors.BadRequest("limit must be between 1 and 100000");
            }

            return TypedResults.Ok(audit.Entries(string.IsNullOrWhiteSpace(action) ? null : action, from, limit ?? 100).Select(e => new
            {
                e.Id,
                e.At,
                e.Actor,
                e.Action,
                e.Target,
                Detail = Detail(e.DetailJson),
                e.Result,
            }));
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("The audit log of replays, edits, discards and definition changes, newest first");

        return app;
    }

    private static JsonElement? Detail(string? json)
    {
        if (json is null)
        {
            return null;
        }

        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    internal sealed record RangeReplayRequest(string? Source, string? From, string? To, bool FromArchive);
}
