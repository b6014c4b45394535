using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Usine.Storage.DuckDb;

namespace Usine.Server.Endpoints;

internal static class AvatarEndpoints
{
    public static IEndpointRouteBuilder MapAvatars(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/avatars").MapGet("/{*id}", IResult (string id, string? type, UsinePlatform p) =>
        {
            // Hierarchy ids hold slashes; a client may send them as they are or escaped (%2F), which the
            // router leaves escaped in a catch-all segment.
            id = Uri.UnescapeDataString(id);
            var found = p.Store.FindAvatars(id, type);
            if (found.Count == 0)
            {
                return Errors.NotFound(type is null ? $"no avatar with id '{id}'" : $"no avatar of type '{type}' with id '{id}'");
            }

            if (found.Count > 1)
            {
                return Errors.Status(StatusCodes.Status409Conflict, $"several avatars have id '{id}': add ?type= one of {string.Join(", ", found.Select(a => a.Type))}");
            }

            var a = found[0];
            var ancestors = new List<AvatarRow>();
            var parentKey = a.ParentKey;
            while (parentKey != 0 && ancestors.Count < 16 && p.Store.AvatarByKey(parentKey) is { } parent)
            {
                ancestors.Insert(0, parent);
                parentKey = parent.ParentKey;
            }

            var (counts, recent) = p.Store.AvatarRecords(a.Key, 20);
            return TypedResults.Ok(new
            {
                key = a.Key,
                type = a.Type,
                id = a.Id,
                plant = a.Plant,
                firstSeen = a.FirstSeen,
                parent = ancestors.Count > 0 ? new { type = ancestors[^1].Type, id = ancestors[^1].Id } : null,
                ancestors = ancestors.Select(x => new { type = x.Type, id = x.Id }),
                children = p.Store.Children(a.Key, 200).Select(x => new { type = x.Type, id = x.Id }),
                links = p.Store.Links(a.Key).Select(l => new { kind = l.Kind, type = l.Type, id = l.Id, from = l.From, until = l.Until }),
                records = counts,
                recent = recent.Select(r => new { model = r.Model, time = r.Time, values = r.Values }),
            });
        });
        return app;
    }
}
