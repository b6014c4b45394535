using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Usine.Ingestion;
using Usine.Operations;

namespace Usine.Sources;

/// <summary>
/// One kind of source as its connector project registers it: its name (what <c>kind:</c> says in YAML), the
/// check of its settings, and how a source of the kind starts. Nothing outside the registrations knows kinds:
/// the definitions loader looks the name up to validate, the platform looks it up to start.
/// </summary>
public sealed partial record SourceKindRegistration
{
    /// <summary>The kind's name, lower case: <c>mqtt</c>, <c>file</c>, <c>http</c>...</summary>
    public required string Name
    {
        get;
        init => field = KindName().IsMatch(value) ? value : throw new ArgumentException($"a source kind's name is lower-case letters, digits and '-', starting with a letter, not '{value}'", nameof(value));
    }

    /// <summary>Checks the settings of a source of this kind as the definitions are read; null: the kind takes no settings.</summary>
    public ISourceSettingsValidator? Settings { get; init; }

    /// <summary>Starts what brings a source's data in; null for a kind whose data only comes by push or import.</summary>
    public Func<SourceDefinition, SourceStartContext, ILiveSource>? Start { get; init; }

    /// <summary>
    /// The payload formats the kind brings besides JSON and CSV (a protocol's own payload, decoded into many
    /// messages): registered with the kind, they can be named by <c>format:</c> in any source.
    /// </summary>
    public IReadOnlyList<PayloadFormat> Formats { get; init; } = [];

    /// <summary>
    /// The format of the kind's sources that do not say <c>format:</c> (a protocol whose payloads have one format,
    /// such as sparkplug); null: JSON. It should be one of <see cref="Formats"/>.
    /// </summary>
    public PayloadFormat? DefaultFormat { get; init; }

    [GeneratedRegex("^[a-z][a-z0-9-]{0,31}$")]
    private static partial Regex KindName();
}

/// <summary>What a live source is started with: the platform's services, and the stream job of the source.</summary>
/// <param name="Ingestor">Where batches go: the engine.</param>
/// <param name="Job">The source's stream job, which the runner keeps up to date.</param>
/// <param name="Jobs">Every job of the process, for the bounded runs a live source starts (each file of a drop folder).</param>
/// <param name="Streams">What the store keeps about streams besides their checkpoint: the CSV header and the line count of a file.</param>
/// <param name="Loggers">The loggers of the process.</param>
/// <param name="Time">The clock.</param>
/// <param name="DataDirectory">The data directory; relative folders of sources are read from it.</param>
public sealed record SourceStartContext(IIngestor Ingestor, Job Job, JobRegistry Jobs, ISourceStreams Streams, ILoggerFactory Loggers, TimeProvider Time, string DataDirectory)
{
    /// <summary>The connector of the source on a runner into the engine, keeping the source's stream job: what most kinds start.</summary>
    public SourceRunner Run(ISourceConnector connector, SourceRunnerOptions options) =>
        new(connector, Ingestor, options, Job, Loggers.CreateLogger<SourceRunner>(), Time);
}

/// <summary>A started source: runs until cancelled, and says how it goes.</summary>
public interface ILiveSource
{
    /// <summary>Runs until <paramref name="cancellationToken"/> is cancelled; throws only when retrying cannot help.</summary>
    Task RunAsync(CancellationToken cancellationToken);

    /// <summary>Its state for status pages (running, connecting, retrying, degraded...) and its last error.</summary>
    (string State, string? LastError) Status { get; }

    /// <summary>
    /// Whether it says itself that its commits fail (it holds the messages unacknowledged with its peer and is
    /// retrying); otherwise the platform marks its stream job degraded while they fail.
    /// </summary>
    bool ReportsCommitFailures { get; }
}

/// <summary>What the store keeps about a stream besides its checkpoint, for the connectors that name their streams per file or header.</summary>
public interface ISourceStreams
{
    /// <summary>Records the stream of a source, with its kind, name (a file name) and CSV header, so its lines can be read again.</summary>
    Task RegisterStreamAsync(string streamId, string sourceId, string kind, string? name, IReadOnlyList<string>? csvHeader, CancellationToken cancellationToken);

    /// <summary>The stream was read to its end: <paramref name="lines"/> is its count, <paramref name="declared"/> the count its producer gave, for reconciliation.</summary>
    Task CompleteStreamAsync(string streamId, long lines, long? declared, CancellationToken cancellationToken);
}

/// <summary>The registered kinds of source, by name; a kind is registered once.</summary>
public sealed class SourceKindRegistry
{
    private readonly Dictionary<string, SourceKindRegistration> _kinds = new(StringComparer.OrdinalIgnoreCase);

    public SourceKindRegistry(IEnumerable<SourceKindRegistration> registrations)
    {
        foreach (var kind in registrations)
        {
            if (!_kinds.TryAdd(kind.Name, kind))
            {
                throw new ArgumentException($"source kind '{kind.Name}' is registered twice; each connector registers its kinds once", nameof(registrations));
            }
        }

        Formats = new PayloadFormats(_kinds.Values.SelectMany(k => k.DefaultFormat is { } d ? [.. k.Formats, d] : k.Formats));
    }

    /// <summary>JSON, CSV and the formats the kinds bring: what <c>format:</c> may name.</summary>
    public PayloadFormats Formats { get; }

    /// <summary>The registered names, in order.</summary>
    public IReadOnlyList<string> Names => [.. _kinds.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The registration of <paramref name="name"/> (any case), or null.</summary>
    public SourceKindRegistration? Find(string name) => _kinds.GetValueOrDefault(name);

    /// <summary>The registration of a source's kind; throws naming the registered kinds when there is none.</summary>
    public SourceKindRegistration Of(SourceDefinition source) =>
        Find(source.Kind) ?? throw new ArgumentException($"source '{source.Id}' is of kind '{source.Kind}', which no connector registers (kinds: {string.Join(", ", Names)})", nameof(source));
}
