using Usine.Connectors.Files;
using Usine.Connectors.Testing;

namespace Usine.Tests.Connectors;

/// <summary>The connector contract, kept by the connector this test assembly defines.</summary>
public sealed class MemoryConnectorConformanceTests : ConnectorConformance
{
    private readonly MemoryPeers _peers = new();

    protected override SourceDefinition NewSource() => new()
    {
        Id = $"memory-{Guid.NewGuid():N}",
        Plant = Template.Parse("test"),
        Kind = MemoryConnector.Kind,
        Model = "test",
    };

    protected override SourceRunner Start(SourceDefinition source, ConformanceStore store) =>
        new(new MemoryConnector(source, _peers.For(source.Id), TimeProvider.System), store, new SourceRunnerOptions { BatchSize = BatchSize, BufferCapacity = BufferCapacity });

    protected override long? TakenFromPeer(SourceDefinition source) => _peers.For(source.Id).Taken;

    protected override Task SendAsync(SourceDefinition source, int from, int count)
    {
        for (var n = from; n < from + count; n++)
        {
            _peers.For(source.Id).Send(Encoding.UTF8.GetBytes($$"""{"n":{{n}}}"""));
        }

        return Task.CompletedTask;
    }

    protected override async Task RestartPeerAsync(SourceDefinition source, SourceRunner running)
    {
        var peer = _peers.For(source.Id);
        peer.GoDown();
        await WaitUntilAsync(() => running.State == ConnectorState.Reconnecting, "the connector to notice its peer is down", running);
        peer.ComeBack();
    }
}

/// <summary>The connector contract, kept by the drop folder: a file is its peer's message, its move to done/ the acknowledgement.</summary>
public sealed class FileDropConformanceTests : ConnectorConformance, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-drop-conformance-").FullName;
    private int _files;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Each send is a file, and the folder moves a file away once it is acknowledged, before it takes the next.
    protected override bool ReadsEachSendAfterThePreviousIsAcknowledged => true;

    protected override SourceDefinition NewSource()
    {
        var id = $"drop-{Guid.NewGuid():N}";
        return new SourceDefinition
        {
            Id = id,
            Plant = Template.Parse("test"),
            Kind = FileConnectors.Kind,
            Model = "test",
            Settings = new Dictionary<string, string> { [FileConnectors.PathSetting] = Path.Combine(_dir, id) },
        };
    }

    private static string Folder(SourceDefinition source) => source.Settings[FileConnectors.PathSetting];

    protected override SourceRunner Start(SourceDefinition source, ConformanceStore store) =>
        new(new FileDropConnector(source, Folder(source), new NoStreams(), TimeSpan.FromMilliseconds(20)), store,
            new SourceRunnerOptions { BatchSize = BatchSize, BufferCapacity = BufferCapacity });

    /// <summary>One file of NDJSON, written beside the folder and moved in whole, as a producer should.</summary>
    protected override async Task SendAsync(SourceDefinition source, int from, int count)
    {
        var name = $"{Interlocked.Increment(ref _files):D4}.ndjson";
        var staging = Path.Combine(_dir, name);
        await File.WriteAllLinesAsync(staging, Enumerable.Range(from, count).Select(n => $$"""{"n":{{n}}}"""));
        Directory.CreateDirectory(Folder(source));
        File.Move(staging, Path.Combine(Folder(source), name));
    }

    /// <summary>The folder is taken away (a file stands in its place, so it cannot be made again), then the place is free again.</summary>
    protected override async Task RestartPeerAsync(SourceDefinition source, SourceRunner running)
    {
        var folder = Folder(source);
        Directory.Move(folder, folder + ".away");
        await File.WriteAllTextAsync(folder, "not a folder");
        await WaitUntilAsync(() => running.State == ConnectorState.Reconnecting, "the connector to notice its folder is gone", running);
        File.Delete(folder);
    }

    private sealed class NoStreams : ISourceStreams
    {
        public Task RegisterStreamAsync(string streamId, string sourceId, string kind, string? name, IReadOnlyList<string>? csvHeader, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task CompleteStreamAsync(string streamId, long lines, long? declared, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
