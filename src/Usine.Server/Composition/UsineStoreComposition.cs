using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Usine.Storage.DuckDb;

namespace Usine.Server;

/// <summary>
/// The one place of the server that names the store's implementation: the embedded DuckDB store, with its settings
/// read from the <c>Usine:Store</c> section. Every other part of the server sees <see cref="IUsineStore"/> and its facets.
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
        var options = UsineConfiguration.Bind(configuration, Section, new DuckDbStoreOptions { DataDirectory = platform.DataDirectory }, strict: true);
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
}
