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
        DefaultFormat = SparkplugFormat.Instance,
        Start = (source, context) =>
        {
            var connector = new SparkplugSourceConnector(source, defaultBroker, context.Loggers.CreateLogger<SparkplugSourceConnector>(), context.Time);
            return new SparkplugLiveSource(context.Run(connector, connector.RunnerOptions), connector.Host);
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

/// <summary>
/// A started sparkplug source: its runner, with a status that also says which edge nodes and devices are
/// offline and what the host counted (seq gaps, rebirth requests), as status pages show it.
/// </summary>
public sealed class SparkplugLiveSource(SourceRunner runner, SparkplugHost host) : ILiveSource
{
    public SourceRunner Runner { get; } = runner;

    public SparkplugHost Host { get; } = host;

    public Task RunAsync(CancellationToken cancellationToken) => ((ILiveSource)Runner).RunAsync(cancellationToken);

    public bool ReportsCommitFailures => ((ILiveSource)Runner).ReportsCommitFailures;

    /// <summary>The runner's state; its last error, or else what the host has to report (offline edge nodes and devices, gaps), or null.</summary>
    public (string State, string? LastError) Status
    {
        get
        {
            var (state, error) = ((ILiveSource)Runner).Status;
            return (state, error ?? Describe(Host));
        }
    }

    /// <summary>What is wrong with the edge nodes, in one line: those offline, the devices offline, the gaps and rebirth requests; null when all is well.</summary>
    public static string? Describe(SparkplugHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var parts = new List<string>();
        foreach (var node in host.Nodes)
        {
            if (!node.Online)
            {
                parts.Add($"edge node {node.Group}/{node.Edge} offline since {node.Since:u} ({node.Reason})");
            }
            else if (node.Devices.Where(d => !d.Value).Select(d => d.Key).Order(StringComparer.Ordinal).ToList() is { Count: > 0 } devices)
            {
                parts.Add($"devices of edge node {node.Group}/{node.Edge} offline: {string.Join(", ", devices)}");
            }
        }

        var c = host.Counters;
        if (c.SeqGaps > 0 || c.RebirthRequests > 0)
        {
            parts.Add($"{c.SeqGaps} seq gap(s), {c.RebirthRequests} rebirth request(s)");
        }

        return parts.Count == 0 ? null : string.Join("; ", parts);
    }
}
