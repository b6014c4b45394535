namespace Usine.Server.Endpoints;

internal static class RecordEndpoints
{
    public static IEndpointRouteBuilder MapRecords(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/models").WithTags("Records").MapGet("/{name}/records", async Task<IResult> (
            string name, string? from, string? to, string? plant, string? avatar, string? source, string[]? where,
            string? sort, int? limit, string? cursor, IRecordReads records, UsineDefinitions definitions, HttpContext http, CancellationToken ct) =>
        {
            if (Explore.Schema(records, name) is not { } schema)
            {
                return Explore.UnknownModel(definitions, name);
            }

            var page = await records.QueryRecordsAsync(new RecordQuery
            {
                Model = name,
                Filter = Explore.Filter(http, schema, from, to, plant, avatar, source, where),
                Sort = schema.ParseSort(sort),
                Limit = limit ?? 100,
                Cursor = string.IsNullOrEmpty(cursor) ? null : cursor,
            }, Explore.Plants(http), ct);
            return new JsonRows([], "records", page.Records, [new("next", page.Next)]);
        }).WithSummary("Records of a model: filters, sort and cursor pagination");
        return app;
    }
}
