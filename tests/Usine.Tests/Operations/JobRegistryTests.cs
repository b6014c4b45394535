namespace Usine.Tests.Operations;

public sealed class JobRegistryTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Silence_turns_only_running_streams_idle_and_counts_from_their_last_batch()
    {
        var jobs = new JobRegistry(_time);
        var quiet = jobs.Stream("quiet");
        var busy = jobs.Stream("busy");
        var degraded = jobs.Stream("degraded");
        var import = jobs.Start(JobKind.Import, "quiet", "a.csv");
        quiet.SetState(JobState.Running, "connected");
        busy.SetState(JobState.Running, "connected");
        degraded.SetState(JobState.Degraded, "connection lost");

        _time.Advance(TimeSpan.FromSeconds(50));
        busy.Record(new IngestResult(10, 9, 0, 1, 10));
        _time.Advance(TimeSpan.FromSeconds(10));
        jobs.MarkSilentStreamsIdle(_ => TimeSpan.FromMinutes(1));

        Assert.Equal(JobState.Idle, quiet.State);
        Assert.Equal("no data for 60 s (idle after 60 s)", quiet.History[^1].Reason);
        Assert.Equal(JobState.Running, busy.State);
        Assert.Equal(JobState.Degraded, degraded.State);
        Assert.Equal(JobState.Running, import.State);
        Assert.Equal((10, 9, 0, 1), (busy.Received, busy.Stored, busy.Duplicates, busy.Rejected));
    }

    [Fact]
    public void Data_makes_an_idle_stream_run_but_leaves_a_degraded_one_degraded()
    {
        var jobs = new JobRegistry(_time);
        var idle = jobs.Stream("idle");
        var degraded = jobs.Stream("degraded");
        degraded.SetState(JobState.Degraded, "connection lost");

        idle.Record(new IngestResult(1, 1, 0, 0, 1));
        degraded.Record(new IngestResult(1, 1, 0, 0, 1));

        Assert.Equal(JobState.Running, idle.State);
        Assert.Equal("data arrived", idle.History[^1].Reason);
        Assert.Equal(JobState.Degraded, degraded.State);
        Assert.Equal("connection lost", degraded.LastError);
        Assert.False(degraded.TrySetState(JobState.Running, JobState.Idle), "a stale decision does not overwrite a newer state");
    }

    [Fact]
    public void A_bounded_run_ends_when_it_stops_or_fails_and_keeps_its_error()
    {
        var jobs = new JobRegistry(_time);
        var run = jobs.Start(JobKind.Import, "line1", "a.csv");
        _time.Advance(TimeSpan.FromSeconds(3));
        run.SetState(JobState.Failed, "the CSV file is empty: it needs a header line");

        Assert.Equal(_time.GetUtcNow().UtcDateTime, run.EndedAt);
        Assert.Equal("the CSV file is empty: it needs a header line", run.LastError);
        var change = Assert.Single(run.History);
        Assert.Equal((JobState.Running, JobState.Failed), (change.From, change.To));
        Assert.StartsWith("import-", run.Id, StringComparison.Ordinal);
        Assert.Same(run, jobs.Get(run.Id));
    }
}
