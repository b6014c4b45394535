using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Usine.Ingestion;

namespace Usine.Storage.Postgres;

/// <summary>Registers the PostgreSQL store in a service container.</summary>
public static class PostgresStoreServiceCollectionExtensions
{
    /// <summary>
    /// Registers one <see cref="PostgresStore"/> as <see cref="IUsineStore"/> and each of its facets on its own
    /// (<see cref="IRecordStore"/>, <see cref="IRecordReads"/>, <see cref="IAvatarReads"/>, <see cref="IDeadLetterStore"/>,
    /// <see cref="IRawZone"/>, <see cref="IAuditLog"/>, <see cref="IOperationsStore"/>, <see cref="IArchiveStore"/> and
    /// <see cref="IStoreAdmin"/>), all served by the same store. It offers no <see cref="ISqlConsole"/>. The store still has
    /// to be opened with <see cref="IRecordStore.InitializeAsync"/> before its first use, by whoever starts the engine.
    /// </summary>
    public static IServiceCollection AddPostgresStore(this IServiceCollection services, Func<IServiceProvider, PostgresStoreOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        services.TryAddSingleton(sp => new PostgresStore(options(sp)));
        services.TryAddSingleton<IUsineStore>(sp => sp.GetRequiredService<PostgresStore>());
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Commit);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Admin);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Records);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Avatars);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().DeadLetters);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().RawZone);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Audit);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Operations);
        services.TryAddSingleton(sp => sp.GetRequiredService<IUsineStore>().Archive);
        return services;
    }

    /// <summary>Registers the PostgreSQL store with fixed options; see the overload that reads them from the container.</summary>
    public static IServiceCollection AddPostgresStore(this IServiceCollection services, PostgresStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.ConnectionString, nameof(options));
        return services.AddPostgresStore(_ => options);
    }
}
