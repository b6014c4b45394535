namespace Usine.Server.Security;

/// <summary>
/// What a plant scope (null: every plant) lets a caller see of sources and dead letters. The API and the web UI
/// both ask here, so that a key reads the same through either.
/// </summary>
internal static class PlantScopes
{
    /// <summary>Whether the data of <paramref name="source"/> is in the plants: a source without a fixed plant spans plants and needs every plant.</summary>
    public static bool MayRead(IReadOnlySet<string>? plants, SourceDefinition source) =>
        plants is null || (source.Plant.Constant is { } plant && plants.Contains(plant));

    /// <summary>
    /// Whether something about a source (a job, an alert, counts) may be shown: no source is the platform's own; a
    /// source no longer defined is shown only to callers of every plant.
    /// </summary>
    public static bool MayReadSource(IReadOnlySet<string>? plants, UsineDefinitions definitions, string? sourceId) =>
        plants is null || sourceId is null || (definitions.Sources.TryGetValue(sourceId, out var source) && MayRead(plants, source));

    /// <summary>The sources whose data the plants cover; null when every plant may be read.</summary>
    public static IReadOnlySet<string>? ReadableSources(IReadOnlySet<string>? plants, UsineDefinitions definitions) => plants is null
        ? null
        : definitions.Sources.Values.Where(s => MayRead(plants, s)).Select(s => s.Id).ToHashSet(StringComparer.Ordinal);

    /// <summary>A dead-letter filter kept to the plants: a letter's own plant, or its source's when its plant is not known.</summary>
    public static DeadLetterFilter Scoped(IReadOnlySet<string>? plants, UsineDefinitions definitions, DeadLetterFilter filter) =>
        plants is null ? filter : filter with { Plants = plants, Sources = ReadableSources(plants, definitions) };

    /// <summary>False when dead letter <paramref name="id"/> exists and belongs to another plant; true otherwise (a missing letter is answered as missing).</summary>
    public static bool MayReadDeadLetter(IReadOnlySet<string>? plants, IDeadLetterStore deadLetters, UsineDefinitions definitions, long id) =>
        plants is null
        || deadLetters.Owner(id) is not var (source, plant)
        || (plant is not null ? plants.Contains(plant) : ReadableSources(plants, definitions)!.Contains(source));
}
