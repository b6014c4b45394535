namespace Usine.Tests.Api;

/// <summary>Attributes records give their avatars: kept latest by event time, shown, searched, under the plant scope.</summary>
public sealed class AvatarAttributeTests : IAsyncLifetime
{
    /// <summary>The build orders of a MES give each vehicle its model and colour.</summary>
    private const string Yaml = """
        models:
          - name: build
            time: ts
            avatar: { type: vehicle, id: "{vin}", attach: none, attributes: [model, colour] }
            fields:
              vin:    { type: string, required: true }
              ts:     { type: timestamp, required: true }
              model:  { type: string }
              colour: { type: string }
        sources:
          - id: mes
            plant: flins
            kind: http
            model: build
          - id: mes-douai
            plant: douai
            kind: http
            model: build
        """;

    private const string V1 = "VF1AAAAA111111111";
    private const string V2 = "VF1BBBBB222222222";
    private const string V3 = "VF1CCCCC333333333";
    private const string V4 = "VF1DDDDD444444444";

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-attributes-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));
    private ServerHarness? _server;

    private ServerHarness Server => _server!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync(_dir, Yaml, _time);

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }

    private static string Build(string vin, string time, string? model, string? colour) =>
        JsonSerializer.Serialize(new Dictionary<string, string?> { ["vin"] = vin, ["ts"] = time, ["model"] = model, ["colour"] = colour });

    private async Task Push(string source, params string[] messages)
    {
        var r = await Server.Push(source, string.Join("\n", messages));
        Assert.Equal(0, r.GetProperty("deadLetters").GetInt32());
    }

    private async Task<List<string>> Search(string query) =>
        [.. (await Server.Get("/api/avatars?" + query)).EnumerateArray().Select(a => a.GetProperty("id").GetString()!)];

    private async Task<Dictionary<string, string>> Attributes(string vin) =>
        (await Server.Get("/api/avatars/" + vin)).GetProperty("attributes").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);

    /// <summary>The colour of the first vehicle as stored, with the event time that set it.</summary>
    private async Task<string> StoredColour() =>
        (await Server.Scalar($"SELECT value || ' ' || strftime(set_at, '%H:%M') FROM avatar_attributes x JOIN avatars a USING (avatar_key) WHERE a.id = '{V1}' AND x.name = 'colour'")).GetString()!;

    [Fact]
    public async Task Avatars_are_searched_by_attribute_with_id_prefix_type_and_plant()
    {
        await Push("mes", Build(V1, "2026-11-26T08:00:00Z", "Clio", "red"), Build(V2, "2026-11-26T08:00:00Z", "Clio", "blue"));
        await Push("mes-douai", Build(V3, "2026-11-26T08:00:00Z", "Megane", "red"));

        Assert.Equal([V1, V3], await Search("attr.colour=red"));
        Assert.Equal([V1], await Search("attr.colour=red&plant=flins"));
        Assert.Equal([V1], await Search("attr.colour=red&attr.model=Clio"));
        Assert.Equal([V1, V2], await Search("attr.colour=red&attr.colour=blue&plant=flins"));
        Assert.Equal([V1], await Search("attr.colour=red&attr.colour=blue&type=vehicle&q=vf1a"));
        Assert.Equal([V3], await Search("attr.colour=red&q=VF1C"));
        Assert.Empty(await Search("attr.colour=Red"));
        Assert.Empty(await Search("attr.colour=red&type=part"));

        var found = await Server.Get("/api/avatars?attr.model=Megane");
        Assert.Equal("""{"colour":"red","model":"Megane"}""", found[0].GetProperty("attributes").GetRawText());
        Assert.Equal(new Dictionary<string, string> { ["colour"] = "blue", ["model"] = "Clio" }, await Attributes(V2));

        var unknown = await Server.Get("/api/avatars?attr.color=red", HttpStatusCode.BadRequest);
        Assert.Equal("attr.color: no model gives avatars an attribute 'color' (attributes: colour, model)", unknown.GetProperty("error").GetString());

        var binding = await Server.Get("/api/models/build");
        Assert.Equal("""{"model":"{model}","colour":"{colour}"}""", binding.GetProperty("avatar").GetProperty("attributes").GetRawText());
    }

    [Fact]
    public async Task The_latest_value_by_event_time_wins_and_a_repeated_value_is_not_written_again()
    {
        await Push("mes", Build(V1, "2026-11-26T08:00:00Z", "Clio", "red"));
        Assert.Equal("red 08:00", await StoredColour());

        // An older record does not change it; a newer one does; one without a colour keeps the colour.
        await Push("mes", Build(V1, "2026-11-26T07:00:00Z", "Clio", "green"));
        Assert.Equal("red 08:00", await StoredColour());
        await Push("mes", Build(V1, "2026-11-26T09:00:00Z", "Clio", "green"));
        Assert.Equal("green 09:00", await StoredColour());
        await Push("mes", Build(V1, "2026-11-26T10:00:00Z", "Clio Estate", null));
        Assert.Equal(new Dictionary<string, string> { ["colour"] = "green", ["model"] = "Clio Estate" }, await Attributes(V1));

        // The same colour again is no change: the row keeps the time of the record that set it.
        await Push("mes", Build(V1, "2026-11-26T11:00:00Z", "Clio Estate", "green"));
        Assert.Equal("green 09:00", await StoredColour());

        // Records of the same instant with two colours: the outcome does not depend on their order.
        await Push("mes", Build(V2, "2026-11-26T08:00:00Z", null, "black"), Build(V2, "2026-11-26T08:00:00Z", null, "blue"));
        await Push("mes", Build(V4, "2026-11-26T08:00:00Z", null, "blue"));
        await Push("mes", Build(V4, "2026-11-26T08:00:00Z", null, "black"));
        Assert.Equal("blue", (await Attributes(V2))["colour"]);
        Assert.Equal("blue", (await Attributes(V4))["colour"]);

        // After a restart, what the store holds is loaded: the same rules hold, with no write for the same value.
        await Server.DisposeAsync();
        _server = null;
        _server = await ServerHarness.StartAsync(_dir, Yaml, _time);
        await Push("mes", Build(V1, "2026-11-26T12:00:00Z", "Clio Estate", "green"), Build(V1, "2026-11-26T08:30:00Z", "Clio", "red"));
        Assert.Equal("green 09:00", await StoredColour());
        Assert.Equal([V1], await Search("attr.colour=green"));
    }

    [Fact]
    public async Task Attributes_of_avatars_outside_the_plant_scope_are_neither_found_nor_shown()
    {
        await Push("mes", Build(V1, "2026-11-26T08:00:00Z", "Clio", "red"));
        await Push("mes-douai", Build(V3, "2026-11-26T08:00:00Z", "Megane", "red"));
        var store = Server.Platform.Store;
        var flins = new HashSet<string> { "flins" };
        var red = new Dictionary<string, IReadOnlyList<string>> { ["colour"] = ["red"] };

        Assert.Equal([V1], store.Avatars.SearchAvatars(null, null, null, 100, flins, red).Select(a => a.Id));
        Assert.Empty(store.Avatars.SearchAvatars(null, null, null, 100, new HashSet<string>(), red));
        var v3 = store.Avatars.FindAvatars(V3, null, null).Single();
        Assert.Empty(store.Avatars.AvatarAttributes([v3.Key], flins));
        Assert.Equal(["colour", "model"], store.Avatars.AvatarAttributes([v3.Key], null)[v3.Key].Select(a => a.Name));

        // The flins vehicle repainted in douai: its new colour tells about douai, so flins does not see it.
        await Push("mes-douai", Build(V1, "2026-11-26T09:00:00Z", null, "yellow"));
        var v1 = store.Avatars.FindAvatars(V1, null, null).Single();
        Assert.Equal(["model"], store.Avatars.AvatarAttributes([v1.Key], flins)[v1.Key].Select(a => a.Name));
        Assert.Empty(store.Avatars.SearchAvatars(null, null, null, 100, flins, new Dictionary<string, IReadOnlyList<string>> { ["colour"] = ["yellow"] }));
        Assert.Equal([V1], store.Avatars.SearchAvatars(null, null, null, 100, null, new Dictionary<string, IReadOnlyList<string>> { ["colour"] = ["yellow"] }).Select(a => a.Id));
    }
}
