using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Usine.Storage;

namespace Usine.Web.Tests;

/// <summary>
/// The web UI in headless Chromium against a real platform: two vehicles screwed at stations of plant flins,
/// one message with a torque out of range and one with a malformed VIN in the dead letters.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class UiTests(BrowserFixture browser) : IAsyncLifetime
{
    private const string Vin1 = WebHarness.Vin1;
    private WebHarness _server = null!;
    private IBrowserContext _context = null!;
    private IPage _page = null!;

    public async Task InitializeAsync()
    {
        _server = await WebHarness.StartAsync();
        await _server.PushAsync("line1",
            WebHarness.Screwing(Vin1, "ST040", "2026-11-26T08:15:00Z", 12.5),
            WebHarness.Screwing(Vin1, "ST050", "2026-11-26T08:20:00Z", 31),
            WebHarness.Screwing(WebHarness.Vin2, "ST040", "2026-11-26T08:30:00Z", 13, "NOK"),
            WebHarness.Screwing(Vin1, "ST060", "2026-11-26T08:25:00Z", 500),
            WebHarness.Screwing("VF1-NOT-A-VIN", "ST040", "2026-11-26T08:35:00Z", 14));
        (_context, _page) = await browser.OpenAsync(_server.Address);
    }

    public async Task DisposeAsync()
    {
        await _context.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task An_engineer_finds_a_vehicle_from_the_overview_then_fixes_and_replays_a_dead_letter()
    {
        await _page.GotoAsync("/");
        await Expect(_page.Locator("h1")).ToHaveTextAsync("Overview");
        await Expect(_page.Locator("#sources tbody tr")).ToHaveCountAsync(1);
        await Expect(_page.Locator("#sources")).ToContainTextAsync("line1");
        await Expect(_page.Locator("#total-plants")).ToHaveTextAsync("1");
        await ShotAsync("overview");

        // The top bar's search suggests as the engineer types the start of the VIN.
        await _page.Locator("#avatar-search").PressSequentiallyAsync("vf1aaa");
        var suggestion = _page.Locator(".suggestions li", new() { HasText = Vin1 });
        await Expect(suggestion).ToHaveCountAsync(1);
        await ShotAsync("search");
        await suggestion.ClickAsync();

        await Expect(_page).ToHaveURLAsync(new Regex($"/avatars/vehicle/{Vin1}$"));
        await Expect(_page.Locator("h1")).ToHaveTextAsync($"vehicle {Vin1}");
        var timeline = _page.Locator("#timeline .timeline-row");
        await Expect(timeline).ToHaveCountAsync(2);
        await Expect(timeline.Nth(0)).ToContainTextAsync("2026-11-26 08:20:00Z");
        await Expect(timeline.Nth(0)).ToContainTextAsync("ST050");
        await Expect(timeline.Nth(0)).ToContainTextAsync("torque 31 Nm");
        await Expect(timeline.Nth(1)).ToContainTextAsync("ST040");
        await Expect(timeline.Nth(1)).ToContainTextAsync("torque 12.5 Nm");
        await Expect(_page.Locator("#breadcrumbs")).ToContainTextAsync("plant flins");
        await Expect(_page.Locator("dd.attribute")).ToContainTextAsync("OK since 2026-11-26 08:15:00Z");
        // Two stations, two series of one point each: dots, not a line drawn from one station to the other.
        await Expect(_page.Locator("figure.chart circle")).ToHaveCountAsync(2);
        await Expect(_page.Locator("figure.chart .legend span")).ToHaveTextAsync(["■ station ST040", "■ station ST050"]);
        await Expect(_page.Locator("#links td.duration")).ToHaveTextAsync(["1 h 40 min so far", "5 min"]);
        await ShotAsync("avatar");

        await _page.GetByRole(AriaRole.Link, new() { Name = "Dead letters", Exact = true }).ClickAsync();
        await Expect(_page.Locator("#groups tbody tr")).ToHaveCountAsync(2);
        await ShotAsync("deadletters");
        await _page.Locator("#groups a.group-link", new() { HasText = "torque" }).ClickAsync();
        await Expect(_page.Locator("#letters tbody tr")).ToHaveCountAsync(1);
        await _page.Locator("#letters tbody tr a").ClickAsync();

        await Expect(_page.Locator("#letter-status")).ToContainTextAsync("open");
        var payload = _page.Locator("textarea#payload");
        await Expect(payload).ToHaveValueAsync(new Regex("\"torque\": 500"));
        await payload.FillAsync((await payload.InputValueAsync()).Replace("\"torque\": 500", "\"torque\": 50", StringComparison.Ordinal));
        await ShotAsync("deadletter-edit");
        await _page.Locator("#save-replay").ClickAsync();

        await Expect(_page.Locator("#triage-result")).ToHaveTextAsync("Replayed: 1 record stored.");
        await Expect(_page.Locator("#letter-status")).ToContainTextAsync("replayed");
        await ShotAsync("deadletter-replayed");

        // The fixed message now belongs to the vehicle's timeline, newest first by event time.
        await _page.Locator("#avatar-search").FillAsync(Vin1);
        await _page.Locator("#avatar-search").PressAsync("Enter");
        await Expect(timeline).ToHaveCountAsync(3);
        await Expect(timeline.Nth(0)).ToContainTextAsync("2026-11-26 08:25:00Z");
        await Expect(timeline.Nth(0)).ToContainTextAsync("ST060");
        await Expect(timeline.Nth(0)).ToContainTextAsync("torque 50 Nm");
        await ShotAsync("avatar-after-replay");
    }

    [Fact]
    public async Task Discarding_a_dead_letter_needs_a_reason_and_shows_it()
    {
        await _page.GotoAsync("/deadletters");
        await _page.Locator("#groups a.group-link", new() { HasText = "vin" }).ClickAsync();
        await _page.Locator("#letters tbody tr a").ClickAsync();
        await Expect(_page.Locator("#discard")).ToBeDisabledAsync();
        await _page.Locator("#discard-reason").FillAsync("test bench message, not a vehicle");
        await _page.Locator("#discard").ClickAsync();

        await Expect(_page.Locator("#triage-result")).ToHaveTextAsync("Discarded 1 dead letter: test bench message, not a vehicle.");
        await Expect(_page.Locator("#letter-status")).ToContainTextAsync("discarded — test bench message, not a vehicle");
        Assert.Equal(1, _server.Store.DeadLetters.Count(new DeadLetterFilter { Status = "discarded" }).Total);
    }

    [Fact]
    public async Task Replaying_a_group_that_still_fails_says_so_and_keeps_it_open()
    {
        await _page.GotoAsync("/deadletters");
        await _page.Locator("#groups a.group-link", new() { HasText = "vin" }).ClickAsync();
        await _page.Locator("#replay-group").ClickAsync();

        await Expect(_page.Locator("#triage-result")).ToHaveTextAsync("1 sent: 0 replayed (0 records stored), 1 still failing.");
        await Expect(_page.Locator("#letters tbody tr")).ToContainTextAsync("open");
        await Expect(_page.Locator("#letters tbody tr td").Nth(4)).ToHaveTextAsync("2");
        await ShotAsync("group-replayed");
    }

    [Fact]
    public async Task Dead_letters_that_broke_the_same_rule_are_one_group_and_discarding_it_needs_a_reason_and_leaves_the_other_groups_open()
    {
        await _server.PushAsync("line1", WebHarness.Screwing(WebHarness.Vin2, "ST070", "2026-11-26T08:50:00Z", 900));
        await _page.GotoAsync("/deadletters");

        // 500 Nm and 900 Nm broke the same rule: one group, with both values as examples.
        await Expect(_page.Locator("#groups tbody tr")).ToHaveCountAsync(2);
        var torque = _page.Locator("#groups tbody tr", new() { HasText = "field 'torque' is above the maximum 200" });
        await Expect(torque.Locator("td.examples")).ToHaveTextAsync("900 Nm · 500 Nm");
        await torque.Locator("a.group-link").ClickAsync();
        await Expect(_page.Locator("#letters td.reason")).ToHaveTextAsync(["field 'torque' = 900 Nm is above the maximum 200", "field 'torque' = 500 Nm is above the maximum 200"]);
        await Expect(_page.Locator("#discard-group")).ToBeDisabledAsync();
        await _page.Locator("#group-discard-reason").FillAsync("bench calibration run");
        await _page.Locator("#discard-group").ClickAsync();

        await Expect(_page.Locator("#triage-result")).ToHaveTextAsync("Discarded 2 dead letters: bench calibration run.");
        Assert.Equal(1, _server.Store.DeadLetters.Count(new DeadLetterFilter()).Open);
        Assert.Equal(2, _server.Store.DeadLetters.Count(new DeadLetterFilter { Status = "discarded", Reason = "above the maximum" }).Total);
    }

    [Fact]
    public async Task The_overview_refreshes_on_its_own_with_the_throughput_of_new_messages()
    {
        await _page.GotoAsync("/");
        await Expect(_page.Locator("figure.chart")).ToContainTextAsync("No data yet.");
        await _server.PushAsync("line1",
            WebHarness.Screwing(WebHarness.Vin2, "ST050", "2026-11-26T08:40:00Z", 20),
            WebHarness.Screwing(WebHarness.Vin2, "ST060", "2026-11-26T08:45:00Z", 21),
            WebHarness.Screwing(WebHarness.Vin2, "ST070", "2026-11-26T08:50:00Z", 22));

        // The page samples the engine's counters every 3 s of the platform's clock.
        _server.Time.Advance(TimeSpan.FromSeconds(3));
        await Expect(_page.Locator("#sources tbody tr td").Nth(8)).ToHaveTextAsync("8");
        // One sample so far: a dot per series (a line needs two points).
        await Expect(_page.Locator("figure.chart circle")).ToHaveCountAsync(2);
        await Expect(_page.Locator("figure.chart text.tick").First).ToHaveTextAsync("1");
        await ShotAsync("overview-live");
    }

    [Fact]
    public async Task The_model_browser_lists_fields_with_types_units_and_ranges()
    {
        await _page.GotoAsync("/models");
        var torque = _page.Locator("#screwing table.fields tr", new() { HasText = "torque" });
        await Expect(torque).ToContainTextAsync("double");
        await Expect(torque).ToContainTextAsync("Nm");
        await Expect(torque).ToContainTextAsync("0 … 200");
        await Expect(_page.Locator("#screwing table.fields tr", new() { HasText = "status" })).ToContainTextAsync("OK, NOK");
        await Expect(_page.Locator("#screwing")).ToContainTextAsync("per 1 h by station: torque count/avg/min/max");
        await ShotAsync("models");
    }

    [Fact]
    public async Task The_query_page_runs_a_select_and_refuses_a_write()
    {
        await _page.GotoAsync("/query");
        await _page.Locator("#sql").FillAsync("SELECT station, count(*) AS n FROM m_screwing GROUP BY station ORDER BY station");
        await _page.Locator("#run").ClickAsync();
        await Expect(_page.Locator("#result tbody tr")).ToHaveCountAsync(2);
        await Expect(_page.Locator("#result tbody tr").Nth(0)).ToHaveTextAsync("ST0402");
        await Expect(_page.Locator("#download-csv")).ToHaveAttributeAsync("href", new Regex("^data:text/csv"));
        await ShotAsync("query");

        await _page.Locator("#sql").FillAsync("DELETE FROM m_screwing");
        await _page.Locator("#run").ClickAsync();
        await Expect(_page.Locator("#query-error")).ToContainTextAsync("only read-only SELECT queries are allowed");
        Assert.Equal(3, _server.Store.Records.RecordCounts()["screwing"]);
    }

    [Fact]
    public async Task The_aggregate_builder_writes_the_sql_and_charts_one_line_per_group()
    {
        await _page.GotoAsync("/query");
        await Expect(_page.Locator("#agg-field")).ToHaveValueAsync("torque");
        await _page.Locator("#agg-by").SelectOptionAsync("station");
        await _page.Locator("#agg-run").ClickAsync();

        await Expect(_page.Locator("#sql")).ToHaveValueAsync(new Regex("^SELECT date_trunc\\('hour', event_time\\) AS bucket, \"station\", avg\\(\"torque\"\\)"));
        await Expect(_page.Locator("#result tbody tr")).ToHaveCountAsync(2);
        await Expect(_page.Locator("#result tbody tr").Nth(0)).ToHaveTextAsync("2026-11-26 08:00:00ZST04012.75");
        await Expect(_page.Locator("#result tbody tr").Nth(1)).ToHaveTextAsync("2026-11-26 08:00:00ZST05031");
        await Expect(_page.Locator("figure.chart .legend span")).ToHaveTextAsync(["■ ST040", "■ ST050"]);
        await ShotAsync("aggregate");

        // Percentiles too: the 90th percentile of 12.5 and 13 at ST040, interpolated.
        await _page.Locator("#agg-function").SelectOptionAsync("p90");
        await _page.Locator("#agg-run").ClickAsync();
        await Expect(_page.Locator("#sql")).ToHaveValueAsync(new Regex("quantile_cont\\(\"torque\", 0\\.90\\) AS \"p90_torque\""));
        await Expect(_page.Locator("#result tbody tr").Nth(0)).ToHaveTextAsync("2026-11-26 08:00:00ZST04012.95");
    }

    [Fact]
    public async Task An_unknown_avatar_says_so_and_offers_a_search()
    {
        await _page.GotoAsync("/avatars/vehicle/VF1ZZZZZ999999999");
        await Expect(_page.Locator("h1")).ToHaveTextAsync("Unknown avatar");
        await Expect(_page.Locator("#not-found a")).ToHaveAttributeAsync("href", "/avatars?q=VF1ZZZZZ999999999");
        await ShotAsync("avatar-unknown");
    }

    [Fact]
    public async Task An_address_the_ui_does_not_have_answers_404_with_a_page_and_the_api_keeps_its_json()
    {
        var response = await _page.GotoAsync("/no/such/page");
        Assert.Equal(404, response!.Status);
        await Expect(_page.Locator("h1")).ToHaveTextAsync("Not found");
        await Expect(_page.Locator("main a")).ToHaveAttributeAsync("href", "/");

        var api = await _page.APIRequest.GetAsync("/api/no-such-thing");
        Assert.Equal(404, api.Status);
        Assert.Contains("no such endpoint", await api.TextAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_station_is_found_by_its_short_name_and_lists_the_vehicles_it_saw()
    {
        await _page.GotoAsync("/models");
        await _page.Locator("#avatar-search").PressSequentiallyAsync("st05");
        var suggestion = _page.Locator(".suggestions li", new() { HasText = "flins/assembly/L1/ST050" });
        await Expect(suggestion).ToContainTextAsync("station");
        await suggestion.ClickAsync();

        await Expect(_page.Locator("h1")).ToHaveTextAsync("station flins/assembly/L1/ST050");
        await Expect(_page.Locator("#breadcrumbs")).ToHaveTextAsync(new Regex("^plant flins.*shop flins/assembly.*line flins/assembly/L1.*station flins/assembly/L1/ST050$"));
        await Expect(_page.Locator("#visitors tbody tr")).ToHaveCountAsync(1);
        await Expect(_page.Locator("#visitors tbody tr")).ToContainTextAsync($"vehicle {Vin1}");
        await ShotAsync("station");
    }

    [Fact]
    public async Task The_source_page_shows_its_recent_messages_and_errors()
    {
        await _page.GotoAsync("/sources/line1");
        await Expect(_page.Locator("h1")).ToHaveTextAsync("Source line1");
        await Expect(_page.Locator("#recent-records tbody tr")).ToHaveCountAsync(3);
        await Expect(_page.Locator("#recent-errors tbody tr")).ToHaveCountAsync(2);
        await ShotAsync("source");
    }

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    private static IPageAssertions Expect(IPage page) => Assertions.Expect(page);

    private async Task ShotAsync(string name, [System.Runtime.CompilerServices.CallerMemberName] string test = "") =>
        await _page.ScreenshotAsync(new PageScreenshotOptions
        {
            Path = Path.Combine(BrowserFixture.ScreenshotDirectory, $"{test}-{name}.png"),
            FullPage = true,
        });
}
