using Microsoft.Playwright;

namespace Usine.Web.Tests;

/// <summary>A source whose stored definition no longer loads: the overview lists it failed, with why, beside the sources that run.</summary>
[Collection(BrowserCollection.Name)]
public sealed class FailedSourceTests(BrowserFixture browser) : IAsyncLifetime
{
    private WebHarness _server = null!;
    private IBrowserContext _context = null!;

    public async Task InitializeAsync()
    {
        // Defined through the API on a model that was later taken out of the configuration.
        _server = await WebHarness.StartAsync(prepareData: async data =>
        {
            var sources = Path.Combine(data, "definitions", "sources");
            Directory.CreateDirectory(sources);
            await File.WriteAllTextAsync(Path.Combine(sources, "meters.yaml"),
                "sources:\n  - id: meters\n    plant: flins\n    kind: http\n    model: energy\n    map: { meter: \"$.m\", ts: \"$.t\" }\n");
        });
        _context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = _server.Address });
    }

    public async Task DisposeAsync()
    {
        await _context.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task The_overview_shows_a_source_that_could_not_start_as_failed_with_its_reason()
    {
        var page = await _context.NewPageAsync();
        await page.GotoAsync("/");
        await Assertions.Expect(page.Locator("#sources tbody tr")).ToHaveCountAsync(2);
        var row = page.Locator("#sources tbody tr", new() { HasText = "meters" });
        var state = row.Locator(".state");
        await Assertions.Expect(state).ToHaveTextAsync("failed");
        await Assertions.Expect(state).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("bad"));
        await Assertions.Expect(state).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex("names model 'energy', which is not defined"));
        await Assertions.Expect(page.Locator("#sources tbody tr", new() { HasText = "line1" }).Locator(".state")).ToHaveTextAsync("ready");
    }
}
