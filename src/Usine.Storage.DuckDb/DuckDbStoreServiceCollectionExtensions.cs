using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.DependencyInjection;
using Usine.Ingestion;

namespace Usine.Storage.DuckDb;

/// <summary>Registers the embedded DuckDB store in a service container.</summary>
public static class DuckDbStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="DuckDbStore"/> as <see cref="IUsineStore"/> and each of its facets on its own
    /// (<see cref="IRecordStore"/>, <see cref="IRecordReads"/>, <see cref="IAvatarReads"/>, <see cref="IDeadLetterStore"/>,
    /// <see cref="IRawZone"/>, <see cref="IAuditLog"/>, <see cref="IOperationsStore"/>, <see cref="IArchiveStore"/>,
    /// <see cref="IStoreAdmin"/> and <see cref="ISqlConsole"/>), all served by the same store. The store still has to be
    /// opened with <see cref="IRecordStore.InitializeAsync"/> before its first use, by whoever starts the engine.
    /// </summary>
    public static IServiceCollection AddDuckDbStore(this IServiceCollection services, Func<IServiceProvider, DuckDbStoreOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.TryAddSingleton(sp => new DuckDbStore(options(sp)));
        services.TryAddSingleton<IUsineStore>(sp => sp.GetRequiredService<DuckDbStore>());
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Commit);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Admin);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Records);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Avatars);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().DeadLetters);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().RawZone);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Audit);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Operations);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Archive);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().SqlConsole!);
        return services;
    }

    /// <summary>Registers the embedded DuckDB store with fixed options; see the overload that reads them from the container.</summary>
    public static IServiceCollection AddDuckDbStore(this IServiceCollection services, DuckDbStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DataDirectory, nameof(options));
        return services.AddDuckDbStore(_ => options);
    }
}
