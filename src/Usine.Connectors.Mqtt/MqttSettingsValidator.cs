using Usine.Connectors.Mqtt.Internal;
using Usine.Sources;

namespace Usine.Connectors.Mqtt;

/// <summary>
/// The check of an mqtt source's <c>settings:</c> (and topic) that the definitions loader runs as it reads the
/// source, so a setting that cannot work stops start-up with its file and line. It reads the certificate files
/// too: a missing CA file or a key that does not match its certificate is a definition error, not a connection
/// that keeps failing.
/// </summary>
public sealed class MqttSettingsValidator(MqttConnectorOptions? options = null) : ISourceSettingsValidator
{
    private readonly MqttConnectorOptions _options = options ?? new MqttConnectorOptions();

    public void Validate(SourceDefinition source)
    {
        var settings = MqttSourceSettings.Parse(source, _options);
        settings.Tls?.Dispose();
    }
}
