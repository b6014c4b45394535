using Usine.Avatars;

namespace Usine.Tests.Pipeline;

public sealed class AvatarRegistryTests
{
    private static DateTime At(int hour) => new(2026, 11, 26, hour, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void An_attribute_change_is_added_only_when_the_value_replaces_the_one_in_effect()
    {
        var registry = new AvatarRegistry();
        registry.Load([], [], [new AvatarAttributeChange(7, "colour", "red", At(8), "flins", "mes")]);
        var changes = new List<AvatarAttributeChange>();

        // What the store holds again, later or earlier, and another value from an older record: nothing to write.
        registry.SetAttribute(7, "colour", "red", At(9), "flins", "mes", changes);
        registry.SetAttribute(7, "colour", "red", At(6), "flins", "mes", changes);
        registry.SetAttribute(7, "colour", "green", At(7), "flins", "mes", changes);
        Assert.Empty(changes);

        registry.SetAttribute(7, "colour", "green", At(10), "flins", "mes", changes);
        registry.SetAttribute(7, "colour", "green", At(11), "flins", "mes", changes);
        registry.SetAttribute(7, "model", "Clio", At(6), "flins", "mes", changes);
        registry.SetAttribute(8, "colour", "red", At(6), "flins", "mes", changes);
        Assert.Equal(["7 colour green 10", "7 model Clio 6", "8 colour red 6"], changes.Select(c => $"{c.AvatarKey} {c.Name} {c.Value} {c.At.Hour}"));

        // At the same instant the greater value wins, whichever comes first.
        changes.Clear();
        registry.SetAttribute(7, "colour", "blue", At(10), "flins", "mes", changes);
        registry.SetAttribute(7, "colour", "black", At(10), "flins", "mes", changes);
        Assert.Empty(changes);
        registry.SetAttribute(7, "colour", "grey", At(10), "flins", "mes", changes);
        Assert.Equal(["grey"], changes.Select(c => c.Value));
    }

    [Fact]
    public void Hundreds_of_thousands_of_avatars_resolve_to_one_key_each_by_type_and_id()
    {
        var registry = new AvatarRegistry();
        var created = new List<Avatar>();
        var ids = Enumerable.Range(0, 300_000).Select(i => i % 1000 == 0 ? $"véhicule-{i}-{new string('x', 600)}" : $"VF1{i:D14}").ToList();
        var keys = ids.Select(id => registry.Resolve("vehicle", id, "flins", 0, At(8), created)).ToList();
        Assert.Equal(ids.Count, created.Count);
        Assert.Equal(ids.Count, keys.Distinct().Count());
        Assert.Equal(ids.Count, registry.Count);

        // Seen again: the same key, nothing created. The same id under another type is another avatar.
        created.Clear();
        for (var i = 0; i < ids.Count; i += 7)
        {
            Assert.Equal(keys[i], registry.Resolve("vehicle", ids[i], "flins", 0, At(9), created));
            Assert.True(registry.TryGet("vehicle", ids[i], out var k));
            Assert.Equal(keys[i], k);
        }

        Assert.Empty(created);
        var part = registry.Resolve("part", ids[5], "flins", 0, At(9), created);
        Assert.DoesNotContain(part, keys);
        Assert.False(registry.TryGet("vehicle", "VF1unknown", out _));
        Assert.False(registry.TryGet("machine", ids[5], out _));
    }

    [Fact]
    public void Forgotten_avatars_are_created_again_and_the_others_stay_found()
    {
        var registry = new AvatarRegistry();
        var created = new List<Avatar>();
        var ids = Enumerable.Range(0, 50_000).Select(i => $"P{i}").ToList();
        var keys = ids.Select(id => registry.Resolve("part", id, "douai", 0, At(8), created)).ToList();

        // Every third one, as after commits that failed: removal must not lose the entries that probed past them.
        var forgotten = created.Where((_, i) => i % 3 == 0).ToList();
        registry.Forget(forgotten);
        Assert.Equal(ids.Count - forgotten.Count, registry.Count);
        for (var i = 0; i < ids.Count; i++)
        {
            Assert.Equal(i % 3 != 0, registry.TryGet("part", ids[i], out var k));
            if (i % 3 != 0)
            {
                Assert.Equal(keys[i], k);
            }
        }

        created.Clear();
        var again = registry.Resolve("part", ids[0], "douai", 0, At(9), created);
        Assert.Single(created);
        Assert.True(again > keys.Max());
    }

    [Fact]
    public void A_load_streamed_row_by_row_replaces_the_registry_and_new_keys_follow_the_largest()
    {
        var registry = new AvatarRegistry();
        var created = new List<Avatar>();
        registry.Resolve("vehicle", "old", "flins", 0, At(8), created);

        var loader = registry.StartLoad();
        loader.Avatar(40, "plant", "flins");
        loader.Avatar(41, "vehicle", "VF1A");
        loader.LastLink(41, "at", 40, At(8));
        Assert.True(registry.TryGet("vehicle", "old", out _)); // still the old referential until complete
        loader.Complete();

        Assert.Equal(2, loader.Avatars);
        Assert.False(registry.TryGet("vehicle", "old", out _));
        Assert.True(registry.TryGet("vehicle", "VF1A", out var vehicle));
        Assert.Equal(41, vehicle);
        Assert.Equal(42, registry.Resolve("vehicle", "VF1B", "flins", 40, At(9), created));

        // The loaded last link: the same station later adds nothing, another station does, an older event does
        // not move the last link but is still an event.
        var events = new List<AvatarLinkEvent>();
        registry.Link(41, "at", 40, At(9), "mes", events);
        Assert.Empty(events);
        registry.Link(41, "at", 43, At(10), "mes", events);
        registry.Link(41, "at", 40, At(7), "mes", events);
        registry.Link(41, "at", 43, At(11), "mes", events);
        Assert.Equal(["43 10", "40 7"], events.Select(e => $"{e.ToKey} {e.At.Hour}"));
    }

    [Fact]
    public void Lanes_resolving_the_same_ids_at_once_get_one_key_and_one_creation_per_avatar()
    {
        var registry = new AvatarRegistry();
        var ids = Enumerable.Range(0, 20_000).Select(i => $"VIN{i}").ToList();
        var created = new List<Avatar>[4];
        var keys = new Dictionary<string, long>[4];
        Parallel.For(0, 4, lane =>
        {
            created[lane] = [];
            keys[lane] = ids.ToDictionary(id => id, id => registry.Resolve("vehicle", id, "flins", 0, At(8), created[lane]));
        });

        Assert.Equal(ids.Count, created.Sum(c => c.Count));
        Assert.Equal(ids.Count, created.SelectMany(c => c).Select(a => a.Id).Distinct().Count());
        foreach (var id in ids)
        {
            Assert.Single(keys.Select(k => k[id]).Distinct());
        }
    }
}
