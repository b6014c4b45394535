namespace Usine.Server.Endpoints;

internal static class AggregateEndpoints
{
    public static IEndpointRouteBuilder MapAggregates(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/models").WithTags("Aggregates").MapGet("/{name}/aggregate", async Task<IResult> (
            string name, string? bucket, string? measures, string? by, string? from, string? to, string? plant, string[]? where,
            string? source, IRecordReads records, UsineDefinitions definitions, HttpContext http, CancellationToken ct) =>
        {
            if (Explore.Schema(records, name) is not { } schema)
            {
                return Explore.UnknownModel(definitions, name);
            }

            var b = AggregateBucket.All.FirstOrDefault(x => x.Name == (bucket ?? "1h"))
                ?? throw new ArgumentException($"bucket: '{bucket}' is not one of {string.Join(", ", AggregateBucket.All.Select(x => x.Name))}");
            var mode = source switch
            {
                null or "auto" => AggregateSource.Auto,
                "records" => AggregateSource.Records,
                "rollup" => AggregateSource.Rollup,
                _ => throw new ArgumentException($"source: '{source}' is not one of auto, records, rollup"),
            };
            var result = await records.AggregateAsync(new AggregateQuery
            {
                Model = name,
                Bucket = b,
                Measures = [.. Split(measures ?? "count").Select(ParseMeasure)],
                By = Split(by),
                Filter = Explore.Filter(http, schema, from, to, plant, null, null, where),
                Source = mode,
            }, Explore.Plants(http), ct);
            return new JsonRows([new("source", result.Source)], "buckets", result.Buckets, []);
        }).WithSummary("Aggregates per time bucket or shift and group (fields, hierarchy levels, shift names), from a rollup when one covers the request");
        return app;
    }

    private static string[] Split(string? list) =>
        list is null ? [] : list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static AggregateMeasure ParseMeasure(string spec)
    {
        if (spec == "count")
        {
            return new AggregateMeasure(null, AggregateFunction.Count);
        }

        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || !Enum.TryParse<AggregateFunction>(spec[(colon + 1)..], ignoreCase: true, out var fn) || !spec[(colon + 1)..].All(char.IsAsciiLetterOrDigit))
        {
            throw new ArgumentException($"measures: '{spec}' is not count or FIELD:FUNCTION with a function among count, sum, avg, min, max, p50, p90, p95, p99");
        }

        return new AggregateMeasure(spec[..colon], fn);
    }
}
