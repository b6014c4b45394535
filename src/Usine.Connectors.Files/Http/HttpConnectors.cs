using Microsoft.Extensions.DependencyInjection;
using Usine.Sources;

namespace Usine.Connectors.Http;

/// <summary>The registration of the http kind of source: data comes by push (<see cref="HttpPush"/>), so it starts nothing and takes no settings.</summary>
public static class HttpConnectors
{
    /// <summary>What <c>kind:</c> says for a source fed by HTTP push.</summary>
    public const string Kind = "http";

    public static SourceKindRegistration Registration() => new() { Name = Kind };

    /// <summary>Registers the http kind of source in a container.</summary>
    public static IServiceCollection AddHttpConnectors(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(Registration());
        return services;
    }
}
