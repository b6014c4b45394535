using Microsoft.Extensions.DependencyInjection;
using Usine.Storage.Postgres;

namespace Usine.Tests.Api;

/// <summary>How <c>Usine:Store:Kind</c> picks the store <c>usine serve</c> composes, without starting it.</summary>
public sealed class StoreKindConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-store-kind-").FullName;

    private Dictionary<string, string?> Settings(params (string Key, string Value)[] store)
    {
        var config = Path.Combine(_dir, "usine.yaml");
        File.WriteAllText(config, TestDefinitions.Yaml);
        var settings = new Dictionary<string, string?>
        {
            ["Usine:ConfigPath"] = config,
            ["Usine:DataDirectory"] = Path.Combine(_dir, "data"),
            [UsineHttpOptions.Section + ":Urls"] = "http://127.0.0.1:0",
        };
        foreach (var (key, value) in store)
        {
            settings[UsineStoreComposition.Section + ":" + key] = value;
        }

        return settings;
    }

    [Fact]
    public async Task Kind_postgres_with_a_connection_string_composes_the_PostgreSQL_store_with_its_settings()
    {
        await using var app = UsineServer.Build(Settings(("Kind", "postgres"), ("ConnectionString", "Host=db.plant.local;Username=usine;Database=usine"), ("Schema", "flins"),
            ("Partitioning", "Day")), logging: _ => { });

        var store = Assert.IsType<PostgresStore>(app.Services.GetRequiredService<IUsineStore>());
        Assert.Equal(("Host=db.plant.local;Username=usine;Database=usine", "flins", RecordPartitioning.Day),
            (store.Options.ConnectionString, store.Options.Schema, store.Options.Partitioning));
        Assert.Same(store.Commit, app.Services.GetRequiredService<IRecordStore>());
    }

    [Fact]
    public async Task Without_a_kind_the_server_composes_the_embedded_store()
    {
        await using var app = UsineServer.Build(Settings(), logging: _ => { });

        Assert.IsType<DuckDbStore>(app.Services.GetRequiredService<IUsineStore>());
    }

    [Theory]
    [InlineData("postgres", null, "Usine:Store:ConnectionString")]
    [InlineData("oracle", null, "Usine:Store:Kind")]
    [InlineData("postgres", "MemoryLimit", "MemoryLimit")]
    public void A_store_setting_that_does_not_fit_the_kind_stops_the_start_with_a_message_naming_it(string kind, string? extra, string named)
    {
        var settings = Settings(("Kind", kind));
        if (extra is not null)
        {
            settings[UsineStoreComposition.Section + ":ConnectionString"] = "Host=db";
            settings[UsineStoreComposition.Section + ":" + extra] = "1GB";
        }

        var e = Assert.ThrowsAny<ArgumentException>(() => UsineServer.Build(settings, logging: _ => { }));
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
