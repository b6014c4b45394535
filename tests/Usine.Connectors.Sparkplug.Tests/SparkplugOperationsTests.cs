using System.Globalization;
using System.Text.Json;

namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>
/// What operators see of edge nodes through the whole platform (HTTP API and web pages), with a real edge node
/// (sparkplug-client on node) through mosquitto: offline on the avatar, in the job and as an alert; seq gaps in the
/// job and in reconciliation.
/// </summary>
[Collection(SparkplugServicesCollection.Name)]
public sealed class SparkplugOperationsTests(SparkplugServicesFixture services, ITestOutputHelper output)
{
    private async Task<EdgeNodeProcess> StartEdgeAsync(SparkplugServer server, int births = 1)
    {
        var edge = EdgeNodeProcess.Start(services, server.Group, "E1", output);
        await edge.WaitForAsync("births", births, "the edge node to publish its births");
        return edge;
    }

    private static async Task<string?> StateOf(SparkplugServer server, string avatar)
    {
        var a = await server.Avatar(avatar);
        return a.GetProperty("state").ValueKind == JsonValueKind.Null ? null : a.GetProperty("state").GetProperty("state").GetString();
    }

    /// <summary>The state line of an avatar's page, as headless Chromium (Debian's, at <c>USINE_CHROMIUM</c>) shows it.</summary>
    private static async Task<string> AvatarPageStateAsync(SparkplugServer server, string path)
    {
        var chromium = Environment.GetEnvironmentVariable("USINE_CHROMIUM") is { Length: > 0 } c ? c : "/usr/bin/chromium";
        Assert.True(File.Exists(chromium), $"no Chromium at {chromium}; run `scripts/services.sh start` (it installs Debian's chromium) or set USINE_CHROMIUM");
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        using var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox", "--disable-dev-shm-usage"] });
        var page = await browser.NewPageAsync(new() { BaseURL = server.Http.BaseAddress!.ToString(), ExtraHTTPHeaders = new Dictionary<string, string> { ["X-Usine-Actor"] = "marie" } });
        await page.GotoAsync(path);
        var state = page.Locator("#live-state");
        await state.WaitForAsync(new() { Timeout = (float)TestTimeouts.Default.TotalMilliseconds });
        return System.Text.RegularExpressions.Regex.Replace(await state.InnerTextAsync(), @"\s+", " ").Trim();
    }

    [Fact]
    public async Task A_killed_edge_node_is_offline_on_its_avatar_in_its_job_and_in_an_alert_that_resolves_with_its_rebirth()
    {
        await using var server = await SparkplugServer.StartAsync(services.Broker);
        var edge = await StartEdgeAsync(server);
        await edge.SendAsync(new { cmd = "data", values = new { temp = 21.5 } });
        await TestTimeouts.EventuallyAsync(async () => (await server.Get("/api/avatars?type=edge_node")).GetArrayLength() == 1 && await StateOf(server, "E1") == "online",
            "the edge node's avatar, online after its NBIRTH", async () => (await server.Get("/api/avatars?type=edge_node")).ToString());
        Assert.Equal(JsonValueKind.Null, (await server.Job()).GetProperty("detail").ValueKind);
        Assert.Equal(0, (await server.EvaluateAlerts()).GetArrayLength());

        await edge.DisposeAsync();
        await TestTimeouts.EventuallyAsync(async () => await StateOf(server, "E1") == "offline", "the avatar to say offline after the NDEATH", async () => (await server.Avatar("E1")).ToString());
        var state = (await server.Avatar("E1")).GetProperty("state");
        var since = state.GetProperty("since").GetDateTime();
        Assert.StartsWith("NDEATH (bdSeq ", state.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(("body-welds", "edge node", $"{server.Group}/E1"), (state.GetProperty("source").GetString(), state.GetProperty("kind").GetString(), state.GetProperty("name").GetString()));
        var time = since.ToString("HH:mm:ss", CultureInfo.InvariantCulture);

        var job = await server.Job();
        Assert.Equal($"1 of 1 edge node offline: {server.Group}/E1 since {time}Z ({state.GetProperty("reason").GetString()})", job.GetProperty("detail").GetString());
        Assert.Equal("running", job.GetProperty("state").GetString());

        var firing = await server.EvaluateAlerts();
        var alert = Assert.Single(firing.EnumerateArray());
        Assert.Equal("edge-down", alert.GetProperty("rule").GetString());
        Assert.Equal($"edge node {server.Group}/E1 of source body-welds is offline since {time}Z ({state.GetProperty("reason").GetString()})", alert.GetProperty("summary").GetString());

        var shown = await AvatarPageStateAsync(server, "/avatars/edge_node/E1");
        Assert.StartsWith($"offline since {since:yyyy-MM-dd HH:mm:ss}", shown, StringComparison.Ordinal);
        Assert.Contains($"{server.Group}/E1, followed by source body-welds", shown, StringComparison.Ordinal);

        await using var again = await StartEdgeAsync(server);
        await TestTimeouts.EventuallyAsync(async () => await StateOf(server, "E1") == "online", "the avatar to say online after the rebirth");
        var born = (await server.Avatar("E1")).GetProperty("state");
        Assert.Equal("NBIRTH", born.GetProperty("reason").GetString());
        Assert.True(born.GetProperty("since").GetDateTime() >= since, "online since the new birth");
        Assert.Equal(JsonValueKind.Null, (await server.Job()).GetProperty("detail").ValueKind);

        Assert.Equal(0, (await server.EvaluateAlerts()).GetArrayLength());
        var history = await server.Get("/api/alerts/history?rule=edge-down");
        Assert.Equal(["resolved", "firing"], history.EnumerateArray().Select(e => e.GetProperty("status").GetString()));
        var resolved = history[0].GetProperty("summary").GetString()!;
        Assert.StartsWith($"edge node {server.Group}/E1 of source body-welds is online again (NBIRTH at {born.GetProperty("since").GetDateTime():HH:mm:ss}Z, offline for ", resolved, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_device_that_dies_while_its_edge_node_lives_is_offline_on_its_own_avatar_and_alerts_alone()
    {
        await using var server = await SparkplugServer.StartAsync(services.Broker, avatarId: "{edge}/{device}");
        await using var edge = await StartEdgeAsync(server);
        await TestTimeouts.EventuallyAsync(async () => (await server.Get("/api/avatars?type=edge_node")).GetArrayLength() == 1 && await StateOf(server, "E1/robot") == "online",
            "the device's avatar, online after its DBIRTH");

        await edge.SendAsync(new { cmd = "ddeath" });
        await TestTimeouts.EventuallyAsync(async () => await StateOf(server, "E1/robot") == "offline", "the device's avatar to say offline after its DDEATH");
        var state = (await server.Avatar("E1/robot")).GetProperty("state");
        Assert.Equal(("device", $"{server.Group}/E1/robot", "DDEATH"), (state.GetProperty("kind").GetString(), state.GetProperty("name").GetString(), state.GetProperty("reason").GetString()));
        Assert.Equal($"device offline: {server.Group}/E1/robot since {state.GetProperty("since").GetDateTime():HH:mm:ss}Z (DDEATH)", (await server.Job()).GetProperty("detail").GetString());
        var alert = Assert.Single((await server.EvaluateAlerts()).EnumerateArray());
        Assert.StartsWith($"device {server.Group}/E1/robot of source body-welds is offline since ", alert.GetProperty("summary").GetString(), StringComparison.Ordinal);

        await edge.SendAsync(new { cmd = "dbirth" });
        await TestTimeouts.EventuallyAsync(async () => await StateOf(server, "E1/robot") == "online", "the device's avatar to say online after its DBIRTH");
        Assert.Equal(0, (await server.EvaluateAlerts()).GetArrayLength());
        Assert.StartsWith($"device {server.Group}/E1/robot of source body-welds is online again (DBIRTH at ",
            (await server.Get("/api/alerts/history?rule=edge-down"))[0].GetProperty("summary").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_seq_gap_is_counted_in_the_job_and_is_a_reconciliation_mismatch_naming_the_edge_node()
    {
        await using var server = await SparkplugServer.StartAsync(services.Broker);
        await using var edge = await StartEdgeAsync(server);
        await edge.SendAsync(new { cmd = "data", values = new { temp = 21.0 } });
        await TestTimeouts.EventuallyAsync(async () => (await server.Job()).GetProperty("stored").GetInt64() >= 4, "the births and the data before the gap to be stored");
        var before = await server.Get("/api/reconcile?source=body-welds");
        Assert.True(before.GetProperty("consistent").GetBoolean(), before.ToString());

        await edge.SendAsync(new { cmd = "skip", count = 3 });
        await edge.SendAsync(new { cmd = "data", values = new { temp = 22.0 } });
        await edge.WaitForAsync("births", 2, "the edge node to be born again after the host asked for it");
        await TestTimeouts.EventuallyAsync(async () => (await server.Job()).GetProperty("sequenceGaps").GetInt64() == 1, "the job to count the gap",
            async () => (await server.Job()).ToString());

        var report = await server.Get("/api/reconcile?source=body-welds");
        Assert.False(report.GetProperty("consistent").GetBoolean());
        var gap = Assert.Single(report.GetProperty("gaps").EnumerateArray());
        Assert.Equal(($"{server.Group}/E1", 3L), (gap.GetProperty("scope").GetString(), gap.GetProperty("missing").GetInt64()));
        Assert.Equal((gap.GetProperty("after").GetInt64() + 4) % 256, gap.GetProperty("before").GetInt64());
        Assert.Contains($"3 messages missing from the seq numbers of {server.Group}/E1 in 1 gap(s) (seen by the running source)",
            report.GetProperty("mismatches").EnumerateArray().Select(m => m.GetString()));

        // The reconcile-mismatch alert reads the same report.
        var alert = Assert.Single((await server.EvaluateAlerts()).EnumerateArray());
        Assert.Equal("counts", alert.GetProperty("rule").GetString());
        Assert.Contains("3 messages missing from the seq numbers", alert.GetProperty("summary").GetString(), StringComparison.Ordinal);
    }
}
