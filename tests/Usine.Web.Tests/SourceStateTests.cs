using Microsoft.Playwright;

namespace Usine.Web.Tests;

/// <summary>The overview says why a source does not run, in the row itself rather than in a tooltip.</summary>
[Collection(BrowserCollection.Name)]
public sealed class SourceStateTests(BrowserFixture browser) : IAsyncLifetime
{
    private WebHarness _server = null!;
    private IBrowserContext _context = null!;

    public async Task InitializeAsync()
    {
        // A source stored through the API with a kind no connector of this Usine registers: it is set aside as
        // failed, with the reason as its last error, the field that holds any connector's last error (a refused
        // broker certificate, a broker out of reach).
        _server = await WebHarness.StartAsync(prepareData: async data =>
        {
            var sources = Path.Combine(data, "definitions", "sources");
            Directory.CreateDirectory(sources);
            await File.WriteAllTextAsync(Path.Combine(sources, "body-shop-sparkplug.yaml"),
                "sources:\n  - id: body-shop-sparkplug\n    plant: flins\n    kind: sparkplug\n    topic: \"spBv1.0/flins/#\"\n    model: screwing\n");
        });
        _context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = _server.Address });
    }

    public async Task DisposeAsync()
    {
        await _context.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task A_source_that_does_not_run_shows_its_reason_under_its_state_and_a_running_one_shows_none()
    {
        var page = await _context.NewPageAsync();
        await page.GotoAsync("/");

        var stopped = page.Locator("#sources tbody tr", new() { HasText = "body-shop-sparkplug" });
        await Expect(stopped.Locator(".state")).ToHaveTextAsync("failed");
        await Expect(stopped.Locator(".reason")).ToContainTextAsync("kind 'sparkplug' is not one of file, http, mqtt");

        var ready = page.Locator("#sources tbody tr", new() { HasText = "line1" });
        await Expect(ready.Locator(".state")).ToHaveTextAsync("ready");
        await Expect(ready.Locator(".reason")).ToHaveCountAsync(0);
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);
}
