using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Usine.Server.Endpoints;

/// <summary>Groups operations by resource in the OpenAPI document.</summary>
internal static class OpenApiTags
{
    /// <summary>
    /// Operations without a tag of their own take the resource of their path (<c>/api/sources/...</c> → Sources),
    /// so that an endpoint added anywhere is grouped without remembering to tag it.
    /// </summary>
    public static Task TagByResource(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.Tags is { Count: > 0 } tags && tags.Any(t => t.Name != "Usine"))
        {
            return Task.CompletedTask;
        }

        var path = context.Description.RelativePath ?? "";
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var resource = segments.Length >= 2 && segments[0] == "api" ? segments[1] : segments.FirstOrDefault() ?? "platform";
        var name = char.ToUpperInvariant(resource[0]) + resource[1..];
        operation.Tags = new HashSet<OpenApiTagReference> { new(name, context.Document) };
        return Task.CompletedTask;
    }
}
