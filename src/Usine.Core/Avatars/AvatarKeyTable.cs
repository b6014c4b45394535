using System.Buffers;
using System.Text;

namespace Usine.Avatars;

/// <summary>
/// The (type, id) → key map of the referential, kept compact: a plant's millions of vehicles and parts must fit
/// beside the store in a few hundred megabytes. Ids are kept once as UTF-8 in large byte blocks, and the slots of
/// an open-addressing table (linear probing) live in arrays of numbers, so the garbage collector sees a few
/// dozen objects however many avatars there are. About 50 bytes an avatar with a 17-character id, against about
/// 120 for a dictionary of strings.
/// </summary>
/// <remarks>Not thread-safe: <see cref="AvatarRegistry"/> serializes access.</remarks>
internal sealed class AvatarKeyTable
{
    private const int BlockBits = 20;
    private const int BlockSize = 1 << BlockBits;
    private const int MaxIdBytes = ushort.MaxValue;
    private const int StackBytes = 512;

    private readonly List<string> _types = [];
    private readonly List<byte[]> _blocks = [];
    private int _blockUsed = BlockSize;

    // Slot i is empty when _keys[i] == 0 (avatar keys start at 1).
    private long[] _keys;
    private int[] _hashes;
    private int[] _ids;
    private ushort[] _typeOf;
    private int _count;

    public AvatarKeyTable(int capacity = 1024)
    {
        var size = 16;
        while (size * 3 / 4 < capacity)
        {
            size *= 2;
        }

        _keys = new long[size];
        _hashes = new int[size];
        _ids = new int[size];
        _typeOf = new ushort[size];
    }

    public int Count => _count;

    /// <summary>Bytes held by the slots and the id blocks.</summary>
    public long Bytes => (long)_keys.Length * (sizeof(long) + sizeof(int) + sizeof(int) + sizeof(ushort)) + (long)_blocks.Count * BlockSize;

    public bool TryGet(string type, string id, out long key)
    {
        var t = _types.IndexOf(type);
        key = t < 0 ? 0 : _keys[SlotOf(t, id)];
        return key != 0;
    }

    /// <summary>Adds the avatar unless (type, id) is known; returns the key it has.</summary>
    public long GetOrAdd(string type, string id, long key)
    {
        if (key <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(key), key, "avatar keys start at 1");
        }

        var t = TypeIndex(type);
        Span<byte> buffer = stackalloc byte[StackBytes];
        var bytes = Encode(id, buffer, out var rented);
        try
        {
            var hash = Hash(t, bytes);
            var slot = Find(t, bytes, hash);
            if (_keys[slot] != 0)
            {
                return _keys[slot];
            }

            _keys[slot] = key;
            _hashes[slot] = hash;
            _typeOf[slot] = (ushort)t;
            _ids[slot] = Store(bytes);
            if (++_count > _keys.Length * 3 / 4)
            {
                Grow();
            }

            return key;
        }
        finally
        {
            Return(rented);
        }
    }

    /// <summary>Removes (type, id); its id bytes stay in their block (removal only follows a failed commit).</summary>
    public bool Remove(string type, string id)
    {
        var t = _types.IndexOf(type);
        if (t < 0)
        {
            return false;
        }

        var slot = SlotOf(t, id);
        if (_keys[slot] == 0)
        {
            return false;
        }

        // Backward-shift deletion: move later entries of the probe run into the hole, so that lookups
        // never need tombstones.
        var mask = _keys.Length - 1;
        var hole = slot;
        var next = (hole + 1) & mask;
        while (_keys[next] != 0)
        {
            var home = _hashes[next] & mask;
            if (((next - home) & mask) >= ((next - hole) & mask))
            {
                Move(next, hole);
                hole = next;
            }

            next = (next + 1) & mask;
        }

        _keys[hole] = 0;
        _count--;
        return true;
    }

    /// <summary>The slot holding (type, id), or the empty slot where it would go.</summary>
    private int SlotOf(int type, string id)
    {
        Span<byte> buffer = stackalloc byte[StackBytes];
        var bytes = Encode(id, buffer, out var rented);
        try
        {
            return Find(type, bytes, Hash(type, bytes));
        }
        finally
        {
            Return(rented);
        }
    }

    private void Move(int from, int to)
    {
        _keys[to] = _keys[from];
        _hashes[to] = _hashes[from];
        _ids[to] = _ids[from];
        _typeOf[to] = _typeOf[from];
    }

    private int TypeIndex(string type)
    {
        var t = _types.IndexOf(type);
        if (t >= 0)
        {
            return t;
        }

        if (_types.Count == ushort.MaxValue)
        {
            throw new InvalidOperationException("too many avatar types");
        }

        _types.Add(type);
        return _types.Count - 1;
    }

    /// <summary>The slot holding (type, id), or the empty slot where it would go.</summary>
    private int Find(int type, ReadOnlySpan<byte> id, int hash)
    {
        var mask = _keys.Length - 1;
        var slot = hash & mask;
        while (_keys[slot] != 0)
        {
            if (_hashes[slot] == hash && _typeOf[slot] == type && IdAt(_ids[slot]).SequenceEqual(id))
            {
                return slot;
            }

            slot = (slot + 1) & mask;
        }

        return slot;
    }

    private ReadOnlySpan<byte> IdAt(int reference)
    {
        var block = _blocks[reference >>> BlockBits];
        var offset = reference & (BlockSize - 1);
        var length = block[offset] | (block[offset + 1] << 8);
        return block.AsSpan(offset + 2, length);
    }

    private int Store(ReadOnlySpan<byte> id)
    {
        var need = id.Length + 2;
        if (_blockUsed + need > BlockSize)
        {
            if (_blocks.Count == 1 << (31 - BlockBits))
            {
                throw new InvalidOperationException("the avatar id blocks are full (2 GB of ids)");
            }

            _blocks.Add(new byte[BlockSize]);
            _blockUsed = 0;
        }

        var block = _blocks[^1];
        var offset = _blockUsed;
        block[offset] = (byte)id.Length;
        block[offset + 1] = (byte)(id.Length >> 8);
        id.CopyTo(block.AsSpan(offset + 2));
        _blockUsed += need;
        return ((_blocks.Count - 1) << BlockBits) | offset;
    }

    private void Grow()
    {
        var keys = _keys;
        var hashes = _hashes;
        var ids = _ids;
        var types = _typeOf;
        var size = keys.Length * 2;
        _keys = new long[size];
        _hashes = new int[size];
        _ids = new int[size];
        _typeOf = new ushort[size];
        var mask = size - 1;
        for (var i = 0; i < keys.Length; i++)
        {
            if (keys[i] == 0)
            {
                continue;
            }

            var slot = hashes[i] & mask;
            while (_keys[slot] != 0)
            {
                slot = (slot + 1) & mask;
            }

            _keys[slot] = keys[i];
            _hashes[slot] = hashes[i];
            _ids[slot] = ids[i];
            _typeOf[slot] = types[i];
        }
    }

    private static int Hash(int type, ReadOnlySpan<byte> id)
    {
        // FNV-1a over the bytes, mixed with the type and finalized so that the low bits spread well.
        var h = 2166136261u ^ (uint)type;
        foreach (var b in id)
        {
            h = (h ^ b) * 16777619u;
        }

        h ^= h >> 15;
        h *= 0x2c1b3c6du;
        h ^= h >> 12;
        return (int)(h & 0x7fffffff);
    }

    /// <summary>The UTF-8 bytes of an id, in <paramref name="buffer"/> when they fit, else in a pooled array.</summary>
    private static ReadOnlySpan<byte> Encode(string id, Span<byte> buffer, out byte[]? rented)
    {
        rented = null;
        var max = Encoding.UTF8.GetMaxByteCount(id.Length);
        if (max > buffer.Length)
        {
            rented = ArrayPool<byte>.Shared.Rent(max);
            buffer = rented;
        }

        var n = Encoding.UTF8.GetBytes(id, buffer);
        if (n > MaxIdBytes)
        {
            Return(rented);
            throw new ArgumentException($"an avatar id is at most {MaxIdBytes} bytes; this one is {n}", nameof(id));
        }

        return buffer[..n];
    }

    private static void Return(byte[]? rented)
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
