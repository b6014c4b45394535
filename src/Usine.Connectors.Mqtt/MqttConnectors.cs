using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Usine.Sources;

namespace Usine.Connectors.Mqtt;

/// <summary>The registration of the mqtt kind of source: its settings check, and how a source starts on the <see cref="SourceRunner"/>.</summary>
public static class MqttConnectors
{
    /// <summary>What <c>kind:</c> says for an MQTT source.</summary>
    public const string Kind = "mqtt";

    /// <summary>The mqtt kind, with <paramref name="options"/> shared by every MQTT source of the process.</summary>
    public static SourceKindRegistration Registration(MqttConnectorOptions? options = null)
    {
        var shared = options ?? new MqttConnectorOptions();
        shared.Validate();
        return new() { Name = Kind, Settings = new MqttSettingsValidator(shared), Start = (source, context) => Start(source, context, shared) };
    }

    private static SourceRunner Start(SourceDefinition source, SourceStartContext context, MqttConnectorOptions options)
    {
        var connector = new MqttSourceConnector(source, options, context.Loggers.CreateLogger<MqttSourceConnector>(), context.Time);
        return context.Run(connector, connector.RunnerOptions);
    }

    /// <summary>Registers the mqtt kind of source in a container: <c>services.AddMqttConnectors(new() { DefaultBroker = ... })</c>.</summary>
    public static IServiceCollection AddMqttConnectors(this IServiceCollection services, MqttConnectorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(Registration(options));
        return services;
    }
}
