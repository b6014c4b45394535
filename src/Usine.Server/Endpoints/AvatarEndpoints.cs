namespace Usine.Server.Endpoints;

internal static class AvatarEndpoints
{
    private static readonly string[] Views = ["children", "ancestors", "history", "links"];

    public static IEndpointRouteBuilder MapAvatars(this IEndpointRouteBuilder app)
    {
        var avatars = app.MapGroup("/api/avatars").WithTags("Avatars");
        avatars.MapGet("/", (string? q, string? type, string? plant, int? limit, IAvatarReads avatars, UsineDefinitions definitions, HttpContext http) =>
        {
            var n = limit ?? 50;
            if (n is < 1 or > 10_000)
            {
                throw new ArgumentException($"limit: {n} is not between 1 and 10000");
            }

            Explore.EnsurePlant(http, plant);
            var plants = Explore.Plants(http);
            var found = avatars.SearchAvatars(q, type, plant, n, plants, AttributeFilter(http, definitions));
            var attributes = avatars.AvatarAttributes([.. found.Select(a => a.Key)], plants);
            return TypedResults.Ok(found.Select(a => new
            {
                type = a.Type,
                id = a.Id,
                plant = a.Plant,
                firstSeen = a.FirstSeen,
                attributes = Attributes(attributes.GetValueOrDefault(a.Key)),
            }));
        }).WithSummary("Search avatars by id prefix (any case), type, plant and attributes (attr.NAME=VALUE)");

        // Ids without slashes (VINs, serials) or with them escaped (%2F) match these routes; ids with plain
        // slashes (stations: flins/assembly/L1/ST040) reach the catch-all below, which reads the suffix.
        avatars.MapGet("/{id}/children", (string id, string? type, int? limit, IAvatarReads avatars, TimeProvider time, HttpContext http) => View(id, type, "children", http, avatars, time))
            .WithSummary("The avatars whose parent is this one");
        avatars.MapGet("/{id}/ancestors", (string id, string? type, IAvatarReads avatars, TimeProvider time, HttpContext http) => View(id, type, "ancestors", http, avatars, time))
            .WithSummary("The chain of parents of an avatar, the plant first");
        avatars.MapGet("/{id}/history", (string id, string? type, string? from, string? to, int? limit, IAvatarReads avatars, TimeProvider time, HttpContext http) => View(id, type, "history", http, avatars, time))
            .WithSummary("Every record of every model about an avatar in a time range, newest first");
        avatars.MapGet("/{id}/links", (string id, string? type, string? at, IAvatarReads avatars, TimeProvider time, HttpContext http) => View(id, type, "links", http, avatars, time))
            .WithSummary("The links of an avatar valid at a time (default: now)");
        avatars.MapGet("/{*id}", async Task<IResult> (string id, string? type, IAvatarReads avatars, TimeProvider time, UsineDefinitions definitions, SourceHost sources, HttpContext http) =>
        {
            var slash = id.LastIndexOf('/');
            return slash > 0 && Views.Contains(id[(slash + 1)..]) && !Exists(avatars, Uri.UnescapeDataString(id))
                ? await View(id[..slash], type, id[(slash + 1)..], http, avatars, time)
                : Detail(id, type, http, avatars, definitions, sources);
        }).WithSummary("One avatar: hierarchy, links, record counts and recent records");
        return app;
    }

    /// <summary>
    /// The <c>attr.NAME=VALUE</c> parameters of a search: every name must hold, with one of its values when it is
    /// repeated. A name no model declares is refused, so that a typo does not answer an empty list.
    /// </summary>
    private static Dictionary<string, IReadOnlyList<string>> AttributeFilter(HttpContext http, UsineDefinitions definitions)
    {
        var filter = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        HashSet<string>? declared = null;
        foreach (var (key, values) in http.Request.Query)
        {
            if (!key.StartsWith("attr.", StringComparison.Ordinal))
            {
                continue;
            }

            var name = key["attr.".Length..];
            declared ??= definitions.Models.Values.SelectMany(v => v.All).SelectMany(m => m.Avatar?.Attributes ?? []).Select(a => a.Name)
                .ToHashSet(StringComparer.Ordinal);
            if (!declared.Contains(name))
            {
                throw new ArgumentException($"{key}: no model gives avatars an attribute '{name}' "
                    + $"(attributes: {(declared.Count == 0 ? "none; declare them under avatar: attributes in a model" : string.Join(", ", declared.Order(StringComparer.Ordinal)))})");
            }

            filter[name] = [.. values.OfType<string>()];
        }

        return filter;
    }

    private static Dictionary<string, string> Attributes(List<AvatarAttributeRow>? rows) =>
        (rows ?? []).ToDictionary(x => x.Name, x => x.Value, StringComparer.Ordinal);

    private static bool Exists(IAvatarReads avatars, string id) => avatars.FindAvatars(id, null).Count > 0;

    private static object Short(AvatarRow a) => new { type = a.Type, id = a.Id, plant = a.Plant, firstSeen = a.FirstSeen };

    /// <summary>The one avatar an id names, or the error to answer.</summary>
    private static (AvatarRow? Avatar, IResult? Error) Find(string id, string? type, IAvatarReads avatars, IReadOnlySet<string>? plants)
    {
        // Hierarchy ids hold slashes; a client may send them as they are or escaped (%2F), which the
        // router leaves escaped in a catch-all segment.
        id = Uri.UnescapeDataString(id);
        var found = avatars.FindAvatars(id, type, plants);
        if (found.Count == 0 && plants is not null && avatars.FindAvatars(id, type, null).Count > 0)
        {
            throw new OutOfScopeException($"avatar '{id}' is outside the plants this key or token may read");
        }

        if (found.Count == 0)
        {
            // An id is often typed without its path (OV1 for arlon/OV1): say which ids were probably meant.
            var suggestions = avatars.SuggestAvatars(id, type, 5, plants).Select(a => a.Id).Distinct(StringComparer.Ordinal).ToList();
            var message = type is null ? $"no avatar with id '{id}'" : $"no avatar of type '{type}' with id '{id}'";
            if (suggestions.Count > 0)
            {
                message += $"; did you mean {string.Join(" or ", suggestions)}?";
            }

            return (null, TypedResults.Json(new NotFoundWithSuggestions(message, suggestions), statusCode: StatusCodes.Status404NotFound));
        }

        if (found.Count > 1)
        {
            return (null, Errors.Status(StatusCodes.Status409Conflict, $"several avatars have id '{id}': add ?type= one of {string.Join(", ", found.Select(a => a.Type))}"));
        }

        return (found[0], null);
    }

    private static async Task<IResult> View(string id, string? type, string view, HttpContext http, IAvatarReads avatars, TimeProvider time)
    {
        var plants = Explore.Plants(http);
        var (a, error) = Find(id, type, avatars, plants);
        if (a is null)
        {
            return error!;
        }

        var query = http.Request.Query;
        int Limit(int fallback)
        {
            var text = query["limit"].ToString();
            if (text.Length == 0)
            {
                return fallback;
            }

            return int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 10_000
                ? n
                : throw new ArgumentException($"limit: '{text}' is not a number between 1 and 10000");
        }

        switch (view)
        {
            case "children":
                return TypedResults.Ok(avatars.Children(a.Key, Limit(1000), plants).Select(Short));
            case "ancestors":
                return TypedResults.Ok(avatars.Ancestors(a, plants).Select(Short));
            case "history":
                var records = await avatars.AvatarHistoryAsync(a.Key, Explore.Time(Text(query["from"]), "from"), Explore.Time(Text(query["to"]), "to"), Limit(1000), plants, http.RequestAborted);
                return TypedResults.Ok(new
                {
                    type = a.Type,
                    id = a.Id,
                    records = records.Select(r => new { model = r.Model, time = r.Time, recordId = r.RecordId, values = r.Values }),
                });
            default:
                var at = Explore.Time(Text(query["at"]), "at") ?? time.GetUtcNow().UtcDateTime;
                return TypedResults.Ok(new
                {
                    type = a.Type,
                    id = a.Id,
                    at,
                    links = avatars.LinksAt(a.Key, at, plants).Select(l => new { kind = l.Kind, type = l.To.Type, id = l.To.Id, plant = l.To.Plant, from = l.From, until = l.Until }),
                });
        }
    }

    private static string? Text(Microsoft.Extensions.Primitives.StringValues v) => v.Count == 0 ? null : v.ToString();

    /// <summary>The 404 of an unknown avatar id: the error line, and the ids it probably meant.</summary>
    internal sealed record NotFoundWithSuggestions(string Error, IReadOnlyList<string> Suggestions);

    private static IResult Detail(string id, string? type, HttpContext http, IAvatarReads avatars, UsineDefinitions definitions, SourceHost sources)
    {
        var plants = Explore.Plants(http);
        var (a, error) = Find(id, type, avatars, plants);
        if (a is null)
        {
            return error!;
        }

        var ancestors = avatars.Ancestors(a, plants);
        var (counts, recent) = avatars.AvatarRecords(a.Key, 20, plants);
        var parts = LiveParts.OfAvatar(a.Type, a.Id, a.Plant, definitions, sources);
        var state = parts.Count > 0 ? parts[0] : default;
        return TypedResults.Ok(new
        {
            key = a.Key,
            type = a.Type,
            id = a.Id,
            plant = a.Plant,
            firstSeen = a.FirstSeen,
            earliestEvent = avatars.EarliestEvent(a.Key, plants),
            attributes = Attributes(avatars.AvatarAttributes([a.Key], plants).GetValueOrDefault(a.Key)),

            // Online or offline, as a running source that follows it says (a Sparkplug edge node or device); null otherwise.
            state = state.Part is { } s ? new { state = s.Online ? "online" : "offline", since = s.Since, reason = s.Reason, source = state.SourceId, kind = s.Kind, name = s.Name } : null,
            parts = parts.Select(x => new { state = x.Part.Online ? "online" : "offline", since = x.Part.Since, reason = x.Part.Reason, source = x.SourceId, kind = x.Part.Kind, name = x.Part.Name }),
            parent = ancestors.Count > 0 ? new { type = ancestors[^1].Type, id = ancestors[^1].Id } : null,
            ancestors = ancestors.Select(x => new { type = x.Type, id = x.Id }),
            children = avatars.Children(a.Key, 200, plants).Select(x => new { type = x.Type, id = x.Id }),
            links = avatars.Links(a.Key, plants).Select(l => new { kind = l.Kind, type = l.Type, id = l.Id, from = l.From, until = l.Until }),
            records = counts,
            recent = recent.Select(r => new { model = r.Model, time = r.Time, values = r.Values }),
        });
    }
}
