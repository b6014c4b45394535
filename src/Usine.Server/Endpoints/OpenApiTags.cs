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

    /// <summary>
    /// Lists in the document exactly the tags its operations use, in alphabetical order: the default tag of the
    /// application, which no operation keeps, would otherwise show as an empty group on the reference page.
    /// </summary>
    public static Task DeclareUsedTags(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        var used = document.Paths.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? [])
            .SelectMany(o => o.Tags ?? new HashSet<OpenApiTagReference>()).Select(t => t.Name).OfType<string>()
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        document.Tags = new HashSet<OpenApiTag>(used.Select(n => new OpenApiTag { Name = n }));
        return Task.CompletedTask;
    }
}
