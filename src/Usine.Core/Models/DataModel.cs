using System.Text.RegularExpressions;
using Usine.Pipeline;

namespace Usine.Models;

public enum FieldType
{
    String,
    Int,
    Double,
    Bool,
    Timestamp,
}

/// <summary>One field of a data model.</summary>
public sealed record FieldDefinition
{
    public required string Name { get; init; }
    public required FieldType Type { get; init; }
    public string? Unit { get; init; }
    public bool Required { get; init; }
    public double? Min { get; init; }
    public double? Max { get; init; }
    public IReadOnlyList<string>? Enum { get; init; }
    public string? Pattern { get; init; }
    public string? Description { get; init; }

    /// <summary>Compiled <see cref="Pattern"/>, built once when the model loads.</summary>
    public Regex? PatternRegex { get; init; }

    /// <summary>A hash set over <see cref="Enum"/> for the hot path.</summary>
    public IReadOnlySet<string>? EnumSet { get; init; }
}

/// <summary>How records of a model name the avatar they describe.</summary>
public sealed record AvatarBinding
{
    /// <summary>The avatar type, such as vehicle, part, machine.</summary>
    public required string Type { get; init; }

    /// <summary>A template over field and context names, for example <c>{vin}</c> or <c>{plant}/{machine}</c>.</summary>
    public required Template Id { get; init; }

    /// <summary>
    /// How the avatar hangs off the plant hierarchy: <see cref="AvatarAttach.Parent"/> (a machine sits in
    /// its station), <see cref="AvatarAttach.Link"/> (a vehicle passes through stations: a time-versioned
    /// "at" link), or <see cref="AvatarAttach.None"/>. Default: link for vehicle and part, parent otherwise.
    /// </summary>
    public required AvatarAttach Attach { get; init; }

    /// <summary>Attributes the records give their avatar, such as a vehicle's model or colour; the latest by event time is kept.</summary>
    public IReadOnlyList<AvatarAttribute> Attributes { get; init; } = [];
}

/// <summary>An attribute of an avatar: its name, and a template over the record's fields and context for its value.</summary>
public sealed record AvatarAttribute(string Name, Template Value);

public enum AvatarAttach
{
    Parent,
    Link,
    None,
}

public enum Measure
{
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

/// <summary>Aggregates kept per time bucket and group, updated as records land (late ones too).</summary>
public sealed record RollupDefinition
{
    /// <summary>Name of the rollup table suffix, unique in the model; defaults to the bucket, like <c>1h</c>.</summary>
    public required string Name { get; init; }
    public required TimeSpan Bucket { get; init; }
    public required IReadOnlyList<string> By { get; init; }
    public required IReadOnlyDictionary<string, IReadOnlyList<Measure>> Measures { get; init; }
}

/// <summary>
/// A sequence-number field: within each group of <see cref="By"/> (default: the avatar, else the source), the
/// source numbers its messages 1, 2, 3...; a missing number is a message lost before it reached Usine.
/// </summary>
public sealed record SequenceDefinition
{
    public required string Field { get; init; }

    /// <summary>Fields that scope the counter, such as the machine; empty means the avatar (or the source when the model has none).</summary>
    public IReadOnlyList<string> By { get; init; } = [];
}

/// <summary>A named, versioned schema of records.</summary>
public sealed record DataModel
{
    public required string Name { get; init; }
    public required int Version { get; init; }
    public string? Description { get; init; }

    /// <summary>Name of the timestamp field that carries the event time.</summary>
    public required string TimeField { get; init; }

    /// <summary>Fields whose values identify a fact: a second record with the same key is a duplicate.</summary>
    public required IReadOnlyList<string> Key { get; init; }

    public AvatarBinding? Avatar { get; init; }
    public required IReadOnlyList<FieldDefinition> Fields { get; init; }
    public IReadOnlyList<RollupDefinition> Rollups { get; init; } = [];

    /// <summary>A counter the source increments with every message, whose gaps reconciliation reports.</summary>
    public SequenceDefinition? Sequence { get; init; }

    /// <summary>Where the definition came from (file:line), for messages.</summary>
    public string? Origin { get; init; }

    public int IndexOf(string field)
    {
        for (var i = 0; i < Fields.Count; i++)
        {
            if (string.Equals(Fields[i].Name, field, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    public FieldDefinition? Field(string name)
    {
        var i = IndexOf(name);
        return i < 0 ? null : Fields[i];
    }

    public string Ref => $"{Name}@{Version}";
}

/// <summary>Every version of one model; the newest is the one new sources use unless pinned.</summary>
public sealed class ModelVersions
{
    private readonly SortedDictionary<int, DataModel> _versions = [];

    public ModelVersions(string name) => Name = name;

    public string Name { get; }

    public DataModel Latest => _versions.Values.Last();

    public IEnumerable<DataModel> All => _versions.Values;

    public void Add(DataModel model) => _versions[model.Version] = model;

    public DataModel? Get(int version) => _versions.GetValueOrDefault(version);

    /// <summary>
    /// The union of the fields of every version, in first-seen order: the columns of the model's table.
    /// A later version may only add fields (optional ones) or keep them with the same type.
    /// </summary>
    public IReadOnlyList<FieldDefinition> UnionFields()
    {
        var seen = new Dictionary<string, FieldDefinition>(StringComparer.Ordinal);
        var order = new List<FieldDefinition>();
        foreach (var v in _versions.Values)
        {
            foreach (var f in v.Fields)
            {
                if (seen.TryAdd(f.Name, f))
                {
                    order.Add(f);
                }
            }
        }

        return order;
    }
}
