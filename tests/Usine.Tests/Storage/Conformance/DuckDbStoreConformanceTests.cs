namespace Usine.Tests.Storage.Conformance;

/// <summary>The store conformance suite on the embedded DuckDB store, each test in a directory of its own.</summary>
public sealed class DuckDbStoreConformanceTests : StoreConformance
{
    private readonly string _root = Directory.CreateTempSubdirectory("usine-conformance-").FullName;

    protected override IUsineStore OpenStore(string name) =>
        new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(_root, name), MemoryLimit = "256MB", Threads = 1 });

    protected override Task DisposeStorageAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }
}
