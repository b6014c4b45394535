using Usine.Connectors.OpcUa.Security;
using System.Text.Json;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Pipeline;

namespace Usine.Connectors.OpcUa.Tests.Security;

/// <summary>An opcua source with security, as the platform runs it: on the source runner, with a stream job.</summary>
[Collection(SecureServerCollection.Name)]
public sealed class SecureSourceJobTests(SecureServerFixture server) : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    private SourceDefinition Source(string security) => new()
    {
        Id = $"paint-ovens-{Guid.NewGuid():N}",
        Plant = Template.Of("douai"),
        Kind = OpcUaConnectors.Kind,
        Model = "oven_value",
        Settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["endpoint"] = server.Endpoint,
            ["security"] = security,
            ["user.name"] = SecureServerFixture.UserName,
            ["user.password"] = SecureServerFixture.Password,
            ["trust"] = "pki/paint-shop",
            ["nodes.0.id"] = "ns=1;s=Oven1.Counter",
            ["publishingInterval"] = "200ms",
        },
    };

    private static OpcUaConnectorOptions Options => new() { ApplicationUri = "urn:usine-tests:Usine" };

    [Fact]
    public async Task A_source_whose_server_is_not_in_its_trust_folder_fails_its_job_with_the_thumbprint_and_how_to_trust_it()
    {
        var source = Source("sign-and-encrypt");
        var jobs = new JobRegistry();
        var job = jobs.Stream(source.Id);
        var connector = new OpcUaSourceConnector(source, Options, _data.Path);
        var runner = new SourceRunner(connector, new PayloadStore(), connector.RunnerOptions, job);
        using var timeout = new CancellationTokenSource(Timeout);

        var error = await Assert.ThrowsAsync<UntrustedCertificateException>(() => runner.RunAsync(timeout.Token));

        Assert.Equal(JobState.Failed, job.State);
        var rejected = Path.Combine(_data.Path, "pki", "rejected", server.Certificate.Thumbprint + ".der");
        Assert.Equal(error.Message, job.LastError);
        Assert.Contains($"SHA-1 thumbprint {server.Certificate.Thumbprint}", job.LastError, StringComparison.Ordinal);
        Assert.Contains($"trust it by copying {rejected} into {Path.Combine(_data.Path, "pki", "paint-shop")}", job.LastError, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sign")]
    [InlineData("sign-and-encrypt")]
    public async Task A_source_with_security_and_a_user_stores_the_counter_once_its_server_is_trusted(string security)
    {
        Directory.CreateDirectory(Path.Combine(_data.Path, "pki", "paint-shop"));
        File.WriteAllBytes(Path.Combine(_data.Path, "pki", "paint-shop", "server.der"), server.Certificate.RawData);
        var source = Source(security);
        var jobs = new JobRegistry();
        var job = jobs.Stream(source.Id);
        var connector = new OpcUaSourceConnector(source, Options, _data.Path);
        var store = new PayloadStore();
        var runner = new SourceRunner(connector, store, connector.RunnerOptions, job);
        using var stop = new CancellationTokenSource(Timeout);
        var run = runner.RunAsync(stop.Token);

        IReadOnlyList<byte[]> stored;
        try
        {
            stored = await store.TwoValuesAsync.WaitAsync(Timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"expected two values of the counter stored within {Timeout}; the job is {job.State}, last error: {job.LastError ?? "none"}");
        }
        await stop.CancelAsync();
        await run;

        Assert.Contains(job.History, t => t.To == JobState.Running);
        foreach (var payload in stored)
        {
            using var value = JsonDocument.Parse(payload);
            Assert.Equal("ns=1;s=Oven1.Counter", value.RootElement.GetProperty("node").GetString());
            Assert.StartsWith("Good", value.RootElement.GetProperty("status").GetString(), StringComparison.Ordinal);
        }
    }
}

/// <summary>Commits every batch and keeps the payloads, so a test sees what the source produced.</summary>
internal sealed class PayloadStore : IIngestor
{
    private readonly Lock _lock = new();
    private readonly List<byte[]> _payloads = [];
    private readonly TaskCompletionSource<IReadOnlyList<byte[]>> _two = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes with the first two payloads once two are committed.</summary>
    public Task<IReadOnlyList<byte[]>> TwoValuesAsync => _two.Task;

    public Task<IngestResult> IngestAsync(IngestBatch batch, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _payloads.AddRange(batch.Messages.Select(m => m.Payload.ToArray()));
            if (_payloads.Count >= 2)
            {
                _two.TrySetResult(_payloads[..2]);
            }
        }
        var checkpoint = batch.Checkpoint ?? batch.Messages[^1].Position;
        return Task.FromResult(new IngestResult(batch.Messages.Count, batch.Messages.Count, 0, 0, checkpoint));
    }

    public Task<long?> GetCheckpointAsync(string streamId, CancellationToken cancellationToken) => Task.FromResult<long?>(null);
}
