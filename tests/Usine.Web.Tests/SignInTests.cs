using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Usine.Security;

namespace Usine.Web.Tests;

/// <summary>
/// The web UI of a platform that requires authentication, in headless Chromium: a person signs in with an API key,
/// sees only the plants of that key, cannot act as a viewer, and an operator's actions are audited under their key.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class SignInTests(BrowserFixture browser) : IAsyncLifetime
{
    private const string DouaiVin = "VF1DDDDD000000001";
    private static readonly string FlinsViewer = ApiKeys.New();
    private static readonly string Operator = ApiKeys.New();
    private static readonly string ShiftKey = ApiKeys.New();

    private static readonly string More = $$"""
          - id: line2
            plant: douai
            kind: http
            model: screwing
            context: { shop: assembly, line: L1, station: "{station}" }
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
        auth:
          keys:
            - { name: flins-viewer, hash: "{{ApiKeys.HashText(FlinsViewer)}}", role: viewer, plants: [flins] }
            - { name: ops, hash: "{{ApiKeys.HashText(Operator)}}", role: operator }
            - { name: shift-key, hash: "{{ApiKeys.HashText(ShiftKey)}}", role: viewer, expires: 2026-11-26T12:00:00Z }
        """;

    private WebHarness _server = null!;
    private IBrowserContext _context = null!;
    private IPage _page = null!;

    public async Task InitializeAsync()
    {
        _server = await WebHarness.StartAsync(More);
        await _server.PushWithKeyAsync(Operator, "line1",
            WebHarness.Screwing(WebHarness.Vin1, "ST040", "2026-11-26T08:15:00Z", 12.5),
            WebHarness.Screwing(WebHarness.Vin1, "ST060", "2026-11-26T08:25:00Z", 500));
        await _server.PushWithKeyAsync(Operator, "line2",
            WebHarness.Screwing(DouaiVin, "ST040", "2026-11-26T08:15:00Z", 22.5),
            WebHarness.Screwing(DouaiVin, "ST060", "2026-11-26T08:25:00Z", 700));
        (_context, _page) = await browser.OpenAsync(_server.Address);
    }

    public async Task DisposeAsync()
    {
        await _context.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task A_plant_viewer_signs_in_sees_only_their_plant_and_an_operator_replays_under_their_own_name()
    {
        // Any page sends a stranger to the sign-in page, and back to that page after signing in.
        await _page.GotoAsync("/deadletters");
        await Expect(_page).ToHaveURLAsync(new Regex("/login\\?returnUrl=%2Fdeadletters$"));
        await _page.Locator("#credential").FillAsync("usine_wrong");
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(_page.Locator(".error")).ToContainTextAsync("the API key is not known");
        await ShotAsync("login-refused");

        await _page.Locator("#credential").FillAsync(FlinsViewer);
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(_page).ToHaveURLAsync(new Regex("/deadletters$"));
        await Expect(_page.Locator("#signed-in-as")).ToHaveTextAsync("key:flins-viewer");

        // Dead letters of flins only, and no action for a viewer.
        await Expect(_page.Locator("#groups tbody tr")).ToHaveCountAsync(1);
        await Expect(_page.Locator("#groups")).ToContainTextAsync("line1");
        await Expect(_page.Locator("#groups")).Not.ToContainTextAsync("line2");
        await _page.Locator("#groups a.group-link").ClickAsync();
        await Expect(_page.Locator("#viewer-note")).ToContainTextAsync("need the operator role");
        await Expect(_page.Locator("#replay-group")).ToHaveCountAsync(0);
        await _page.Locator("#letters tbody tr a").ClickAsync();
        await Expect(_page.Locator("#viewer-note")).ToContainTextAsync("need the operator role");
        await Expect(_page.Locator("#replay")).ToHaveCountAsync(0);
        await ShotAsync("viewer-deadletter");

        // The overview counts one plant; the douai vehicle is not found, by search or by address.
        await _page.GotoAsync("/");
        await Expect(_page.Locator("#total-plants")).ToHaveTextAsync("1");
        await Expect(_page.Locator("#sources")).ToContainTextAsync("line1");
        await Expect(_page.Locator("#sources")).Not.ToContainTextAsync("line2");
        await Expect(_page.Locator("#sources")).Not.ToContainTextAsync("douai");
        await _page.Locator("#avatar-search").PressSequentiallyAsync("vf1ddd");
        await Expect(_page.Locator(".suggestions li")).ToHaveCountAsync(0);
        await _page.GotoAsync($"/avatars/vehicle/{DouaiVin}");
        await Expect(_page.Locator("#not-found")).ToBeVisibleAsync();

        // SQL from the query page reads flins only.
        await _page.GotoAsync("/query");
        await _page.Locator("#sql").FillAsync("SELECT plant, count(*) AS n FROM m_screwing GROUP BY plant");
        await _page.Locator("#run").ClickAsync();
        await Expect(_page.Locator("#result tbody tr")).ToHaveCountAsync(1);
        await Expect(_page.Locator("#result")).ToContainTextAsync("flins");
        await ShotAsync("viewer-query");

        // Signing out ends the session; an operator signs in and replays, and the audit log names the key.
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(_page).ToHaveURLAsync(new Regex("/login$"));
        await _page.GotoAsync("/deadletters");
        await Expect(_page).ToHaveURLAsync(new Regex("/login\\?returnUrl=%2Fdeadletters$"));
        await _page.Locator("#credential").FillAsync(Operator);
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(_page.Locator("#groups tbody tr")).ToHaveCountAsync(2);
        await _page.Locator("#groups a.group-link", new() { HasText = "torque" }).First.ClickAsync();
        await _page.Locator("#letters tbody tr a").First.ClickAsync();
        await Expect(_page.Locator("#replay")).ToBeVisibleAsync();
        await _page.Locator("#replay").ClickAsync();
        await Expect(_page.Locator("#triage-result")).ToContainTextAsync("Still failing");
        await ShotAsync("operator-replay");

        var audit = _server.Store.Audit.Entries(null, null, 10);
        Assert.Equal("key:ops (web)", Assert.Single(audit).Actor);
    }

    [Fact]
    public async Task A_session_whose_key_expires_is_sent_back_to_sign_in_at_its_next_page()
    {
        await _page.GotoAsync("/");
        await _page.Locator("#credential").FillAsync(ShiftKey);
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(_page.Locator("#signed-in-as")).ToHaveTextAsync("key:shift-key");
        await _page.GetByRole(AriaRole.Link, new() { Name = "Dead letters", Exact = true }).ClickAsync();
        await Expect(_page).ToHaveURLAsync(new Regex("/deadletters$"));

        // The key expires while the page is open: the next page, reached inside the same circuit, asks to sign in.
        _server.Time.SetUtcNow(new DateTimeOffset(2026, 11, 26, 12, 0, 1, TimeSpan.Zero));
        await _page.GetByRole(AriaRole.Link, new() { Name = "Models", Exact = true }).ClickAsync();
        await Expect(_page).ToHaveURLAsync(new Regex("/login\\?returnUrl=%2Fmodels$"));
        await _page.Locator("#credential").FillAsync(ShiftKey);
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(_page.Locator(".error")).ToContainTextAsync("the API key 'shift-key' expired at 2026-11-26T12:00:00Z");
        await ShotAsync("session-expired");
    }

    private async Task ShotAsync(string name, [System.Runtime.CompilerServices.CallerMemberName] string test = "") =>
        await _page.ScreenshotAsync(new PageScreenshotOptions
        {
            Path = Path.Combine(BrowserFixture.ScreenshotDirectory, $"{test}-{name}.png"),
            FullPage = true,
        });

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    private static IPageAssertions Expect(IPage page) => Assertions.Expect(page);
}
