namespace Usine.Storage;

/// <summary>Avatars, their hierarchy, attributes and links, and the records about them; every read is plant-scoped.</summary>
public interface IAvatarReads
{
    /// <summary>The ids of the plant avatars.</summary>
    IReadOnlyList<string> Plants();

    long AvatarTotal(IReadOnlySet<string>? plants = null);

    /// <summary>The avatars with this id (one per type that uses it), or the one of this type.</summary>
    IReadOnlyList<AvatarRow> FindAvatars(string id, string? type, IReadOnlySet<string>? plants = null);

    /// <summary>
    /// Avatars whose id starts with <paramref name="prefix"/> (any case), of a type, of a plant, and with attributes
    /// of given values (each name must have one of its values), by type then id.
    /// </summary>
    IReadOnlyList<AvatarRow> SearchAvatars(string? prefix, string? type, string? plant, int limit, IReadOnlySet<string>? plants,
        IReadOnlyDictionary<string, IReadOnlyList<string>>? attributes = null);

    /// <summary>Avatars whose id, or the last part of a path-like id, starts with <paramref name="prefix"/>; exact matches first.</summary>
    IReadOnlyList<AvatarRow> SearchAvatars(string prefix, int limit, IReadOnlySet<string>? plants = null);

    /// <summary>Avatars whose id is close to <paramref name="id"/>, for "did you mean".</summary>
    IReadOnlyList<AvatarRow> SuggestAvatars(string id, string? type, int limit, IReadOnlySet<string>? plants = null);

    /// <summary>The current attributes of avatars, by avatar key then name.</summary>
    IReadOnlyDictionary<long, List<AvatarAttributeRow>> AvatarAttributes(IReadOnlyCollection<long> keys, IReadOnlySet<string>? plants);

    /// <summary>The chain of parents of an avatar, the root (the plant) first, stopping at the plant scope.</summary>
    IReadOnlyList<AvatarRow> Ancestors(AvatarRow avatar, IReadOnlySet<string>? plants);

    IReadOnlyList<AvatarRow> Children(long key, int limit, IReadOnlySet<string>? plants);

    /// <summary>The latest links of an avatar, to avatars of the plant scope.</summary>
    IReadOnlyList<AvatarLinkRow> Links(long key, IReadOnlySet<string>? plants = null);

    /// <summary>The avatars linked to this one (vehicles at a station), latest first.</summary>
    IReadOnlyList<AvatarLinkRow> LinksTo(long key, int limit, IReadOnlySet<string>? plants = null);

    /// <summary>The links of an avatar valid at <paramref name="at"/>: linked at or before it, and not replaced by then.</summary>
    IReadOnlyList<AvatarLinkAt> LinksAt(long key, DateTime at, IReadOnlySet<string>? plants);

    /// <summary>Records about an avatar per model, and the latest <paramref name="recent"/> of them.</summary>
    (Dictionary<string, long> Counts, List<RecentRecord> Recent) AvatarRecords(long key, int recent, IReadOnlySet<string>? plants = null);

    /// <summary>Records about an avatar from every model, newest first, within [from, to).</summary>
    Task<IReadOnlyList<HistoryRecord>> AvatarHistoryAsync(long key, DateTime? from, DateTime? to, int limit, IReadOnlySet<string>? plants, CancellationToken cancellationToken);

    /// <summary>The values of a numeric field about one avatar, one series per value of the model's other key fields.</summary>
    IReadOnlyList<MeasureSeries> AvatarSeries(long key, string model, string field, int limit, IReadOnlySet<string>? plants = null);

    /// <summary>The time of the earliest record about an avatar; null when there is none.</summary>
    DateTime? EarliestEvent(long key, IReadOnlySet<string>? plants = null);
}

public sealed record AvatarRow(long Key, string Type, string Id, string Plant, long ParentKey, DateTime FirstSeen);

public sealed record AvatarLinkRow(string Kind, string Type, string Id, DateTime From, DateTime? Until);


/// <summary>The current value of an attribute of an avatar, set by a record of <paramref name="SetAt"/> from <paramref name="SourceId"/>.</summary>
public sealed record AvatarAttributeRow(string Name, string Value, DateTime SetAt, string SourceId);

/// <summary>A link of an avatar valid at a given time.</summary>
public sealed record AvatarLinkAt(string Kind, AvatarRow To, DateTime From, DateTime? Until);
