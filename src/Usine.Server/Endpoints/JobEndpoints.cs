namespace Usine.Server.Endpoints;

internal static class JobEndpoints
{
    private static readonly string Kinds = string.Join(", ", Enum.GetNames<JobKind>().Select(n => n.ToLowerInvariant()));
    private static readonly string States = string.Join(", ", Enum.GetNames<JobState>().Select(n => n.ToLowerInvariant()));

    public static IEndpointRouteBuilder MapJobs(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/api/jobs");
        jobs.MapGet("/", IResult (string? kind, string? state, string? source, UsineDefinitions definitions, JobRegistry jobRegistry, HttpContext http) =>
        {
            JobKind? k = null;
            if (kind is not null)
            {
                if (!TryParse(kind, out JobKind parsed))
                {
                    return Errors.BadRequest($"kind '{kind}' is not one of {Kinds}");
                }

                k = parsed;
            }

            JobState? st = null;
            if (state is not null)
            {
                if (!TryParse(state, out JobState parsed))
                {
                    return Errors.BadRequest($"state '{state}' is not one of {States}");
                }

                st = parsed;
            }

            if (source is not null)
            {
                Explore.EnsureSourceInScope(http, definitions, source);
            }

            var scope = Explore.Plants(http);
            var list = jobRegistry.List()
                .Where(j => (k is null || j.Kind == k) && (st is null || j.State == st) && (source is null || string.Equals(j.SourceId, source, StringComparison.Ordinal)))
                .Where(j => PlantScopes.MayReadSource(scope, definitions, j.SourceId))
                .Select(j => Summary(j));
            return TypedResults.Ok(list);
        }).WithSummary("Jobs, newest first: a stream per live source and bounded runs");

        jobs.MapGet("/{id}", IResult (string id, UsineDefinitions definitions, JobRegistry jobRegistry, HttpContext http) =>
        {
            if (jobRegistry.Get(id) is not { } job)
            {
                return Errors.NotFound($"no job with id '{id}' (see GET /api/jobs; finished runs are kept for the last 500)");
            }

            if (job.SourceId is { } source)
            {
                Explore.EnsureSourceInScope(http, definitions, source);
            }

            return PlantScopes.MayReadSource(Explore.Plants(http), definitions, job.SourceId)
                ? TypedResults.Ok(Detail(job))
                : Errors.Status(StatusCodes.Status403Forbidden, $"job {id} is of source '{job.SourceId}', whose data spans plants; it needs a key or token of every plant");
        }).WithSummary("One job with the history of its states");

        return app;
    }

    /// <summary>A name of the enum, nothing else: Enum.TryParse also takes numbers and comma-separated lists.</summary>
    private static bool TryParse<T>(string text, out T value) where T : struct, Enum =>
        Enum.TryParse(text, ignoreCase: true, out value) && Enum.GetNames<T>().Contains(text, StringComparer.OrdinalIgnoreCase);

    private static JobSummary Summary(Job j) => new(
        j.Id, j.Kind.ToString().ToLowerInvariant(), j.SourceId, j.Description, j.State.ToString().ToLowerInvariant(), j.StateSince,
        j.StartedAt, j.EndedAt, j.Total, j.Received, j.Stored, j.Duplicates, j.Rejected, j.LastActivityAt, j.LastError, j.LastErrorAt)
    {
        Detail = j.Detail,
        SequenceGaps = j.SequenceGaps,
    };

    private static object Detail(Job j) => new
    {
        job = Summary(j),
        history = j.History.Select(t => new
        {
            at = t.At,
            from = t.From.ToString().ToLowerInvariant(),
            to = t.To.ToString().ToLowerInvariant(),
            reason = t.Reason,
        }),
    };
}

/// <summary>A job as <c>GET /api/jobs</c> lists it (docs/api.md).</summary>
internal sealed record JobSummary(
    string Id, string Kind, string? Source, string? Description, string State, DateTime StateSince,
    DateTime StartedAt, DateTime? EndedAt, long? Total, long Received, long Stored, long Duplicates, long Rejected,
    DateTime? LastActivityAt, string? LastError, DateTime? LastErrorAt)
{
    /// <summary>What the source says of the parts it reads from beside its state (Sparkplug: the edge nodes offline); null when nothing.</summary>
    public string? Detail { get; init; }

    /// <summary>Gaps in the source's own message numbering (a Sparkplug edge node's seq).</summary>
    public long SequenceGaps { get; init; }
}
