using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Usine.Storage.DuckDb;
using Usine.Storage.Postgres;

namespace Usine.Server;

/// <summary>
/// The one place of the server that names the store's implementation: the embedded DuckDB store, or the PostgreSQL
/// store of a cluster (<c>Usine:Store:Kind</c> = <c>postgres</c>), with its settings read from the <c>Usine:Store</c>
/// section. Every other part of the server sees <see cref="IUsineStore"/> and its facets.
/// </summary>
public static class UsineStoreComposition
{
    /// <summary>The section of the configuration the store's settings are read from.</summary>
    public const string Section = "Usine:Store";

    /// <summary>
    /// Registers the store with the settings of <see cref="Section"/> (<c>MemoryLimit</c>, <c>Threads</c>,
    /// <c>CheckpointThreshold</c>, <c>ArchiveDirectory</c>, <c>DataDirectory</c>; by default the store lives in the
    /// platform's data directory), on the container's <see cref="TimeProvider"/>. Throws <see cref="ArgumentException"/>
    /// naming the setting when one is wrong.
    /// </summary>
    public static IServiceCollection AddUsineStore(this IServiceCollection services, IConfiguration configuration, UsineOptions platform)
    {
        // Kind picks the options type; the rest of the section is bound strictly to it, so a setting of the other store is an error.
        var kind = configuration[Section + ":Kind"] ?? "duckdb";
        var settings = new ConfigurationBuilder()
            .AddInMemoryCollection(configuration.GetSection(Section).AsEnumerable().Where(kv => kv.Value is not null && !string.Equals(kv.Key, Section + ":Kind", StringComparison.OrdinalIgnoreCase)))
            .Build();
        if (string.Equals(kind, "postgres", StringComparison.OrdinalIgnoreCase))
        {
            return services.AddPostgres(settings);
        }

        if (!string.Equals(kind, "duckdb", StringComparison.OrdinalIgnoreCase))
        {
            throw new ArgumentException($"the store's kind '{kind}' is not known: set Usine:Store:Kind to duckdb (the default, embedded) or postgres (a cluster's)");
        }

        var options = UsineConfiguration.Bind(settings, Section, new DuckDbStoreOptions { DataDirectory = platform.DataDirectory }, strict: true);
        if (string.IsNullOrWhiteSpace(options.MemoryLimit))
        {
            throw new ArgumentException("the store's memory limit is empty: set Usine:Store:MemoryLimit to a size such as 384MB (the default)");
        }

        if (options.Threads is < 1)
        {
            throw new ArgumentException($"the store's threads must be 1 or more, not {options.Threads} (Usine:Store:Threads; default: the number of cores)");
        }

        if (string.IsNullOrWhiteSpace(options.CheckpointThreshold))
        {
            throw new ArgumentException("the store's checkpoint threshold is empty: set Usine:Store:CheckpointThreshold to a size such as 128MB (the default)");
        }

        return services.AddDuckDbStore(sp => options with { Time = sp.GetRequiredService<TimeProvider>() });
    }

    /// <summary>The PostgreSQL store: <c>ConnectionString</c> (required), <c>Schema</c>, <c>Partitioning</c>, <c>KeepRaw</c>, <c>ArchiveDirectory</c>.</summary>
    private static IServiceCollection AddPostgres(this IServiceCollection services, IConfiguration settings)
    {
        var options = UsineConfiguration.Bind(settings, Section, new PostgresStoreOptions { ConnectionString = "" }, strict: true);
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            throw new ArgumentException("the PostgreSQL store needs a connection string: set Usine:Store:ConnectionString, such as Host=db;Username=usine;Password=...;Database=usine");
        }

        if (string.IsNullOrWhiteSpace(options.Schema))
        {
            throw new ArgumentException("the PostgreSQL store's schema is empty: set Usine:Store:Schema to a schema name such as usine (the default)");
        }

        return services.AddPostgresStore(sp => options with { Time = sp.GetRequiredService<TimeProvider>() });
    }
}
