using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Usine.Connectors.Sparkplug.Internal;
using Usine.Sources;

namespace Usine.Connectors.Sparkplug;

/// <summary>
/// The registration of the sparkplug kind of source (Usine as a Sparkplug B primary host application) and of the
/// <c>sparkplug</c> payload format its messages are decoded with.
/// </summary>
public static class SparkplugConnectors
{
    /// <summary>What <c>kind:</c> says for a Sparkplug B source.</summary>
    public const string Kind = "sparkplug";

    /// <summary>The sparkplug kind; <paramref name="defaultBroker"/> is used by sources that name no broker.</summary>
    public static SourceKindRegistration Registration(string defaultBroker = "mqtt://127.0.0.1:1883") => new()
    {
        Name = Kind,
        Settings = new SparkplugSettingsValidator(defaultBroker),
        Formats = [SparkplugFormat.Instance],
        Start = (source, context) =>
        {
            var connector = new SparkplugSourceConnector(source, defaultBroker, context.Loggers.CreateLogger<SparkplugSourceConnector>(), context.Time);
            return context.Run(connector, connector.RunnerOptions);
        },
    };

    /// <summary>Registers the sparkplug kind of source in a container: <c>services.AddSparkplugConnectors()</c>.</summary>
    public static IServiceCollection AddSparkplugConnectors(this IServiceCollection services, string defaultBroker = "mqtt://127.0.0.1:1883")
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(Registration(defaultBroker));
        return services;
    }
}

/// <summary>The check of a sparkplug source's <c>settings:</c>, run by the definitions loader so that a bad setting names its line.</summary>
public sealed class SparkplugSettingsValidator(string defaultBroker = "mqtt://127.0.0.1:1883") : ISourceSettingsValidator
{
    public void Validate(SourceDefinition source)
    {
        ArgumentNullException.ThrowIfNull(source);
        _ = SparkplugSourceSettings.Parse(source, defaultBroker);
        if (!string.Equals(source.Format.ToString(), SparkplugFormat.Instance.Name, StringComparison.OrdinalIgnoreCase))
        {
            throw new SourceSettingException("format", $"source '{source.Id}' is of kind sparkplug, whose messages are Sparkplug B payloads; leave format out or write format: sparkplug");
        }
    }
}
