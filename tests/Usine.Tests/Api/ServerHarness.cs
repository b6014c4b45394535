using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Usine.Server;

namespace Usine.Tests.Api;

/// <summary>
/// A real platform served by Kestrel on a loopback port, over a data directory that outlives it: a test stops it
/// and starts it again with other definitions, as an operator fixes a model and restarts.
/// </summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ServerHarness(WebApplication app, UsinePlatform platform, HttpClient http)
    {
        _app = app;
        Platform = platform;
        Http = http;
    }

    public UsinePlatform Platform { get; }

    public HttpClient Http { get; }

    /// <summary>
    /// Starts the platform on <paramref name="yaml"/> in <paramref name="dir"/> and serves it. By default connectors
    /// stay stopped and the archive runs only when a test asks; <paramref name="options"/> changes any setting.
    /// Requests carry <paramref name="actor"/> as the person behind them, unless it is null.
    /// </summary>
    public static async Task<ServerHarness> StartAsync(string dir, string yaml, TimeProvider? time,
        Func<UsineServerOptions, UsineServerOptions>? options = null, string? actor = "marie", IEnumerable<Usine.Pipeline.IPipelineStep>? steps = null)
    {
        var config = Path.Combine(dir, "usine.yaml");
        await File.WriteAllTextAsync(config, yaml);
        var settings = new UsineServerOptions
        {
            ConfigPath = config,
            DataDirectory = Path.Combine(dir, "data"),
            MemoryLimit = "256MB",
            StartConnectors = false,

            // The archive runs when a test asks, not when the fake clock passes 00:30.
            ArchiveTimeOfDay = null,
        };
        var platform = await UsinePlatform.StartAsync(options?.Invoke(settings) ?? settings, NullLoggerFactory.Instance, steps, time: time);
        var (app, http) = await ServeAsync(platform);
        if (actor is not null)
        {
            http.DefaultRequestHeaders.Add("X-Usine-Actor", actor);
        }

        return new ServerHarness(app, platform, http);
    }

    /// <summary>Serves a started platform on a free loopback port, as <c>usine serve</c> does, with a client of it.</summary>
    public static async Task<(WebApplication App, HttpClient Http)> ServeAsync(UsinePlatform platform)
    {
        var app = UsineServer.Build(platform, "http://127.0.0.1:0", logging: _ => { });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new HttpClient { BaseAddress = new Uri(address) });
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public static async Task<JsonElement> Json(HttpResponseMessage r, HttpStatusCode expected)
    {
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == expected, $"expected {expected}, got {(int)r.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public async Task<JsonElement> Push(string source, string body) =>
        await Json(await Http.PostAsync($"/api/sources/{source}/messages", new StringContent(body, Encoding.UTF8, "application/json")), HttpStatusCode.OK);

    public async Task<JsonElement> Post(string path, object body, HttpStatusCode expected = HttpStatusCode.OK) =>
        await Json(await Http.PostAsJsonAsync(path, body), expected);

    public async Task<JsonElement> Get(string path, HttpStatusCode expected = HttpStatusCode.OK) =>
        await Json(await Http.GetAsync(path), expected);

    /// <summary>The first value of the first row of a query.</summary>
    public async Task<JsonElement> Scalar(string sql)
    {
        var r = await Post("/api/sql", new { sql });
        return r.GetProperty("rows")[0][0];
    }
}
