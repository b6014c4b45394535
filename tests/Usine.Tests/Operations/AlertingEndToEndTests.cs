using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Tests.Api;

namespace Usine.Tests.Operations;

/// <summary>
/// Silence detection end to end: a real platform behind Kestrel on a fake clock, a source that stops, and a
/// real webhook receiver that must get the firing and the resolved events, signed.
/// </summary>
public sealed class AlertingEndToEndTests : IAsyncLifetime
{
    private const string Secret = "night-shift-secret";
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-alerts-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 22, 0, 0, TimeSpan.Zero));
    private WebhookReceiver _hook = null!;
    private ServerHarness _server = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _hook = await WebhookReceiver.StartAsync();
        Environment.SetEnvironmentVariable("USINE_E2E_WEBHOOK_SECRET", Secret);
        var yaml = TestDefinitions.Yaml.Replace(
            "    map: { vin: \"$.VIN\", ts: \"$.time\", torque: \"$.result.torque\", status: \"$.result.status\" }\n",
            "    map: { vin: \"$.VIN\", ts: \"$.time\", torque: \"$.result.torque\", status: \"$.result.status\" }\n    expect: { every: 30s }\n",
            StringComparison.Ordinal) + $$"""

            alerts:
              notifiers:
                - { name: night, kind: webhook, url: "{{_hook.Url}}", secret: "${USINE_E2E_WEBHOOK_SECRET}" }
              rules:
                - { name: line-silent, signal: silence, source: line1, severity: critical, notify: [night] }
            """;
        Assert.Contains("expect: { every: 30s }", yaml, StringComparison.Ordinal);
        // Evaluations are asked for explicitly, so that the test knows when each one happened.
        _server = await ServerHarness.StartAsync(_dir, yaml, _time, o => o with { ArchiveTimeOfDay = TimeSpan.FromMinutes(30), EvaluateAlerts = false }, actor: null);
        _http = _server.Http;
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _hook.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task Push(int n)
    {
        var body = "[" + TestDefinitions.Screwing(TestDefinitions.Vin1, "ST040", $"2026-11-26T21:{n:00}:00Z", 10 + n) + "]";
        var r = await _http.PostAsync("/api/sources/line1/messages", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    private async Task<JsonElement> Evaluate()
    {
        var r = await _http.PostAsync("/api/alerts/evaluate", null);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        return (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("firing");
    }

    [Fact]
    public async Task A_source_that_stops_fires_within_twice_its_cadence_and_resolves_when_data_returns_and_the_webhook_gets_both()
    {
        await Push(1);
        _time.Advance(TimeSpan.FromSeconds(30));
        await Push(2);

        // The source stops. Within its cadence nothing fires; before twice its cadence the alert does.
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, (await Evaluate()).GetArrayLength());
        _time.Advance(TimeSpan.FromSeconds(20));
        var firing = await Evaluate();
        Assert.Equal("line-silent", Assert.Single(firing.EnumerateArray()).GetProperty("rule").GetString());

        var fired = await _hook.NextAsync("the firing event");
        var e = JsonDocument.Parse(fired.Body).RootElement;
        Assert.Equal(("firing", "line-silent", "silence", "critical", "line1"),
            (e.GetProperty("status").GetString(), e.GetProperty("rule").GetString(), e.GetProperty("signal").GetString(),
             e.GetProperty("severity").GetString(), e.GetProperty("source").GetString()));
        Assert.Contains("source line1 has sent nothing for 50s (expected every 30s)", e.GetProperty("summary").GetString(), StringComparison.Ordinal);
        Assert.Equal(WebhookNotifier.Signature(Secret, Encoding.UTF8.GetBytes(fired.Body)), fired.Headers["X-Usine-Signature"]);
        Assert.Equal("firing", fired.Headers["X-Usine-Event"]);

        // Still silent: no second notification for the same alert.
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, (await Evaluate()).GetArrayLength());

        await Push(3);
        Assert.Equal(0, (await Evaluate()).GetArrayLength());
        var resolved = await _hook.NextAsync("the resolved event");
        Assert.Equal("resolved", JsonDocument.Parse(resolved.Body).RootElement.GetProperty("status").GetString());
        Assert.Equal(WebhookNotifier.Signature(Secret, Encoding.UTF8.GetBytes(resolved.Body)), resolved.Headers["X-Usine-Signature"]);

        var history = await _http.GetFromJsonAsync<JsonElement>("/api/alerts/history");
        Assert.Equal(["resolved", "firing"], history.EnumerateArray().Select(x => x.GetProperty("status").GetString()));
        var alerts = await _http.GetFromJsonAsync<JsonElement>("/api/alerts");
        var notifier = Assert.Single(alerts.GetProperty("notifiers").EnumerateArray());
        Assert.Equal(2, notifier.GetProperty("delivered").GetInt64());
        Assert.Equal(0, alerts.GetProperty("firing").GetArrayLength());
    }

    [Fact]
    public async Task A_webhook_that_fails_is_retried_with_backoff_without_holding_anything_else()
    {
        _hook.AnswerNext(503, 500);
        var notifier = new WebhookNotifier(new NotifierDefinition { Name = "flaky", Kind = NotifierKind.Webhook, Url = _hook.Url, Secret = Secret, Attempts = 3 }, time: _time);
        await using (notifier)
        {
            notifier.Enqueue(new AlertEvent(1, "firing", "r", "lag", "warning", "line1", "late", _time.GetUtcNow().UtcDateTime, _time.GetUtcNow().UtcDateTime));

            // Ingestion goes on while the webhook fails: a push is answered at once.
            await Push(1);
            await _hook.NextAsync("the first attempt");
            Assert.True(SpinWait.SpinUntil(() => notifier.Counters.Retries == 1, TimeSpan.FromSeconds(20)), "no retry was scheduled after a 503");
            _time.Advance(TimeSpan.FromSeconds(1));
            await _hook.NextAsync("the second attempt, 1 s later");
            Assert.True(SpinWait.SpinUntil(() => notifier.Counters.Retries == 2, TimeSpan.FromSeconds(20)), "no retry was scheduled after a 500");
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.Empty(_hook.Pending);
            _time.Advance(TimeSpan.FromSeconds(1));
            var third = await _hook.NextAsync("the third attempt, 2 s after the second");
            Assert.EndsWith("-3", third.Headers["X-Usine-Delivery"], StringComparison.Ordinal);
            Assert.True(SpinWait.SpinUntil(() => notifier.Counters.Delivered == 1, TimeSpan.FromSeconds(20)), "the third attempt was not counted as delivered");
            Assert.Equal((1L, 0L, 2L, 0L), notifier.Counters);
        }
    }
}
