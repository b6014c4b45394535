using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Usine.Pipeline;
using Usine.Storage.DuckDb;

namespace Usine.Server.Endpoints;

internal static class DeadLetterEndpoints
{
    public static IEndpointRouteBuilder MapDeadLetters(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/deadletters");
        group.MapGet("/", IResult (string? source, string? stage, string? status, int? limit, UsinePlatform p) =>
        {
            if (stage is not null && !Enum.TryParse<DeadLetterStage>(stage, true, out _))
            {
                return Errors.BadRequest($"stage '{stage}' is not one of {string.Join(", ", Enum.GetNames<DeadLetterStage>().Select(n => n.ToLowerInvariant()))}");
            }

            if (status is not null && !Enum.TryParse<DeadLetterStatus>(status, true, out _))
            {
                return Errors.BadRequest($"status '{status}' is not one of {string.Join(", ", Enum.GetNames<DeadLetterStatus>().Select(n => n.ToLowerInvariant()))}");
            }

            if (limit is < 1 or > 100_000)
            {
                return Errors.BadRequest("limit must be between 1 and 100000");
            }

            if (source is not null && !p.Definitions.Sources.ContainsKey(source))
            {
                return SourceEndpoints.UnknownSource(p, source);
            }

            return TypedResults.Ok(p.Store.DeadLetters(source, stage, status, limit ?? 100).Select(View));
        });

        group.MapGet("/{id:long}", IResult (long id, UsinePlatform p) =>
        {
            var d = p.Store.DeadLetters(null, null, null, 1, id).FirstOrDefault();
            if (d is null)
            {
                return Errors.NotFound($"no dead letter with id {id}");
            }

            var payload = d.Payload ?? [];
            var text = DuckDbStore.PayloadText(payload);
            return TypedResults.Ok(View(d) with
            {
                ErrorType = d.ErrorType,
                Topic = d.Topic,
                PayloadBytes = d.PayloadBytes,
                Payload = text,
                PayloadBase64 = text is null ? Convert.ToBase64String(payload) : null,
            });
        });
        return app;
    }

    private static DeadLetterView View(DeadLetterRow d) => new(
        d.Id, d.Source, d.Stream, d.Position, d.Stage, d.Reason, d.Status, d.Attempts, d.Model, d.ModelVersion, d.ReceivedAt, d.CreatedAt);

    /// <summary>A dead letter as the API shows it; the fields after <see cref="CreatedAt"/> only in the detail.</summary>
    internal sealed record DeadLetterView(
        long Id, string Source, string Stream, long Position, string Stage, string Reason, string Status, int Attempts,
        string? Model, int? ModelVersion, DateTime ReceivedAt, DateTime CreatedAt)
    {
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? ErrorType { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Topic { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public long? PayloadBytes { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Payload { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? PayloadBase64 { get; init; }
    }
}
