namespace Usine.Cli.Commands;

internal sealed class JobsListSettings : FormattedSettings
{
    [CommandOption("--kind <KIND>")]
    [Description("Only jobs of this kind: stream, import, replay, backfill or archive.")]
    public string? Kind { get; init; }

    [CommandOption("--state <STATE>")]
    [Description("Only jobs in this state: running, idle, degraded, failed or stopped.")]
    public string? State { get; init; }

    [CommandOption("--source <ID>")]
    [Description("Only the jobs of this source.")]
    public string? Source { get; init; }
}

internal sealed class JobsShowSettings : FormattedSettings
{
    [CommandArgument(0, "<ID>")]
    [Description("The job's id, as listed by usine jobs list (stream:SOURCE for a live source).")]
    public string Id { get; init; } = "";
}

/// <summary>usine jobs list: every stream and bounded run, newest first.</summary>
internal sealed class JobsListCommand(CliEnvironment environment) : ClientCommand<JobsListSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, JobsListSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetJobsAsync(settings.Kind, settings.State, settings.Source, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(JobInfo)))
        {
            return ExitCodes.Ok;
        }

        var jobs = answer.Value;
        if (jobs.Count == 0)
        {
            Environment.PrintLine("No jobs match.");
            return ExitCodes.Ok;
        }

        var now = Environment.Time.GetUtcNow();
        var table = new TableView("job", "kind", "source", "state", "since", "progress", "received", "stored", "rejected", "last error")
            .RightAlign(5, 6, 7, 8);
        foreach (var job in jobs)
        {
            table.Row(
                job.Id, job.Kind, job.Source ?? "-", job.State, Output.Ago(job.StateSince, now), JobsFormat.Progress(job),
                Output.Count(job.Received), Output.Count(job.Stored), Output.Count(job.Rejected), job.LastError ?? "");
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }
}

/// <summary>usine jobs show: one job's counters, last error and the history of its states.</summary>
internal sealed class JobsShowCommand(CliEnvironment environment) : ClientCommand<JobsShowSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, JobsShowSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetJobAsync(settings.Id, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, DataOutput.Part(answer.Json, "job"), typeof(JobInfo)))
        {
            return ExitCodes.Ok;
        }

        var detail = answer.Value;
        var job = detail.Job;
        var now = Environment.Time.GetUtcNow();
        Environment.PrintDetails(
        [
            ("job", job.Id),
            ("kind", job.Kind),
            ("source", job.Source),
            ("description", job.Description),
            ("state", $"{job.State} for {Output.Ago(job.StateSince, now).Replace(" ago", "", StringComparison.Ordinal)} (since {Output.Time(job.StateSince)})"),
            ("started", Output.Time(job.StartedAt)),
            ("ended", job.EndedAt is null ? null : Output.Time(job.EndedAt)),
            ("progress", JobsFormat.Progress(job)),
            ("received", Output.Count(job.Received)),
            ("stored", Output.Count(job.Stored)),
            ("duplicates", Output.Count(job.Duplicates)),
            ("rejected", Output.Count(job.Rejected)),
            ("last data", job.LastActivityAt is null ? "never" : $"{Output.Ago(job.LastActivityAt, now)} ({Output.Time(job.LastActivityAt)})"),
            ("last error", job.LastError is null ? null : $"{job.LastError} ({Output.Time(job.LastErrorAt)})"),
            ("detail", job.Detail),
            ("seq gaps", job.SequenceGaps == 0 ? null : Output.Count(job.SequenceGaps)),
        ]);

        var history = detail.History ?? [];
        if (history.Count == 0)
        {
            Environment.PrintLine("No state changes yet.");
            return ExitCodes.Ok;
        }

        var table = new TableView("at", "from", "to", "reason");
        foreach (var change in history)
        {
            table.Row(Output.Time(change.At), change.From, change.To, change.Reason ?? "");
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }
}

internal static class JobsFormat
{
    /// <summary>"120 / 1,000 (12%)" for a run whose total is known, the count received otherwise.</summary>
    public static string Progress(JobInfo job) => job.Total is > 0 and var total
        ? $"{Output.Count(job.Received)} / {Output.Count(total)} ({Math.Min(100, job.Received * 100 / total)}%)"
        : "-";
}
