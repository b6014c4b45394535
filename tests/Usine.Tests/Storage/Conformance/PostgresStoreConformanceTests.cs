using Usine.Storage.Postgres;
using Usine.Tests.Storage.Postgres;

namespace Usine.Tests.Storage.Conformance;

/// <summary>The store conformance suite on the PostgreSQL store, each test in schemas of its own, dropped after it.</summary>
public sealed class PostgresStoreConformanceTests : StoreConformance
{
    private readonly PostgresServer _server = new();

    protected override IUsineStore OpenStore(string name) => new PostgresStore(_server.Options(name));

    protected override Task DisposeStorageAsync() => _server.DropSchemasAsync();
}
