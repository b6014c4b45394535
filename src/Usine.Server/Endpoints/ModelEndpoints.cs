using Usine.Models;

namespace Usine.Server.Endpoints;

internal static class ModelEndpoints
{
    public static IEndpointRouteBuilder MapModels(this IEndpointRouteBuilder app)
    {
        var models = app.MapGroup("/api/models");
        models.MapGet("/", (UsineDefinitions definitions) => TypedResults.Ok(definitions.Models.Values.OrderBy(m => m.Name, StringComparer.Ordinal).Select(v => new
        {
            name = v.Name,
            version = v.Latest.Version,
            versions = v.All.Select(x => x.Version).OrderDescending(),
            fields = v.Latest.Fields.Count,
            description = v.Latest.Description,
        }))).WithSummary("Every data model with its versions");

        models.MapGet("/{name}", IResult (string name, int? version, UsineDefinitions definitions, DefinitionCatalog catalog) =>
        {
            if (!definitions.Models.TryGetValue(name, out var versions))
            {
                return Errors.NotFound($"no model named '{name}' (models: {string.Join(", ", definitions.Models.Keys.Order(StringComparer.Ordinal))})");
            }

            var m = version is { } v ? versions.Get(v) : versions.Latest;
            if (m is null)
            {
                return Errors.NotFound($"model '{name}' has no version {version} (versions: {string.Join(", ", versions.All.Select(x => x.Version))})");
            }

            return TypedResults.Ok(Detail(catalog, versions, m));
        }).WithSummary("One model version in full: fields, key, avatar binding, rollups");

        models.MapPost("/", async Task<IResult> (HttpContext http, UsineDefinitions definitions, DefinitionCatalog catalog, CancellationToken ct) =>
        {
            var body = await DefinitionBody.ReadAsync(http, ct);
            var model = await catalog.AddModelAsync(body, UsineAuth.Actor(http), ct);
            return TypedResults.Created($"/api/models/{model.Name}?version={model.Version}", Detail(catalog, definitions.Models[model.Name], model));
        }).RequireAuthorization(UsineAuth.AdminPolicy)
            .WithSummary("Add a model, or a new version of one: the body is its definition in YAML or JSON, as in the configuration file");
        return app;
    }

    private static object Detail(DefinitionCatalog catalog, ModelVersions versions, DataModel m) => new
    {
        name = m.Name,
        version = m.Version,
        versions = versions.All.Select(x => x.Version).OrderDescending(),
        description = m.Description,
        time = m.TimeField,
        key = m.Key,
        avatar = m.Avatar is { } a
            ? new { type = a.Type, id = a.Id.Text, attach = a.Attach.ToString().ToLowerInvariant(), attributes = a.Attributes.ToDictionary(x => x.Name, x => x.Value.Text) }
            : null,
        fields = m.Fields.Select(f => new
        {
            name = f.Name,
            type = f.Type.ToString().ToLowerInvariant(),
            unit = f.Unit,
            required = f.Required,
            min = f.Min,
            max = f.Max,
            @enum = f.Enum,
            pattern = f.Pattern,
            description = f.Description,
        }),
        rollups = m.Rollups.Select(r => new
        {
            name = r.Name,
            bucket = Bucket(r.Bucket),
            by = r.By,
            measures = r.Measures.ToDictionary(x => x.Key, x => x.Value.Select(k => k.ToString().ToLowerInvariant())),
        }),
        table = "m_" + m.Name,
        origin = m.Origin,
        definedBy = catalog.IsManaged(m.Origin) ? "api" : "configuration",
    };

    private static string Bucket(TimeSpan t) =>
        t.TotalDays >= 1 && t.TotalDays % 1 == 0 ? $"{t.TotalDays}d"
        : t.TotalHours >= 1 && t.TotalHours % 1 == 0 ? $"{t.TotalHours}h"
        : t.TotalMinutes >= 1 && t.TotalMinutes % 1 == 0 ? $"{t.TotalMinutes}m"
        : $"{t.TotalSeconds}s";
}
