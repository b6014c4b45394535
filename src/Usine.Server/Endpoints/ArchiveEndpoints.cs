namespace Usine.Server.Endpoints;

internal static class ArchiveEndpoints
{
    public static IEndpointRouteBuilder MapArchive(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/archive");

        group.MapPost("/run", async Task<IResult> (bool? includeToday, ArchiveService archive, CancellationToken ct) =>
        {
            try
            {
                var r = await archive.RunAsync(includeToday ?? false, ct);
                return TypedResults.Ok(new
                {
                    archiveJob = r.ArchiveJob,
                    retentionJob = r.RetentionJob,
                    cutoff = r.Cutoff,
                    files = r.Files,
                    rows = r.Rows,
                    bytes = r.Bytes,
                    rawRowsDeleted = r.RawRowsDeleted,
                    rawRowsKept = r.RawRowsKept,
                    partitionsDeleted = r.PartitionsDeleted,
                    problems = r.Problems.Select(x => new { path = x.Path, problem = x.Problem, detail = x.Detail }),
                    elapsedMs = Math.Round(r.ElapsedMs, 1),
                });
            }
            catch (Exception ex) when (ex is UsineException or IOException or UnauthorizedAccessException or System.Data.Common.DbException)
            {
                return Errors.Status(StatusCodes.Status500InternalServerError, "the archive run failed: " + ex.Message + " (see the archive jobs)");
            }
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Archive the raw messages that are due (with includeToday=true, also today's until now) and apply retention now");

        group.MapGet("/", (string? source, IArchiveStore archiveStore) =>
        {
            var partitions = archiveStore.ArchivePartitions(source);
            return TypedResults.Ok(new
            {
                root = Path.GetFullPath(archiveStore.ArchiveRoot),
                partitions = partitions.Count,
                files = partitions.Sum(x => x.Files),
                rows = partitions.Sum(x => x.Rows),
                bytes = partitions.Sum(x => x.Bytes),
                days = partitions.Select(x => new
                {
                    plant = x.Plant,
                    source = x.SourceId,
                    day = x.Day,
                    files = x.Files,
                    rows = x.Rows,
                    bytes = x.Bytes,
                    minReceivedAt = x.MinReceivedAt,
                    maxReceivedAt = x.MaxReceivedAt,
                }),
            });
        }).WithSummary("The Parquet archive per plant, source and day");

        group.MapGet("/verify", async (IArchiveStore archiveStore, CancellationToken ct) =>
        {
            var r = await archiveStore.VerifyArchiveAsync(ct);
            return TypedResults.Ok(new
            {
                ok = r.IsOk,
                @checked = r.Checked,
                intact = r.Ok,
                bytes = r.Bytes,
                problems = r.Problems.Select(x => new { path = x.Path, problem = x.Problem, detail = x.Detail }),
                unlisted = r.Unlisted,
            });
        }).WithSummary("Re-hash every archive file against the manifest");

        return app;
    }
}
