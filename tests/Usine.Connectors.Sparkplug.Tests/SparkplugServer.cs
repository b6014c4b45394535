using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Usine.Server;

namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>
/// The whole platform as <c>usine serve</c> runs it (Kestrel on a loopback port, a DuckDB store in a temporary
/// directory) with one sparkplug source whose model makes each edge node an avatar, <c>edge_node {edge}</c>, and
/// an <c>edge-offline</c> alert rule. Alerts are evaluated when a test asks (<c>POST /api/alerts/evaluate</c>).
/// </summary>
internal sealed class SparkplugServer : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-sparkplug-server-").FullName;
    private WebApplication? _app;

    private SparkplugServer(string avatarId)
    {
        Group = "G" + Guid.NewGuid().ToString("N")[..10];
        HostId = "usine-" + Guid.NewGuid().ToString("N")[..10];
        AvatarId = avatarId;
    }

    public string Group { get; }

    public string HostId { get; }

    public string AvatarId { get; }

    public HttpClient Http { get; private set; } = null!;

    /// <summary>Starts the platform; <paramref name="avatarId"/> is the template of the model's avatar id, of type <c>edge_node</c>.</summary>
    public static async Task<SparkplugServer> StartAsync(Uri broker, string avatarId = "{edge}")
    {
        var server = new SparkplugServer(avatarId);
        var yaml = $$"""
            models:
              - name: weld_metric
                version: 1
                time: ts
                avatar: { type: edge_node, id: "{{avatarId}}" }
                fields:
                  tag:    { type: string, required: true }
                  value:  { type: double }
                  ts:     { type: timestamp, required: true }
                  edge:   { type: string }
                  device: { type: string }
            sources:
              - id: body-welds
                kind: sparkplug
                plant: douai
                model: weld_metric
                settings: { broker: "{{broker}}", hostId: {{server.HostId}}, clientId: "usine-{{server.HostId}}", groups: [{{server.Group}}], reorderMilliseconds: 300 }
                map: { tag: "$.metric", value: "$.value", ts: "$.timestamp", edge: "$.edge", device: "$.device" }
            alerts:
              rules:
                - { name: edge-down, signal: edge-offline }
                - { name: counts, signal: reconcile-mismatch }
            """;
        var config = Path.Combine(server._dir, "usine.yaml");
        await File.WriteAllTextAsync(config, yaml);
        var options = new UsineOptions
        {
            ConfigPath = config,
            DataDirectory = Path.Combine(server._dir, "data"),
            ArchiveTimeOfDay = null,

            // Evaluated when the test asks: what fires and resolves is then what the test saw, not a timer's choice.
            EvaluateAlerts = false,
        };
        Dictionary<string, string?> settings = new()
        {
            ["Usine:Http:Urls"] = "http://127.0.0.1:0",
            ["Usine:Store:MemoryLimit"] = "256MB",
        };
        server._app = UsineServer.Build(options, settings, logging: _ => { });
        await server._app.StartAsync();
        var address = server._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.Http = new HttpClient { BaseAddress = new Uri(address) };
        server.Http.DefaultRequestHeaders.Add("X-Usine-Actor", "marie");
        // Running once subscribed and online on its STATE: births published from then on reach it.
        await TestTimeouts.EventuallyAsync(async () => (await server.Job()).GetProperty("state").GetString() == "running",
            "the sparkplug source to connect and subscribe", async () => (await server.Job()).ToString());
        return server;
    }

    public async Task<JsonElement> Get(string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"GET {path}: expected {expected}, got {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>Evaluates the alert rules now and returns the alerts firing.</summary>
    public async Task<JsonElement> EvaluateAlerts()
    {
        using var response = await Http.PostAsync("/api/alerts/evaluate", null);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST /api/alerts/evaluate: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("firing").Clone();
    }

    /// <summary>The avatar of an edge node, as the API answers it.</summary>
    public Task<JsonElement> Avatar(string id) => Get($"/api/avatars/{Uri.EscapeDataString(id)}?type=edge_node");

    /// <summary>The source's stream job, as the API answers it.</summary>
    public async Task<JsonElement> Job() => (await Get("/api/jobs/stream:body-welds")).GetProperty("job");

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }
}
