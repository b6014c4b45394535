using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Usine.Sources;

namespace Usine.Connectors.OpcUa;

/// <summary>The registration of the opcua kind of source: its settings check, and how a source starts on the <see cref="SourceRunner"/>.</summary>
public static class OpcUaConnectors
{
    /// <summary>What <c>kind:</c> says for an OPC UA source.</summary>
    public const string Kind = "opcua";

    /// <summary>The opcua kind, with <paramref name="options"/> shared by every OPC UA source of the process.</summary>
    public static SourceKindRegistration Registration(OpcUaConnectorOptions? options = null)
    {
        var shared = options ?? new OpcUaConnectorOptions();
        shared.Validate();
        return new() { Name = Kind, Settings = new OpcUaSettingsValidator(shared), Start = (source, context) => Start(source, context, shared) };
    }

    private static SourceRunner Start(SourceDefinition source, SourceStartContext context, OpcUaConnectorOptions options)
    {
        var connector = new OpcUaSourceConnector(source, options, context.DataDirectory, context.Loggers.CreateLogger<OpcUaSourceConnector>(), context.Time);
        return context.Run(connector, connector.RunnerOptions);
    }

    /// <summary>Registers the opcua kind of source in a container: <c>services.AddOpcUaConnectors()</c>.</summary>
    public static IServiceCollection AddOpcUaConnectors(this IServiceCollection services, OpcUaConnectorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(Registration(options));
        return services;
    }
}
