using Microsoft.Playwright;

namespace Usine.Web.Tests;

/// <summary>The overview says why a source does not run, in the row itself rather than in a tooltip.</summary>
[Collection(BrowserCollection.Name)]
public sealed class SourceStateTests(BrowserFixture browser) : IAsyncLifetime
{
    // A kind with no connector in this version: its state is "unsupported", with the reason as its last error,
    // the same field that holds a connector's last error (a refused broker certificate, a broker out of reach).
    private const string More = """
          - id: body-shop-sparkplug
            plant: flins
            kind: sparkplug
            topic: "spBv1.0/flins/#"
            model: screwing
        """;

    private WebHarness _server = null!;
    private IBrowserContext _context = null!;

    public async Task InitializeAsync()
    {
        _server = await WebHarness.StartAsync(More);
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
        await Expect(stopped.Locator(".state")).ToHaveTextAsync("unsupported");
        await Expect(stopped.Locator(".reason")).ToHaveTextAsync("sources of kind sparkplug have no connector in this version; their data can be imported or pushed");

        var ready = page.Locator("#sources tbody tr", new() { HasText = "line1" });
        await Expect(ready.Locator(".state")).ToHaveTextAsync("ready");
        await Expect(ready.Locator(".reason")).ToHaveCountAsync(0);
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);
}
