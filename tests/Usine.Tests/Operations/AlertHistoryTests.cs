using Usine.Tests.Api;
using static Usine.Tests.TestDefinitions;

namespace Usine.Tests.Operations;

public sealed class AlertHistoryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-alert-history-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 22, 0, 0, TimeSpan.Zero));

    private static readonly string Config = Yaml + """

        alerts:
          rules:
            - { name: quiet, signal: silence, source: line1, after: 1m }
        """;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Alerts_that_fired_before_a_restart_are_still_in_the_history_and_new_ones_are_numbered_after_them()
    {
        await using (var server = await ServerHarness.StartAsync(_dir, Config, _time))
        {
            await server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T21:00:00Z", 12));
            _time.Advance(TimeSpan.FromMinutes(2));
            await server.Post("/api/alerts/evaluate", new { });
            await server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T21:01:00Z", 13));
            await server.Post("/api/alerts/evaluate", new { });
        }

        await using (var server = await ServerHarness.StartAsync(_dir, Config, _time))
        {
            var history = await server.Get("/api/alerts/history");
            Assert.Equal([(2L, "resolved"), (1L, "firing")], history.EnumerateArray().Select(e => (e.GetProperty("id").GetInt64(), e.GetProperty("status").GetString())));
            Assert.Equal("line1", history[1].GetProperty("source").GetString());

            // Silent since the restart: a new alert, numbered after the kept ones.
            _time.Advance(TimeSpan.FromMinutes(2));
            await server.Post("/api/alerts/evaluate", new { });
            var latest = (await server.Get("/api/alerts/history?limit=1"))[0];
            Assert.Equal((3L, "firing"), (latest.GetProperty("id").GetInt64(), latest.GetProperty("status").GetString()));
        }
    }

    [Fact]
    public async Task After_a_restart_a_source_keeps_its_counters_and_last_seen_and_an_alert_firing_at_the_stop_stays_one_alert()
    {
        var pushedAt = _time.GetUtcNow().UtcDateTime;
        DateTime firedAt;
        await using (var server = await ServerHarness.StartAsync(_dir, Config, _time))
        {
            await server.Push("line1", "[" + Screwing(Vin1, "ST040", "2026-11-26T21:00:00Z", 12) + "," + Screwing(Vin1, "ST050", "2026-11-26T21:00:00Z", 999) + "]");
            _time.Advance(TimeSpan.FromMinutes(2));
            var firing = (await server.Post("/api/alerts/evaluate", new { })).GetProperty("firing");
            firedAt = Assert.Single(firing.EnumerateArray()).GetProperty("since").GetDateTime();
        }

        _time.Advance(TimeSpan.FromMinutes(10));
        await using (var server = await ServerHarness.StartAsync(_dir, Config, _time))
        {
            var line1 = await server.Get("/api/sources/line1");
            Assert.Equal((2L, 1L, 1L), (line1.GetProperty("received").GetInt64(), line1.GetProperty("stored").GetInt64(), line1.GetProperty("deadLetters").GetInt64()));
            Assert.Equal(pushedAt, line1.GetProperty("lastSeen").GetDateTime().ToUniversalTime(), TimeSpan.FromSeconds(1));
            var status = await server.Get("/api/status");
            Assert.Equal(2L, status.GetProperty("sources").EnumerateArray().Single(x => x.GetProperty("id").GetString() == "line1").GetProperty("received").GetInt64());

            // Still firing, under its first event: no second "firing", and the evaluation after the restart keeps it.
            var firing = Assert.Single((await server.Get("/api/alerts")).GetProperty("firing").EnumerateArray());
            Assert.Equal(firedAt, firing.GetProperty("since").GetDateTime());
            await server.Post("/api/alerts/evaluate", new { });
            Assert.Equal(["firing"], (await server.Get("/api/alerts/history")).EnumerateArray().Select(e => e.GetProperty("status").GetString()));

            await server.Push("line1", Screwing(Vin1, "ST040", "2026-11-26T21:10:00Z", 13));
            await server.Post("/api/alerts/evaluate", new { });
            var history = await server.Get("/api/alerts/history");
            Assert.Equal([(2L, "resolved"), (1L, "firing")], history.EnumerateArray().Select(e => (e.GetProperty("id").GetInt64(), e.GetProperty("status").GetString())));
            Assert.Equal("source line1 is sending again (silent 12m00s until 22:12:00Z)", history[0].GetProperty("summary").GetString());
            Assert.Equal(3L, (await server.Get("/api/sources/line1")).GetProperty("received").GetInt64());
        }
    }
}
