using Usine.Connectors.Testing;
using Usine.Operations;

namespace Usine.Connectors.OpcUa.Tests;

/// <summary>The opcua source against a test server of its own, which the test kills and starts again.</summary>
public sealed class ServerRestartTests(ITestOutputHelper output) : IAsyncLifetime
{
    private OpcUaServerProcess _server = null!;

    public async Task InitializeAsync() => _server = await OpcUaServerProcess.StartAsync(output, periodMs: 200);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task A_server_killed_and_restarted_mid_stream_is_reconnected_by_itself_with_the_outage_reported_and_no_value_twice()
    {
        var source = TestSources.OpcUa(_server.Endpoint, new Dictionary<string, string>
        {
            ["publishingInterval"] = "100ms",
            ["samplingInterval"] = "50ms",
            ["nodes.0.browse"] = "Objects/PaintShop/*/Counter",
        });
        var log = new TestLogger<OpcUaSourceConnector>(output);
        var connector = new OpcUaSourceConnector(source, TestSources.Fast, Path.GetTempPath(), log);
        var store = new RecordingStore();
        var job = new JobRegistry().Stream(source.Id);
        var runner = new SourceRunner(connector, store, connector.RunnerOptions with { BatchWindow = TimeSpan.FromMilliseconds(20) }, job);
        var live = new OpcUaLiveSource(runner, connector, job);
        using var stop = new CancellationTokenSource();
        var run = live.RunAsync(stop.Token);

        await Wait.UntilAsync(() => store.Committed.Count >= 15, "values before the server is killed");
        await _server.KillAsync();
        await Wait.UntilAsync(() => runner.State == ConnectorState.Reconnecting, "the source to notice the server is gone");
        await Wait.UntilAsync(() => job.State == JobState.Degraded, "the source's job to say it is degraded");
        var before = store.Committed.Count;

        await _server.RestartAsync();
        await Wait.UntilAsync(() => store.Committed.Count >= before + 15 && runner.State == ConnectorState.Running, "values after the server came back");

        // The outage is reported: the subscription died with the server, so what it published meanwhile is a gap.
        Assert.True(connector.Gaps >= 1, "a gap is counted");
        Assert.Contains(log.Lines, l => l.EventId == 2145 && l.Message.Contains("created again", StringComparison.Ordinal));
        Assert.Contains("created again", job.LastError, StringComparison.Ordinal);
        Assert.Contains(job.History, t => t.To == JobState.Degraded && t.Reason is { } r && r.Contains("created again", StringComparison.Ordinal));

        // ... and counted for the job and reconciliation, with the old subscription's numbers and the outage's times.
        Assert.Equal(connector.Gaps, job.SequenceGaps);
        Assert.NotEmpty(live.SequenceGaps);
        Assert.All(live.SequenceGaps, gap =>
        {
            Assert.StartsWith($"{_server.Endpoint} subscription ", gap.Scope, StringComparison.Ordinal);
            Assert.True(gap.Missing >= 1 && gap.Before > gap.After && gap.BeforeTime > gap.AfterTime, $"the gap {gap} spans the outage");
        });

        await stop.CancelAsync();
        await run;

        // No value twice, and each counter goes up; positions are unique and in order.
        var committed = store.Committed;
        Assert.Equal(committed.Count, committed.Select(c => c.Position).Distinct().Count());
        Assert.Equal(committed.Select(c => c.Position).Order(), committed.Select(c => c.Position));
        foreach (var counter in committed.GroupBy(c => c.Node))
        {
            var values = counter.Select(c => c.Value.GetInt64()).ToList();
            Assert.Equal(values.Count, values.Distinct().Count());
            Assert.Equal(values.Order(), values);
        }
    }
}
