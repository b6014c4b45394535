using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Usine.Operations;
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
            return new SparkplugLiveSource(context.Run(connector, connector.RunnerOptions), connector.Host, context.Job);
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
/// offline and what the host counted (seq gaps, rebirth requests), as status pages show it. Its edge nodes and
/// devices are the parts the platform shows on their avatars and alerts on (<see cref="ILiveSourceParts"/>), and
/// it keeps the source's stream job told: which edge nodes are offline (<see cref="Job.Detail"/>) and the seq gaps
/// (<see cref="Job.SequenceGaps"/>).
/// </summary>
public sealed class SparkplugLiveSource : ILiveSource, ILiveSourceParts
{
    public SparkplugLiveSource(SourceRunner runner, SparkplugHost host, Job? job = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(host);
        Runner = runner;
        Host = host;
        if (job is not null)
        {
            host.NodeChanged += _ => job.Detail = JobDetail(host);
            host.GapConfirmed += _ => job.CountSequenceGaps(1);
        }
    }

    public SourceRunner Runner { get; }

    public SparkplugHost Host { get; }

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

    /// <summary>
    /// Each edge node (<c>GROUP/EDGE</c>) and each of its devices (<c>GROUP/EDGE/DEVICE</c>) seen since the source
    /// started; an edge node known only from its data (no birth or death seen yet) is neither online nor offline, and left out.
    /// </summary>
    public IReadOnlyList<SourcePart> Parts => [.. Host.Nodes.SelectMany(PartsOf)];

    /// <summary>The seq gaps the host confirmed, by edge node.</summary>
    public IReadOnlyList<Usine.Operations.SequenceGap> SequenceGaps => Host.Gaps;

    private static IEnumerable<SourcePart> PartsOf(SparkplugNodeStatus node)
    {
        var name = node.Group + "/" + node.Edge;
        if (node.StateKnown)
        {
            yield return new SourcePart("edge node", name, node.Online, node.Since, node.Reason,
                new Dictionary<string, string?>(StringComparer.Ordinal) { ["group"] = node.Group, ["edge"] = node.Edge, ["device"] = null });
        }

        foreach (var (device, d) in node.DeviceStates.OrderBy(d => d.Key, StringComparer.Ordinal))
        {
            yield return new SourcePart("device", name + "/" + device, d.Online, d.Since, d.Reason,
                new Dictionary<string, string?>(StringComparer.Ordinal) { ["group"] = node.Group, ["edge"] = node.Edge, ["device"] = device });
        }
    }

    /// <summary>
    /// What the stream job says of the edge nodes beside its state: how many are offline of those seen, which and
    /// since when, and the devices offline while their edge node is online; null when every one is online.
    /// </summary>
    public static string? JobDetail(SparkplugHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var nodes = host.Nodes.Where(n => n.StateKnown).ToList();
        var parts = new List<string>();
        var offline = nodes.Where(n => !n.Online).ToList();
        if (offline.Count > 0)
        {
            parts.Add($"{offline.Count} of {nodes.Count} edge node{(nodes.Count == 1 ? "" : "s")} offline: "
                + string.Join(", ", offline.Select(n => $"{n.Group}/{n.Edge} since {n.Since:HH:mm:ss}Z ({n.Reason})")));
        }

        var devices = nodes.Where(n => n.Online).SelectMany(n => n.DeviceStates.Where(d => !d.Value.Online)
            .OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => $"{n.Group}/{n.Edge}/{d.Key} since {d.Value.Since:HH:mm:ss}Z ({d.Value.Reason})")).ToList();
        if (devices.Count > 0)
        {
            parts.Add($"device{(devices.Count == 1 ? "" : "s")} offline: {string.Join(", ", devices)}");
        }

        return parts.Count == 0 ? null : string.Join("; ", parts);
    }

    /// <summary>What is wrong with the edge nodes, in one line: those offline, the devices offline, the gaps and rebirth requests; null when all is well.</summary>
    public static string? Describe(SparkplugHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var parts = new List<string>();
        foreach (var node in host.Nodes.Where(n => n.StateKnown))
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
