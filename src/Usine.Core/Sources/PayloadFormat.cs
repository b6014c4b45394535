using System.Diagnostics.CodeAnalysis;
using Usine.Pipeline;

namespace Usine.Sources;

/// <summary>
/// A payload format a source's <c>format:</c> names: it reads its own options from the source definition and
/// makes the decoder that turns one raw message into zero or more messages for the mapping stage. Core
/// registers <see cref="Json"/> and <see cref="Csv"/>; another format registers in <see cref="PayloadFormats"/>.
/// </summary>
public abstract class PayloadFormat
{
    /// <summary>One JSON object per message (MQTT, HTTP) or per line (files: NDJSON); a file may also hold one JSON array.</summary>
    public static PayloadFormat Json { get; } = new JsonFormat();

    /// <summary>Comma-separated values with a header line.</summary>
    public static PayloadFormat Csv { get; } = new CsvFormat();

    /// <summary>What <c>format:</c> says, lower case, such as <c>json</c>.</summary>
    public abstract string Name { get; }

    /// <summary>Keys of a source definition this format reads beside the common ones (CSV: <c>delimiter</c>). Default none.</summary>
    public virtual IReadOnlyList<string> SourceKeys => [];

    /// <summary>
    /// Reads the format's options from the values of its <see cref="SourceKeys"/> that the source sets; the result
    /// becomes <see cref="SourceDefinition.FormatOptions"/>. A bad value throws <see cref="ArgumentException"/> whose
    /// <see cref="ArgumentException.ParamName"/> is the key, so that the error names its line. Default: no options.
    /// </summary>
    public virtual object? ReadOptions(IReadOnlyDictionary<string, string> values) => null;

    /// <summary>A decoder for one processing lane of <paramref name="source"/>: it may keep state between messages, never between threads.</summary>
    public abstract IPayloadDecoder CreateDecoder(SourceDefinition source);

    public override string ToString() => Name;
}

/// <summary>
/// The formats sources may name, built from registrations: <see cref="PayloadFormat.Json"/> and
/// <see cref="PayloadFormat.Csv"/> always, then those given. Two formats of the same name are refused.
/// </summary>
public sealed class PayloadFormats
{
    // Case aside, as the enum the names replace was read.
    private readonly Dictionary<string, PayloadFormat> _byName = new(StringComparer.OrdinalIgnoreCase);

    public PayloadFormats(IEnumerable<PayloadFormat> formats)
    {
        foreach (var format in (IEnumerable<PayloadFormat>)[PayloadFormat.Json, PayloadFormat.Csv, .. formats])
        {
            if (_byName.TryGetValue(format.Name, out var known))
            {
                if (!ReferenceEquals(known, format))
                {
                    throw new ArgumentException($"format '{format.Name}' is registered twice ({known.GetType().Name} and {format.GetType().Name})", nameof(formats));
                }

                continue;
            }

            _byName[format.Name] = format;
        }

        SourceKeys = [.. _byName.Values.SelectMany(f => f.SourceKeys).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>JSON and CSV only.</summary>
    public static PayloadFormats Default { get; } = new([]);

    /// <summary>The registered names, in registration order.</summary>
    public IEnumerable<string> Names => _byName.Keys;

    /// <summary>The source keys some registered format reads.</summary>
    public IReadOnlyList<string> SourceKeys { get; }

    public bool TryGet(string name, [NotNullWhen(true)] out PayloadFormat? format) => _byName.TryGetValue(name, out format);
}
