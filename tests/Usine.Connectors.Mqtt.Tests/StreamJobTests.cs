using Usine.Operations;

namespace Usine.Connectors.Mqtt.Tests;

/// <summary>The stream job of an MQTT source follows the connection, against a mosquitto of the test's own.</summary>
[Collection(MosquittoCollection.Name)]
public sealed class StreamJobTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_stream_job_runs_turns_degraded_while_the_broker_is_gone_and_runs_again_once_it_is_back()
    {
        await using var broker = await MosquittoProcess.StartAsync(output);
        var root = TestSources.UniqueTopicRoot();
        var source = TestSources.Mqtt(broker.Url, root + "/#");
        var jobs = new JobRegistry(TimeProvider.System, new TestOutputLogger<JobRegistry>(output));
        var job = jobs.Stream(source.Id);
        var ingestor = new RecordingIngestor();
        await using var running = new RunningConnector(TestSources.Runner(source, ingestor, TestSources.FastOptions, new TestOutputLogger<MqttSourceConnector>(output), job));

        await WaitForAsync(jobs, job, JobState.Running, "the job to run once the connector is subscribed");
        await using (var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = broker.Url }))
        {
            await publisher.PublishAsync(root + "/x", TestSources.Payload(0));
        }

        await ingestor.WaitForCommittedAsync(1, "the message published before the broker dies");

        await broker.KillAsync();
        await WaitForAsync(jobs, job, JobState.Degraded, "the job to be degraded once the connection is lost");
        Assert.NotNull(job.LastError);

        await broker.RestartAsync();
        await WaitForAsync(jobs, job, JobState.Running, "the job to run again after the reconnection");
        await using (var publisher = new MqttPublisher(new MqttPublisherOptions { Broker = broker.Url }))
        {
            await publisher.PublishAsync(root + "/x", TestSources.Payload(1));
        }

        await ingestor.WaitForCommittedAsync(2, "the message published after the broker is back");
        await running.StopAsync();

        Assert.Equal(JobState.Stopped, job.State);
        Assert.Equal([JobState.Running, JobState.Degraded, JobState.Running, JobState.Stopped], job.History.Select(t => t.To));
        var lost = job.History[1];
        Assert.False(string.IsNullOrEmpty(lost.Reason), "the degraded transition says why");
        Assert.StartsWith("connected to mqtt://127.0.0.1:", job.History[2].Reason, StringComparison.Ordinal);
        Assert.Equal(2, job.Received);
        Assert.Equal(2, job.Stored);
    }

    [Fact]
    public async Task A_stream_whose_broker_cannot_be_reached_is_degraded_with_the_connection_error()
    {
        var source = TestSources.Mqtt(new Uri("mqtt://127.0.0.1:1"), "a/#");
        var jobs = new JobRegistry();
        var job = jobs.Stream(source.Id);
        await using var running = new RunningConnector(TestSources.Runner(source, new RecordingIngestor(), TestSources.FastOptions, new TestOutputLogger<MqttSourceConnector>(output), job));

        await WaitForAsync(jobs, job, JobState.Degraded, "the job to be degraded after a failed connection attempt");
        Assert.Equal(running.Connector.LastError?.Message, job.LastError);
        await running.StopAsync();
        Assert.Equal([JobState.Degraded, JobState.Stopped], job.History.Select(t => t.To));
    }

    private static async Task WaitForAsync(JobRegistry jobs, Job job, JobState state, string expectation)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChange(Job changed, JobTransition t)
        {
            if (ReferenceEquals(changed, job) && t.To == state)
            {
                signal.TrySetResult();
            }
        }

        jobs.StateChanged += OnChange;
        try
        {
            if (job.State == state)
            {
                return;
            }

            await signal.Task.WaitAsync(TestTimeouts.Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"expected {expectation} within {TestTimeouts.Default}; the job is {job.State}, last error: {job.LastError ?? "none"}");
        }
        finally
        {
            jobs.StateChanged -= OnChange;
        }
    }
}
