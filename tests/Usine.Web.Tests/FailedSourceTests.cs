using Microsoft.Playwright;

namespace Usine.Web.Tests;

/// <summary>
/// Sources whose stored definition no longer loads (a model taken out of the configuration, a kind no connector
/// registers): the overview lists them failed, with why in the row itself rather than in a tooltip, beside the
/// sources that run.
/// </summary>
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
            await File.WriteAllTextAsync(Path.Combine(sources, "body-shop-modbus.yaml"),
                "sources:\n  - id: body-shop-modbus\n    plant: flins\n    kind: modbus\n    topic: \"flins/#\"\n    model: screwing\n");
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
        await Assertions.Expect(page.Locator("#sources tbody tr")).ToHaveCountAsync(3);
        var row = page.Locator("#sources tbody tr", new() { HasText = "meters" });
        var state = row.Locator(".state");
        await Assertions.Expect(state).ToHaveTextAsync("failed");
        await Assertions.Expect(state).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("bad"));
        await Assertions.Expect(state).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex("names model 'energy', which is not defined"));
        await Assertions.Expect(row.Locator(".reason")).ToContainTextAsync("names model 'energy', which is not defined");

        var unknownKind = page.Locator("#sources tbody tr", new() { HasText = "body-shop-modbus" });
        await Assertions.Expect(unknownKind.Locator(".state")).ToHaveTextAsync("failed");
        await Assertions.Expect(unknownKind.Locator(".reason")).ToContainTextAsync("kind 'modbus' is not one of file, http, mqtt");

        var ready = page.Locator("#sources tbody tr", new() { HasText = "line1" });
        await Assertions.Expect(ready.Locator(".state")).ToHaveTextAsync("ready");
        await Assertions.Expect(ready.Locator(".reason")).ToHaveCountAsync(0);
    }
}
