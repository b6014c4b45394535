namespace Usine.Server.Endpoints;

internal static class ExportEndpoints
{
    public static IEndpointRouteBuilder MapExports(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/models").WithTags("Exports").MapGet("/{name}/export", async Task<IResult> (
            string name, string? format, string? from, string? to, string? plant, string? avatar, string? source, string[]? where,
            IRecordReads records, UsineDefinitions definitions, HttpContext http, CancellationToken ct) =>
        {
            if (Explore.Schema(records, name) is not { } schema)
            {
                return Explore.UnknownModel(definitions, name);
            }

            var (kind, contentType, extension) = (format ?? "csv") switch
            {
                "csv" => (ExportFormat.Csv, "text/csv; charset=utf-8", "csv"),
                "ndjson" => (ExportFormat.Ndjson, "application/x-ndjson", "ndjson"),
                "parquet" => (ExportFormat.Parquet, "application/vnd.apache.parquet", "parquet"),
                _ => throw new ArgumentException($"format: '{format}' is not one of csv, ndjson, parquet"),
            };
            var filter = Explore.Filter(http, schema, from, to, plant, avatar, source, where);
            http.Response.ContentType = contentType;
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"{name}.{extension}\"";
            await records.ExportAsync(name, filter, kind, Explore.Plants(http), http.Response.Body, ct);
            return Results.Empty;
        }).WithSummary("Records of a model streamed as CSV, NDJSON or Parquet");
        return app;
    }
}
