using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Internal;
using Usine.Sources;

namespace Usine.Connectors.OpcUa;

/// <summary>
/// The check of an opcua source's <c>settings:</c> that the definitions loader runs as it reads the source, so a
/// setting that cannot work stops start-up with its file and line — including a sign or sign-and-encrypt source
/// on a Usine that has no implementation of the policy.
/// </summary>
public sealed class OpcUaSettingsValidator(OpcUaConnectorOptions? options = null) : ISourceSettingsValidator
{
    private readonly OpcUaConnectorOptions _options = options ?? new OpcUaConnectorOptions();

    public void Validate(SourceDefinition source)
    {
        var settings = OpcUaSourceSettings.Parse(source);
        if (settings.Mode != MessageSecurityMode.None && !_options.SecurityProviders.Any(p => p.PolicyUri == OpcUaSourceConnector.Basic256Sha256))
        {
            throw new SourceSettingException("security", $"source '{source.Id}': security {source.Settings["security"]} needs the Basic256Sha256 policy, which this Usine has no implementation of registered; use security: none until it has");
        }
    }
}
