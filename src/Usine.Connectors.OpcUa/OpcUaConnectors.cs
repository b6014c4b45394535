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

    private static OpcUaLiveSource Start(SourceDefinition source, SourceStartContext context, OpcUaConnectorOptions options)
    {
        var connector = new OpcUaSourceConnector(source, options, context.DataDirectory, context.Loggers.CreateLogger<OpcUaSourceConnector>(), context.Time);
        return new OpcUaLiveSource(context.Run(connector, connector.RunnerOptions), connector, context.Job);
    }

    /// <summary>Registers the opcua kind of source in a container: <c>services.AddOpcUaConnectors()</c>.</summary>
    public static IServiceCollection AddOpcUaConnectors(this IServiceCollection services, OpcUaConnectorOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(Registration(options));
        return services;
    }
}

/// <summary>
/// A started opcua source: its runner, and the gaps its connector reported (notification messages the server no
/// longer had, subscriptions lost with their session), which the platform adds to reconciliation and the stream
/// job counts (<see cref="Usine.Operations.Job.SequenceGaps"/>).
/// </summary>
public sealed class OpcUaLiveSource : ILiveSource, ILiveSourceParts
{
    private readonly OpcUaSourceConnector _connector;

    public OpcUaLiveSource(SourceRunner runner, OpcUaSourceConnector connector, Usine.Operations.Job? job = null)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(connector);
        Runner = runner;
        _connector = connector;
        if (job is not null)
        {
            connector.GapReported += _ => job.CountSequenceGaps(1);
        }
    }

    public SourceRunner Runner { get; }

    public Task RunAsync(CancellationToken cancellationToken) => ((ILiveSource)Runner).RunAsync(cancellationToken);

    public (string State, string? LastError) Status => ((ILiveSource)Runner).Status;

    public bool ReportsCommitFailures => ((ILiveSource)Runner).ReportsCommitFailures;

    /// <summary>An OPC UA source follows no parts of its own: the server is the source.</summary>
    public IReadOnlyList<SourcePart> Parts => [];

    public IReadOnlyList<Usine.Operations.SequenceGap> SequenceGaps => _connector.SequenceGaps;
}
