using Microsoft.Extensions.Configuration;

namespace Usine.Server;

/// <summary>Reads settings records from the configuration (appsettings.json, environment variables, flags).</summary>
internal static class UsineConfiguration
{
    /// <summary>
    /// Binds <paramref name="section"/> over <paramref name="defaults"/>. With <paramref name="strict"/>, a key the record
    /// does not have is refused, so that a misspelt setting is not silently ignored.
    /// </summary>
    public static T Bind<T>(IConfiguration configuration, string section, T defaults, bool strict)
        where T : class
    {
        try
        {
            configuration.GetSection(section).Bind(defaults, o => o.ErrorOnUnknownConfiguration = strict);
        }
        catch (InvalidOperationException ex)
        {
            throw new ArgumentException($"the settings under {section} cannot be read: {ex.Message} (docs/configuration.md lists them)", ex);
        }

        return defaults;
    }
}
