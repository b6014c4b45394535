using System.Collections.Concurrent;

namespace Usine.Avatars;

/// <summary>The built-in avatar types of the plant hierarchy: plant → shop → line → station → equipment.</summary>
public static class AvatarTypes
{
    public const string Plant = "plant";
    public const string Shop = "shop";
    public const string Line = "line";
    public const string Station = "station";
}

/// <summary>The digital twin of a physical thing, as the referential knows it.</summary>
/// <param name="Key">Surrogate key, unique in the store, used by records.</param>
/// <param name="ParentKey">The parent in the plant hierarchy, 0 for none.</param>
public sealed record Avatar(long Key, string Type, string Id, string Plant, long ParentKey, DateTime FirstSeen);

/// <summary>A time-versioned relation: <paramref name="FromKey"/> was <paramref name="Kind"/> <paramref name="ToKey"/> from <paramref name="At"/> on.</summary>
public sealed record AvatarLinkEvent(long FromKey, string Kind, long ToKey, DateTime At, string SourceId);

/// <summary>
/// The avatars known to a running pipeline: resolves (type, id) to a surrogate key, creating the avatar on
/// first sight. Created avatars are reported so that the store persists them in the same commit as the
/// records that named them.
/// </summary>
public sealed class AvatarRegistry
{
    private readonly ConcurrentDictionary<(string Type, string Id), long> _keys = new();
    private readonly ConcurrentDictionary<(long From, string Kind), (long To, DateTime At)> _lastLink = new();
    private long _nextKey;
    private int _version;

    public int Count => _keys.Count;

    /// <summary>Changes whenever avatars are reloaded or forgotten: caches of keys built on the registry must then be dropped.</summary>
    public int Version => Volatile.Read(ref _version);

    /// <summary>Replaces what the registry knows with what the store holds.</summary>
    public void Load(IEnumerable<Avatar> avatars, IEnumerable<AvatarLinkEvent> lastLinks)
    {
        _keys.Clear();
        _lastLink.Clear();
        long max = 0;
        foreach (var a in avatars)
        {
            _keys[(a.Type, a.Id)] = a.Key;
            max = Math.Max(max, a.Key);
        }

        foreach (var l in lastLinks)
        {
            _lastLink[(l.FromKey, l.Kind)] = (l.ToKey, l.At);
        }

        Interlocked.Exchange(ref _nextKey, max);
        Interlocked.Increment(ref _version);
    }

    public bool TryGet(string type, string id, out long key) => _keys.TryGetValue((type, id), out key);

    /// <summary>The key of the avatar, created (and added to <paramref name="created"/>) if it is new.</summary>
    public long Resolve(string type, string id, string plant, long parentKey, DateTime seen, List<Avatar> created)
    {
        if (_keys.TryGetValue((type, id), out var key))
        {
            return key;
        }

        key = Interlocked.Increment(ref _nextKey);
        if (_keys.TryAdd((type, id), key))
        {
            created.Add(new Avatar(key, type, id, plant, parentKey, seen));
            return key;
        }

        return _keys[(type, id)];
    }

    /// <summary>Records that <paramref name="from"/> is <paramref name="kind"/> <paramref name="to"/> at <paramref name="at"/>; adds an event only when the target changes.</summary>
    public void Link(long from, string kind, long to, DateTime at, string sourceId, List<AvatarLinkEvent> events)
    {
        var k = (from, kind);
        if (_lastLink.TryGetValue(k, out var last) && last.To == to && at >= last.At)
        {
            return;
        }

        if (!_lastLink.TryGetValue(k, out last) || at >= last.At)
        {
            _lastLink[k] = (to, at);
        }

        events.Add(new AvatarLinkEvent(from, kind, to, at, sourceId));
    }

    /// <summary>Forgets avatars whose creating commit failed, so that the next batch creates them again.</summary>
    public void Forget(IEnumerable<Avatar> avatars)
    {
        foreach (var a in avatars)
        {
            _keys.TryRemove((a.Type, a.Id), out _);
        }

        Interlocked.Increment(ref _version);
    }
}
