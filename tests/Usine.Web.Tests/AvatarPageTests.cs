using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Usine.Web.Tests;

/// <summary>
/// The avatar page of an oven whose three zones report temperatures, with three days without data in the middle:
/// what a reader of the chart, the facts and the timeline must not be misled by.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class AvatarPageTests(BrowserFixture browser) : IAsyncLifetime
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

    private WebHarness _server = null!;
    private IBrowserContext _context = null!;
    private IPage _page = null!;

    public async Task InitializeAsync()
    {
        _server = await WebHarness.StartAsync(definitions: Ovens);

        // Two zones every 10 minutes for an hour on the 26th, then the hour of the 23rd, sent late (a backfill):
        // three days without data in between.
        foreach (var day in new[] { new DateTime(2026, 11, 26, 8, 0, 0, DateTimeKind.Utc), new DateTime(2026, 11, 23, 8, 0, 0, DateTimeKind.Utc) })
        {
            var readings = new List<string>();
            for (var i = 0; i < 6; i++)
            {
                foreach (var zone in new[] { 1, 2 })
                {
                    var t = day.AddMinutes(10 * i).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
                    readings.Add($$"""{"oven":"OV1","zone":{{zone}},"ts":"{{t}}","temp":{{(zone == 1 ? 180 : 220) + i}}}""");
                }
            }

            await _server.PushAsync("ovens", [.. readings]);
        }

        (_context, _page) = await browser.OpenAsync(_server.Address);
    }

    public async Task DisposeAsync()
    {
        await _context.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task The_chart_draws_one_line_per_zone_and_breaks_it_where_there_is_no_data()
    {
        await _page.GotoAsync("/avatars/oven/" + Uri.EscapeDataString("arlon/OV1"));
        await Expect(_page.Locator("h1")).ToHaveTextAsync("oven arlon/OV1");

        await Expect(_page.Locator("figure.chart .legend span")).ToHaveTextAsync(["■ zone 1", "■ zone 2"]);
        await Expect(_page.Locator("figure.chart polyline.s1")).ToHaveCountAsync(2);
        await Expect(_page.Locator("figure.chart polyline.s2")).ToHaveCountAsync(2);
        await Expect(_page.Locator("figure.chart polyline")).ToHaveCountAsync(4);
        await ShotAsync("oven-chart");
    }

    [Fact]
    public async Task First_seen_and_the_earliest_event_are_both_shown_when_they_differ()
    {
        await _page.GotoAsync("/avatars/oven/" + Uri.EscapeDataString("arlon/OV1"));

        // Created by the first reading received, of the 26th; the backfill of the 23rd came after.
        await Expect(_page.Locator("#first-seen")).ToContainTextAsync("2026-11-26 08:00:00Z");
        await Expect(_page.Locator("#earliest-event")).ToContainTextAsync("2026-11-23 08:00:00Z");
    }

    [Fact]
    public async Task Timeline_values_are_separated_without_a_trailing_separator()
    {
        await _page.GotoAsync("/avatars/oven/" + Uri.EscapeDataString("arlon/OV1"));

        var latest = _page.Locator("#timeline .timeline-row").First.Locator("td.values");
        await Expect(latest).ToHaveTextAsync(new Regex(@"^oven OV1 · zone [12] · temp (185|225) degC$"));
    }

    [Fact]
    public async Task An_id_without_its_path_suggests_the_avatar_it_probably_means()
    {
        await _page.GotoAsync("/avatars/oven/OV1");

        await Expect(_page.Locator("h1")).ToHaveTextAsync("Unknown avatar");
        var suggestion = _page.Locator("#suggestions a");
        await Expect(suggestion).ToHaveTextAsync("oven arlon/OV1");
        await suggestion.ClickAsync();
        await Expect(_page.Locator("h1")).ToHaveTextAsync("oven arlon/OV1");
    }

    [Fact]
    public async Task Every_page_has_an_icon()
    {
        await _page.GotoAsync("/");
        await Expect(_page.Locator("link[rel=icon]")).ToHaveAttributeAsync("href", "favicon.ico");

        var icon = await _page.APIRequest.GetAsync("/favicon.ico");
        Assert.Equal(200, icon.Status);
        Assert.Equal("image/x-icon", icon.Headers["content-type"]);
        var bytes = await icon.BodyAsync();
        Assert.Equal(new byte[] { 0, 0, 1, 0 }, bytes[..4]);
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    private async Task ShotAsync(string name) =>
        await _page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(BrowserFixture.ScreenshotDirectory, $"{name}.png"), FullPage = true });
}
