using Usine.Models;
using Usine.Operations;
using Usine.Pipeline;

namespace Usine.Sources;

/// <summary>
/// One part of what a live source reads from that comes and goes on its own while the connection stays up: an
/// edge node or a device of a Sparkplug host. <paramref name="Fields"/> are the values its messages carry for the
/// fields that name it (<c>group</c>, <c>edge</c>, <c>device</c>), with which the model's avatar id is rendered to
/// find the avatar of the part.
/// </summary>
/// <param name="Kind">What it is, in words: <c>edge node</c>, <c>device</c>.</param>
/// <param name="Name">Its name within the source, such as <c>BodyShop/E1</c> or <c>BodyShop/E1/robot</c>.</param>
/// <param name="Online">Whether it is online now.</param>
/// <param name="Since">When it went online or offline, UTC.</param>
/// <param name="Reason">What made it so: <c>NBIRTH</c>, <c>NDEATH (bdSeq 3)</c>, <c>DDEATH</c>, <c>offline with its edge node</c>.</param>
public sealed record SourcePart(string Kind, string Name, bool Online, DateTime Since, string Reason, IReadOnlyDictionary<string, string?> Fields);

/// <summary>
/// A live source that follows parts of its peer one by one (<see cref="SourcePart"/>) and numbers their
/// messages itself: the platform shows the parts on their avatars, alerts while one is offline, and adds the
/// gaps in their numbering to reconciliation.
/// </summary>
public interface ILiveSourceParts
{
    /// <summary>The parts seen since the source started, by name.</summary>
    IReadOnlyList<SourcePart> Parts { get; }

    /// <summary>
    /// Gaps in the parts' own message numbering the source confirmed since it started (numbers that did not come,
    /// even out of order), oldest first; <see cref="SequenceGap.Scope"/> names the part. Bounded: the latest ones.
    /// </summary>
    IReadOnlyList<SequenceGap> SequenceGaps { get; }
}

/// <summary>The avatar a part of a live source is, as the model of the source binds its records to avatars.</summary>
public static class SourcePartAvatars
{
    /// <summary>
    /// The type and id of the avatar that records carrying <paramref name="fields"/> (and no other value) would be
    /// about, rendering the model's avatar id through the source's mapping; null when the model has no avatar or
    /// the id needs a field the part does not give (a device id for the edge node itself).
    /// </summary>
    public static (string Type, string Id)? Of(SourceDefinition source, DataModel model, IReadOnlyDictionary<string, string?> fields)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(fields);
        if (model.Avatar is not { } binding)
        {
            return null;
        }

        var scope = new Scope(source, model, fields);
        try
        {
            return binding.Id.Render(scope, out _) is { } id ? (binding.Type, id) : null;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private sealed class Scope : ITemplateScope
    {
        private readonly SourceDefinition _source;
        private readonly DataModel _model;
        private int _depth;

        public Scope(SourceDefinition source, DataModel model, IReadOnlyDictionary<string, string?> fields)
        {
            _source = source;
            _model = model;
            var names = new Dictionary<string, int>(StringComparer.Ordinal);
            var values = new Scalar[fields.Count];
            foreach (var (name, value) in fields)
            {
                values[names.Count] = Scalar.FromText(value);
                names[name] = names.Count;
            }

            Message.SetFields(names, values, null);
        }

        public MessageView Message { get; } = new();

        public string? Lookup(string name)
        {
            if (++_depth > 8)
            {
                throw new FormatException($"templates refer to each other in a cycle through '{name}'");
            }

            try
            {
                if (_model.Fields.Any(f => string.Equals(f.Name, name, StringComparison.Ordinal)))
                {
                    var mapping = _source.Map.GetValueOrDefault(name) ?? FieldMapping.Path("$." + name);
                    var value = mapping.Evaluate(this);
                    return value.IsAbsent ? null : Message.Text(value);
                }

                return name switch
                {
                    "plant" => _source.Plant.Render(this, out _),
                    "shop" => _source.Context.Shop?.Render(this, out _),
                    "line" => _source.Context.Line?.Render(this, out _),
                    "station" => _source.Context.Station?.Render(this, out _),
                    "source" => _source.Id,
                    _ => null,
                };
            }
            finally
            {
                _depth--;
            }
        }
    }
}
