using Usine.Models;
using Usine.Sources;

namespace Usine.Configuration;

/// <summary>Every model version and source a platform runs with.</summary>
public sealed class UsineDefinitions
{
    public Dictionary<string, ModelVersions> Models { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, SourceDefinition> Sources { get; } = new(StringComparer.Ordinal);

    public void AddModel(DataModel model)
    {
        if (!Models.TryGetValue(model.Name, out var versions))
        {
            Models[model.Name] = versions = new ModelVersions(model.Name);
        }

        versions.Add(model);
    }

    /// <summary>The model version a source writes: its pinned version, otherwise the newest.</summary>
    public DataModel ModelOf(SourceDefinition source)
    {
        if (!Models.TryGetValue(source.Model, out var versions))
        {
            throw new InvalidOperationException($"source '{source.Id}' names model '{source.Model}', which is not defined");
        }

        return source.ModelVersion is { } v
            ? versions.Get(v) ?? throw new InvalidOperationException($"source '{source.Id}' pins {source.Model} version {v}, which is not defined")
            : versions.Latest;
    }
}
