using Usine.Pipeline;

namespace Usine.Sources;

/// <summary>Where in the plant hierarchy a source's messages belong; each level is a template.</summary>
public sealed record SourceContext
{
    public Template? Shop { get; init; }
    public Template? Line { get; init; }
    public Template? Station { get; init; }
}

/// <summary>One configured origin of data.</summary>
public sealed record SourceDefinition
{
    public required string Id { get; init; }

    /// <summary>The plant, a template: a constant such as <c>flins</c>, or <c>{$.plant}</c> for sources spanning plants.</summary>
    public required Template Plant { get; init; }

    /// <summary>The kind, lower case, as a connector registers it (<see cref="SourceKindRegistration"/>): <c>mqtt</c>, <c>file</c>, <c>http</c>...</summary>
    public required string Kind { get; init; }

    /// <summary>The format of its payloads, which decodes each into messages (<c>format:</c>, registered in <see cref="PayloadFormats"/>). Default JSON.</summary>
    public PayloadFormat Format { get; init; } = PayloadFormat.Json;

    /// <summary>Model name; <see cref="ModelVersion"/> pins a version, otherwise the newest is used.</summary>
    public required string Model { get; init; }
    public int? ModelVersion { get; init; }

    /// <summary>Field name → mapping expression. Fields not listed are read from the property of the same name.</summary>
    public IReadOnlyDictionary<string, FieldMapping> Map { get; init; } = new Dictionary<string, FieldMapping>();

    public SourceContext Context { get; init; } = new();

    /// <summary>Expected time between messages; silence beyond it is a failure signal. Null: no expectation.</summary>
    public TimeSpan? ExpectEvery { get; init; }

    /// <summary>Largest message accepted, in bytes; a bigger one becomes a dead letter. Default 1 MiB.</summary>
    public int MaxPayloadBytes { get; init; } = 1 << 20;

    /// <summary>What <see cref="Format"/> read from the source's keys (<see cref="CsvOptions"/> for CSV); null: its defaults.</summary>
    public object? FormatOptions { get; init; }

    /// <summary>
    /// The connector's settings (topic, broker URL, client id, QoS; a folder and a file pattern...), which its
    /// kind's <see cref="ISourceSettingsValidator"/> checks. The keys a source may also write at its top level in
    /// YAML (<c>topic</c>, <c>path</c>, <c>pattern</c>) are folded in here.
    /// </summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    public string? Description { get; init; }
    public string? Origin { get; init; }

    /// <summary>The folder of the file that defines the source; relative file paths in <see cref="Settings"/> are read from it. Null: the current directory.</summary>
    public string? Directory { get; init; }
}
