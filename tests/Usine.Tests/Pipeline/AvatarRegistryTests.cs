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
}
