using Microsoft.AspNetCore.Http;
using Usine.Storage.DuckDb;

namespace Usine.Server.Endpoints;

/// <summary>
/// The plants a request may read. Authentication sets it on the request; without it every plant is readable.
/// Every exploration read passes it to the store, which filters on it.
/// </summary>
public sealed record PlantScope(IReadOnlySet<string> Plants);

/// <summary>Parameters shared by the record, aggregate and export endpoints.</summary>
internal static class Explore
{
    public static IReadOnlySet<string>? Plants(HttpContext http) => http.Features.Get<PlantScope>()?.Plants;

    public static ExploreSchema? Schema(UsinePlatform p, string model) => p.Store.Schema(model);

    public static IResult UnknownModel(UsinePlatform p, string name) =>
        Errors.NotFound($"no model named '{name}' (models: {string.Join(", ", p.Definitions.Models.Keys.Order(StringComparer.Ordinal))})");

    public static DateTime? Time(string? text, string parameter) => text is null
        ? null
        : ExploreSchema.ParseTime(text) ?? throw new ArgumentException($"{parameter}: '{text}' is not an ISO 8601 time such as 2026-11-26T08:00:00Z");

    public static RecordFilter Filter(ExploreSchema schema, string? from, string? to, string? plant, string? avatar, string? source, string[]? where)
    {
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
