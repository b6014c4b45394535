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
        options ??= new MqttConnectorOptions();
        options.Validate();
        return new SourceKindRegistration
        {
            Name = Kind,
            Settings = new MqttSettingsValidator(options),
            Start = (source, context) =>
            {
                var connector = new MqttSourceConnector(source, options, context.Loggers.CreateLogger<MqttSourceConnector>(), context.Time);
                return new SourceRunner(connector, context.Ingestor, connector.RunnerOptions, context.Job, context.Loggers.CreateLogger<SourceRunner>(), context.Time);
            },
        };
    }

    /// <summary>Registers the mqtt kind of source in a container: <c>services.AddMqttConnectors(new() { DefaultBroker = ... })</c>.</summary>
    public static IServiceCollection AddMqttConnectors(this IServiceCollection services, MqttConnectorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(Registration(options));
        return services;
    }
}
