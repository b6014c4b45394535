using Usine.Tests.EndToEnd;

namespace Usine.Tests.Api;

/// <summary>An avatar id typed without its path, through the API and the real <c>usine</c> tool.</summary>
public sealed class AvatarSuggestionTests : IDisposable
{
    private const string Ovens = """
        models:
          - name: oven
            version: 1
            time: ts
            key: [oven, zone, ts]
            avatar: { type: oven, id: "{plant}/{oven}" }
            fields:
              oven: { type: string, required: true }
              zone: { type: int, required: true }
              ts:   { type: timestamp, required: true }
              temp: { type: double, unit: degC }
        sources:
          - id: ovens
            plant: arlon
            kind: http
            model: oven
            map: { oven: "$.oven", zone: "$.zone", ts: "$.ts", temp: "$.temp" }
        """;

    private readonly string _dir = Directory.CreateTempSubdirectory("usine-avatar-suggest-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task An_id_without_its_path_answers_404_with_the_ids_it_probably_meant_and_usine_says_did_you_mean()
    {
        await using var server = await ServerHarness.StartAsync(_dir, Ovens, _time);
        await server.Push("ovens", """{"oven":"OV1","zone":1,"ts":"2026-11-26T08:00:00Z","temp":180}""");
        await server.Push("ovens", """{"oven":"OV1","zone":1,"ts":"2026-11-23T08:00:00Z","temp":181}""");

        var missing = await server.Get("/api/avatars/OV1", HttpStatusCode.NotFound);
        Assert.Equal("no avatar with id 'OV1'; did you mean arlon/OV1?", missing.GetProperty("error").GetString());
        Assert.Equal(["arlon/OV1"], missing.GetProperty("suggestions").EnumerateArray().Select(s => s.GetString()));
        var none = await server.Get("/api/avatars/XYZ", HttpStatusCode.NotFound);
        Assert.Equal("no avatar with id 'XYZ'", none.GetProperty("error").GetString());

        // The avatar says when it was first seen (the event time of the message that created it) and its earliest event.
        var oven = await server.Get("/api/avatars/" + Uri.EscapeDataString("arlon/OV1"));
        Assert.Equal(new DateTime(2026, 11, 26, 8, 0, 0, DateTimeKind.Utc), oven.GetProperty("firstSeen").GetDateTime());
        Assert.Equal(new DateTime(2026, 11, 23, 8, 0, 0, DateTimeKind.Utc), oven.GetProperty("earliestEvent").GetDateTime());

        var cli = await UsineProcess.RunAsync(TimeSpan.FromMinutes(1), "avatars", "show", "OV1", "--server", server.Http.BaseAddress!.ToString());
        Assert.Equal(2, cli.ExitCode);
        Assert.Equal("error: no avatar with id 'OV1'; did you mean arlon/OV1?", cli.Err.Trim());
    }
}
