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
/// The value an attribute of an avatar takes from <paramref name="At"/> (the event time of the record that set it) on;
/// <paramref name="Plant"/> and <paramref name="SourceId"/> are the record's.
/// </summary>
public sealed record AvatarAttributeChange(long AvatarKey, string Name, string Value, DateTime At, string Plant, string SourceId)
{
    /// <summary>
    /// Whether a value seen at <paramref name="at"/> replaces the one in effect: it must differ and come from a
    /// record at least as recent as the one that set it (at the same instant, the greater value wins, so that the
    /// outcome does not depend on the order records arrive in). The store applies the same rule.
    /// </summary>
    public static bool Replaces(string value, DateTime at, string current, DateTime currentAt) =>
        !string.Equals(value, current, StringComparison.Ordinal) && (at > currentAt || (at == currentAt && string.CompareOrdinal(value, current) > 0));
}

/// <summary>
/// The avatars known to a running pipeline: resolves (type, id) to a surrogate key, creating the avatar on
/// first sight. Created avatars are reported so that the store persists them in the same commit as the
/// records that named them. Thread-safe; sized for millions of avatars (see <see cref="AvatarKeyTable"/>).
/// </summary>
public sealed class AvatarRegistry
{
    /// <summary>
    /// Where keys of new avatars come from when the store hands them out (several processes creating avatars at
    /// once); null: the registry counts on from the largest key it loaded, as one process alone may.
    /// </summary>
    public IAvatarKeySource? KeySource { get; set; }

    /// <summary>The longest avatar id, in UTF-8 bytes: a longer one is bad data, and the pipeline makes its message a dead letter.</summary>
    public const int MaxIdBytes = 4096;

    /// <summary>Whether <paramref name="id"/> is short enough to be an avatar id (<see cref="MaxIdBytes"/>).</summary>
    public static bool FitsId(string id) => id.Length * 3 <= MaxIdBytes || System.Text.Encoding.UTF8.GetByteCount(id) <= MaxIdBytes;

    private readonly Lock _lock = new();
    private AvatarKeyTable _keys = new();

    // The last link of each kind, per avatar: one small dictionary per kind ("at", ...), of numbers only.
    private Dictionary<string, Dictionary<long, (long To, DateTime At)>> _lastLink = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(long Avatar, string Name), (string Value, DateTime At)> _attributes = new();
    private long _nextKey;
    private int _version;

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _keys.Count;
            }
        }
    }

    /// <summary>Changes whenever avatars are reloaded or forgotten: caches of keys built on the registry must then be dropped.</summary>
    public int Version => Volatile.Read(ref _version);

    /// <summary>Replaces what the registry knows with what the store holds.</summary>
    public void Load(IEnumerable<Avatar> avatars, IEnumerable<AvatarLinkEvent> lastLinks, IEnumerable<AvatarAttributeChange>? attributes = null)
    {
        var loader = StartLoad();
        foreach (var a in avatars)
        {
            loader.Avatar(a.Key, a.Type, a.Id);
        }

        foreach (var l in lastLinks)
        {
            loader.LastLink(l.FromKey, l.Kind, l.ToKey, l.At);
        }

        foreach (var a in attributes ?? [])
        {
            loader.Attribute(a.AvatarKey, a.Name, a.Value, a.At);
        }

        loader.Complete();
    }

    /// <summary>
    /// Starts replacing what the registry knows, fed row by row as the store reads it, so that millions of avatars
    /// never exist as objects; the registry keeps answering from what it had until <see cref="Loader.Complete"/>.
    /// </summary>
    public Loader StartLoad() => new(this);

    public bool TryGet(string type, string id, out long key)
    {
        lock (_lock)
        {
            return _keys.TryGet(type, id, out key);
        }
    }

    /// <summary>The key of the avatar, created (and added to <paramref name="created"/>) if it is new.</summary>
    public long Resolve(string type, string id, string plant, long parentKey, DateTime seen, List<Avatar> created)
    {
        lock (_lock)
        {
            if (_keys.TryGet(type, id, out var key))
            {
                return key;
            }

            key = KeySource?.NextAvatarKey() ?? ++_nextKey;
            _keys.GetOrAdd(type, id, key);
            created.Add(new Avatar(key, type, id, plant, parentKey, seen));
            return key;
        }
    }

    /// <summary>Records that <paramref name="from"/> is <paramref name="kind"/> <paramref name="to"/> at <paramref name="at"/>; adds an event only when the target changes.</summary>
    public void Link(long from, string kind, long to, DateTime at, string sourceId, List<AvatarLinkEvent> events)
    {
        lock (_lock)
        {
            if (!_lastLink.TryGetValue(kind, out var links))
            {
                _lastLink[kind] = links = [];
            }

            if (links.TryGetValue(from, out var last))
            {
                if (last.To == to && at >= last.At)
                {
                    return;
                }

                if (at >= last.At)
                {
                    links[from] = (to, at);
                }
            }
            else
            {
                links[from] = (to, at);
            }
        }

        events.Add(new AvatarLinkEvent(from, kind, to, at, sourceId));
    }

    /// <summary>
    /// Records that an attribute of <paramref name="avatar"/> has <paramref name="value"/> at <paramref name="at"/>;
    /// adds a change only when the value replaces the one in effect (<see cref="AvatarAttributeChange.Replaces"/>),
    /// so that a value repeated by every record costs a lookup, not a write.
    /// </summary>
    public void SetAttribute(long avatar, string name, string value, DateTime at, string plant, string sourceId, List<AvatarAttributeChange> changes)
    {
        var k = (avatar, name);
        if (_attributes.TryGetValue(k, out var current) && !AvatarAttributeChange.Replaces(value, at, current.Value, current.At))
        {
            return;
        }

        _attributes[k] = (value, at);
        changes.Add(new AvatarAttributeChange(avatar, name, value, at, plant, sourceId));
    }

    /// <summary>Forgets avatars whose creating commit failed, so that the next batch creates them again.</summary>
    public void Forget(IEnumerable<Avatar> avatars)
    {
        lock (_lock)
        {
            foreach (var a in avatars)
            {
                _keys.Remove(a.Type, a.Id);
            }
        }

        Interlocked.Increment(ref _version);
    }

    /// <summary>Fills a new referential row by row and swaps it in at <see cref="Complete"/>.</summary>
    public sealed class Loader
    {
        private readonly AvatarRegistry _registry;
        private readonly AvatarKeyTable _keys = new();
        private readonly Dictionary<string, Dictionary<long, (long To, DateTime At)>> _lastLink = new(StringComparer.Ordinal);
        private readonly List<(long Avatar, string Name, string Value, DateTime At)> _attributes = [];
        private long _max;

        internal Loader(AvatarRegistry registry) => _registry = registry;

        public int Avatars => _keys.Count;

        public void Avatar(long key, string type, string id)
        {
            _keys.GetOrAdd(type, id, key);
            _max = Math.Max(_max, key);
        }

        public void LastLink(long from, string kind, long to, DateTime at)
        {
            if (!_lastLink.TryGetValue(kind, out var links))
            {
                _lastLink[kind] = links = [];
            }

            links[from] = (to, at);
        }

        public void Attribute(long avatar, string name, string value, DateTime at) => _attributes.Add((avatar, name, value, at));

        public void Complete()
        {
            lock (_registry._lock)
            {
                _registry._keys = _keys;
                _registry._lastLink = _lastLink;
                _registry._attributes.Clear();
                foreach (var (avatar, name, value, at) in _attributes)
                {
                    _registry._attributes[(avatar, name)] = (value, at);
                }

                _registry._nextKey = _max;
            }

            Interlocked.Increment(ref _registry._version);
        }
    }
}

/// <summary>A store that hands out avatar keys itself, so that processes creating avatars at once never share one.</summary>
public interface IAvatarKeySource
{
    /// <summary>A key no other process has or will have; called under the registry's lock, so it must be quick (take keys in blocks).</summary>
    long NextAvatarKey();
}
