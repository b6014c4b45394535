namespace Usine.Server.Endpoints;

/// <summary>
/// The plants a request may read. Authentication sets it on the request; without it every plant is readable.
/// Every exploration read passes it to the store, which filters on it.
/// </summary>
public sealed record PlantScope(IReadOnlySet<string> Plants);

/// <summary>A request for data outside the caller's plant scope: answered 403, with nothing of the data.</summary>
public sealed class OutOfScopeException(string message) : Exception(message);

/// <summary>Parameters shared by the record, aggregate and export endpoints.</summary>
internal static class Explore
{
    public static IReadOnlySet<string>? Plants(HttpContext http) => http.Features.Get<PlantScope>()?.Plants;

    /// <summary>Refuses a request that names a plant outside the caller's scope.</summary>
    public static void EnsurePlant(HttpContext http, string? plant, string parameter = "plant")
    {
        if (plant is not null && Plants(http) is { } plants && !plants.Contains(plant))
        {
            throw new OutOfScopeException($"{parameter}: this key or token may read only {Describe(plants)}, not '{plant}'");
        }
    }

    /// <summary>
    /// The sources whose data a plant-scoped caller may see: those with a fixed plant in its scope. A source whose
    /// plant comes from each message spans plants, so only an unscoped caller sees it. Null when unscoped.
    /// </summary>
    public static IReadOnlySet<string>? ReadableSources(HttpContext http, UsineDefinitions definitions) => PlantScopes.ReadableSources(Plants(http), definitions);

    /// <summary>The part of a dead-letter filter that keeps a plant-scoped caller to its plants (nothing for an unscoped one).</summary>
    public static DeadLetterFilter Scoped(HttpContext http, UsineDefinitions definitions, DeadLetterFilter filter) => PlantScopes.Scoped(Plants(http), definitions, filter);

    /// <summary>Refuses a dead letter outside the caller's scope: its plant, or its source's when its plant is not known.</summary>
    public static void EnsureDeadLetter(HttpContext http, IDeadLetterStore deadLetters, UsineDefinitions definitions, long id)
    {
        if (Plants(http) is { } plants && !PlantScopes.MayReadDeadLetter(plants, deadLetters, definitions, id))
        {
            throw new OutOfScopeException($"dead letter {id} is outside the plants this key or token may read ({Describe(plants)})");
        }
    }

    /// <summary>Refuses naming a source whose fixed plant is outside the caller's scope (a source of several plants may be named: its rows are filtered).</summary>
    public static void EnsureSourceInScope(HttpContext http, UsineDefinitions definitions, string sourceId)
    {
        if (Plants(http) is { } plants && definitions.Sources.TryGetValue(sourceId, out var source) && source.Plant.Constant is { } plant && !plants.Contains(plant))
        {
            throw new OutOfScopeException($"source '{sourceId}' is outside the plants this key or token may read ({Describe(plants)})");
        }
    }

    /// <summary>Refuses a request about a source outside the caller's scope.</summary>
    public static void EnsureSource(HttpContext http, UsineDefinitions definitions, string sourceId)
    {
        if (ReadableSources(http, definitions) is { } readable && !readable.Contains(sourceId))
        {
            throw new OutOfScopeException($"source '{sourceId}' is outside the plants this key or token may read ({Describe(Plants(http)!)})");
        }
    }

    private static string Describe(IReadOnlySet<string> plants) => plants.Count == 0 ? "no plant" : "plant " + string.Join(", ", plants.Order(StringComparer.Ordinal));

    public static ExploreSchema? Schema(IRecordReads records, string model) => records.Schema(model);

    public static IResult UnknownModel(UsineDefinitions definitions, string name) =>
        Errors.NotFound($"no model named '{name}' (models: {string.Join(", ", definitions.Models.Keys.Order(StringComparer.Ordinal))})");

    public static DateTime? Time(string? text, string parameter) => text is null
        ? null
        : ExploreSchema.ParseTime(text) ?? throw new ArgumentException($"{parameter}: '{text}' is not an ISO 8601 time such as 2026-11-26T08:00:00Z");

    public static RecordFilter Filter(HttpContext http, ExploreSchema schema, string? from, string? to, string? plant, string? avatar, string? source, string[]? where)
    {
        EnsurePlant(http, plant);
        var filter = new RecordFilter
        {
            From = Time(from, "from"),
            To = Time(to, "to"),
            Plant = plant,
            Avatar = avatar,
            Source = source,
            Where = [.. (where ?? []).Select(schema.ParseWhere)],
        };
        if (filter.From is { } f && filter.To is { } t && f >= t)
        {
            throw new ArgumentException($"from: {from} is not before to ({to})");
        }

        return filter;
    }
}
