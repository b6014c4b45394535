using Usine.Connectors.Testing;
using Usine.Operations;

namespace Usine.Connectors.OpcUa.Tests;

/// <summary>The opcua source on the source runner, against the node-opcua test server, with security None.</summary>
public sealed class OpcUaSourceConnectorTests(OpcUaServerFixture fixture, ITestOutputHelper output) : IClassFixture<OpcUaServerFixture>
{
    private readonly OpcUaServerProcess _server = fixture.Server;

    private sealed record Running(OpcUaSourceConnector Connector, SourceRunner Runner, Job Job, RecordingStore Store, TestLogger<OpcUaSourceConnector> Log, Task Run, CancellationTokenSource Stop) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Stop.CancelAsync();
            await Run.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            Stop.Dispose();
        }
    }

    private Running Start(Dictionary<string, string> settings, Uri? endpoint = null, RecordingStore? store = null, string? id = null)
    {
        var source = TestSources.OpcUa(endpoint ?? _server.Endpoint, settings, id);
        var log = new TestLogger<OpcUaSourceConnector>(output);
        var connector = new OpcUaSourceConnector(source, TestSources.Fast, Path.GetTempPath(), log);
        store ??= new RecordingStore();
        var job = new JobRegistry().Stream(source.Id);
        var runner = new SourceRunner(connector, store, connector.RunnerOptions with { BatchWindow = TimeSpan.FromMilliseconds(20) }, job);
        var stop = new CancellationTokenSource();
        return new Running(connector, runner, job, store, log, runner.RunAsync(stop.Token), stop);
    }

    private static Dictionary<string, string> Settings(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["publishingInterval"] = "100ms",
            ["samplingInterval"] = "50ms",
        };
        foreach (var (k, v) in more)
        {
            settings[k] = v;
        }

        return settings;
    }

    [Fact]
    public async Task Browse_patterns_resolve_to_the_variables_at_one_level_per_star_and_node_ids_are_taken_as_they_are()
    {
        await using var run = Start(Settings(("nodes.0.browse", "Objects/PaintShop/*/Temperature"), ("nodes.1.id", "ns=1;s=Oven2.Counter")));
        await Wait.UntilAsync(() => run.Runner.State == ConnectorState.Running, "the source to connect and subscribe");

        Assert.Equal(
            ["Objects/PaintShop/Oven1/Temperature", "Objects/PaintShop/Oven2/Temperature", "Objects/PaintShop/Oven3/Temperature", "ns=1;s=Oven2.Counter"],
            run.Connector.Subscribed.Select(s => s.BrowsePath).Order(StringComparer.Ordinal));
        Assert.Contains(("ns=1;s=Oven1.Temperature", "Objects/PaintShop/Oven1/Temperature"), run.Connector.Subscribed);
    }

    [Fact]
    public async Task Values_arrive_with_their_source_timestamps_and_status_through_the_pipeline()
    {
        await using var run = Start(Settings(("nodes.0.browse", "Objects/PaintShop/Oven1/*")));
        await Wait.UntilAsync(() => run.Store.Committed.Select(c => c.BrowsePath).Distinct().Count() == 2, "values of Oven1's Counter and Temperature");

        var change = run.Store.Committed.First(c => c.BrowsePath.EndsWith("Temperature", StringComparison.Ordinal));
        Assert.Equal("ns=1;s=Oven1.Temperature", change.Node);
        Assert.Equal("Good", change.Status);
        Assert.Equal("Good", change.StatusCode);
        Assert.NotNull(change.SourceTimestamp);
        Assert.NotNull(change.ServerTimestamp);
        Assert.InRange(change.Value.GetDouble(), 170, 190);
        Assert.Equal(1, run.Store.Committed[0].Position);
    }

    [Fact]
    public async Task A_counter_shows_no_missing_and_no_repeated_value_while_connected()
    {
        await using var run = Start(Settings(("nodes.0.id", "ns=1;s=Oven3.Counter")));
        await Wait.UntilAsync(() => run.Store.Committed.Count >= 25, "25 counter values (one every 200 ms)");

        var counters = run.Store.Committed.Select(c => c.Value.GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(0, counters.Count).Select(i => counters[0] + i), counters);
        Assert.Equal(Enumerable.Range(1, counters.Count).Select(i => (long)i), run.Store.Committed.Select(c => c.Position));
    }

    [Fact]
    public async Task Positions_go_on_after_the_checkpoint_when_the_source_starts_again()
    {
        var store = new RecordingStore();
        var id = $"opcua-{Guid.NewGuid():N}";
        await using (var first = Start(Settings(("nodes.0.id", "ns=1;s=Oven1.Counter")), store: store, id: id))
        {
            await Wait.UntilAsync(() => store.Committed.Count >= 3, "three values from the first run");
        }

        var before = store.Committed.Count;
        await using var second = Start(Settings(("nodes.0.id", "ns=1;s=Oven1.Counter")), store: store, id: id);
        await Wait.UntilAsync(() => store.Committed.Count >= before + 3, "three values from the second run");
        var positions = store.Committed.Select(c => c.Position).ToList();
        Assert.Equal(Enumerable.Range(1, positions.Count).Select(i => (long)i), positions);
    }

    [Fact]
    public async Task A_wrong_password_fails_the_job_with_an_error_naming_the_user()
    {
        await using var run = Start(Settings(("nodes.0.id", "ns=1;s=Oven1.Counter"), ("user.name", OpcUaServerProcess.UserName), ("user.password", "wrong")));
        var ex = await Assert.ThrowsAsync<OpcUaException>(() => run.Run);
        Assert.Contains("ActivateSession as user 'painter' failed: Bad", ex.Message, StringComparison.Ordinal);
        Assert.Equal(ConnectorState.Failed, run.Runner.State);
        Assert.Equal(JobState.Failed, run.Job.State);
        Assert.Contains("painter", run.Job.LastError, StringComparison.Ordinal);
        Assert.True(run.Log.Has(2144), "the failure is logged");
    }

    [Fact]
    public async Task The_right_password_goes_plain_on_a_none_endpoint_that_allows_it_and_values_flow()
    {
        await using var run = Start(Settings(("nodes.0.id", "ns=1;s=Oven1.Counter"), ("user.name", OpcUaServerProcess.UserName), ("user.password", OpcUaServerProcess.Password)));
        await Wait.UntilAsync(() => run.Store.Committed.Count >= 2, "values under the user's session");
    }

    [Fact]
    public async Task An_endpoint_the_server_does_not_have_fails_the_job_listing_the_endpoints_it_has()
    {
        var wrongPath = new Uri($"opc.tcp://127.0.0.1:{_server.Port}/UA/NoSuchServer");
        await using var run = Start(Settings(("nodes.0.id", "ns=1;s=Oven1.Counter")), wrongPath);
        var ex = await Assert.ThrowsAsync<OpcUaException>(() => run.Run);
        Assert.Contains("has no endpoint /UA/NoSuchServer; its endpoints are opc.tcp://127.0.0.1", ex.Message, StringComparison.Ordinal);
        Assert.Equal(JobState.Failed, run.Job.State);
    }

    [Fact]
    public async Task A_browse_path_that_matches_nothing_fails_the_job_naming_the_path()
    {
        await using var run = Start(Settings(("nodes.0.browse", "Objects/PaintShop/*/Pressure")));
        var ex = await Assert.ThrowsAsync<OpcUaException>(() => run.Run);
        Assert.Contains("browse path 'Objects/PaintShop/*/Pressure' matches no variable", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Monitored_items_are_created_in_batches_the_server_accepts_and_refused_ones_are_reported()
    {
        await using var run = Start(Settings(
            ("nodes.0.browse", "Objects/PaintShop/*/*"),
            ("nodes.1.id", "ns=1;s=Oven9.Counter"),
            ("monitoredItemsPerCall", "100")));
        await Wait.UntilAsync(() => run.Store.Committed.Select(c => c.Node).Distinct().Count() == 6, "values of the six variables of the three ovens");

        // The server takes 2 items per call: 7 items in 4 calls.
        var subscribed = run.Log.Lines.Single(l => l.EventId == 2161).Message;
        Assert.Contains("6 monitored items created in 4 calls of up to 2 (server limit per call: 2)", subscribed, StringComparison.Ordinal);
        Assert.Contains(run.Log.Lines, l => l.EventId == 2162 && l.Message.Contains("ns=1;s=Oven9.Counter", StringComparison.Ordinal) && l.Message.Contains("BadNodeIdUnknown", StringComparison.Ordinal));
        Assert.Contains("refused 1 of 7 monitored items: ns=1;s=Oven9.Counter (BadNodeIdUnknown)", run.Job.LastError, StringComparison.Ordinal);
    }
}
