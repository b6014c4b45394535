using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Usine.Server.Operations;

namespace Usine.Tests.Api;

/// <summary>
/// A real platform served by Kestrel on a loopback port, over a data directory that outlives it: a test stops it
/// and starts it again with other definitions, as an operator fixes a model and restarts.
/// </summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ServerHarness(WebApplication app, HttpClient http)
    {
        _app = app;
        Platform = new PlatformServices(app.Services);
        Http = http;
    }

    /// <summary>The services of the running platform, as its endpoints see them.</summary>
    public PlatformServices Platform { get; }

    public HttpClient Http { get; }

    /// <summary>Settings of every test server: a loopback port of its own, and a small store.</summary>
    public static readonly IReadOnlyDictionary<string, string?> TestSettings = new Dictionary<string, string?>
    {
        [UsineHttpOptions.Section + ":Urls"] = "http://127.0.0.1:0",
        [UsineStoreComposition.Section + ":MemoryLimit"] = "256MB",
    };

    /// <summary>
    /// Starts the platform on <paramref name="yaml"/> in <paramref name="dir"/> and serves it. By default connectors
    /// stay stopped and the archive runs only when a test asks; <paramref name="options"/> changes any setting.
    /// Requests carry <paramref name="actor"/> as the person behind them, unless it is null. <paramref name="settings"/>
    /// sets the other components' settings by their configuration keys (<c>Usine:Http:MaxPushBytes</c>).
    /// </summary>
    public static async Task<ServerHarness> StartAsync(string dir, string yaml, TimeProvider? time,
        Func<UsineOptions, UsineOptions>? options = null, string? actor = "marie", IEnumerable<Usine.Pipeline.IPipelineStep>? steps = null,
        IEnumerable<KeyValuePair<string, string?>>? settings = null)
    {
        var config = Path.Combine(dir, "usine.yaml");
        await File.WriteAllTextAsync(config, yaml);
        var platform = new UsineOptions
        {
            ConfigPath = config,
            DataDirectory = Path.Combine(dir, "data"),
            StartConnectors = false,

            // The archive runs when a test asks, not when the fake clock passes 00:30.
            ArchiveTimeOfDay = null,
        };
        var app = Build(options?.Invoke(platform) ?? platform, time, settings, steps);
        var http = await ServeAsync(app);
        if (actor is not null)
        {
            http.DefaultRequestHeaders.Add("X-Usine-Actor", actor);
        }

        return new ServerHarness(app, http);
    }

    /// <summary>
    /// Builds the platform as <c>usine serve</c> does, on <paramref name="time"/> when given, with <see cref="TestSettings"/>
    /// and <paramref name="more"/> settings (configuration keys) over them.
    /// </summary>
    public static WebApplication Build(UsineOptions options, TimeProvider? time, IEnumerable<KeyValuePair<string, string?>>? more = null,
        IEnumerable<Usine.Pipeline.IPipelineStep>? steps = null) =>
        UsineServer.Build(options, [.. TestSettings, .. more ?? []], services =>
        {
            if (time is not null)
            {
                services.AddSingleton(time);
            }

            foreach (var step in steps ?? [])
            {
                services.AddSingleton<Usine.Pipeline.IPipelineStep>(step);
            }
        }, logging: _ => { });

    /// <summary>Starts a built platform on its loopback port, and returns a client of it.</summary>
    public static async Task<HttpClient> ServeAsync(WebApplication app)
    {
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new HttpClient { BaseAddress = new Uri(address) };
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

/// <summary>The services of a running platform that tests look at and drive directly, from its container.</summary>
internal sealed class PlatformServices(IServiceProvider services)
{
    public IServiceProvider Services { get; } = services;

    public UsineOptions Options => Services.GetRequiredService<UsineOptions>();

    public IUsineStore Store => Services.GetRequiredService<IUsineStore>();

    public UsineDefinitions Definitions => Services.GetRequiredService<UsineDefinitions>();

    public IngestEngine Engine => Services.GetRequiredService<IngestEngine>();

    public JobRegistry Jobs => Services.GetRequiredService<JobRegistry>();

    public AlertEngine Alerting => Services.GetRequiredService<AlertEngine>();

    public ArchiveService Archive => Services.GetRequiredService<ArchiveService>();

    public SourceHost Sources => Services.GetRequiredService<SourceHost>();

    /// <summary>The alerts the status shows; a test may attach a view of its own.</summary>
    public IAlertView? Alerts
    {
        get => Services.GetRequiredService<AlertStatus>().View;
        set => Services.GetRequiredService<AlertStatus>().View = value;
    }

    public IReadOnlyDictionary<string, string> FailedSources => Sources.FailedSources;

    public (string State, string? LastError) SourceState(SourceDefinition source) => Sources.SourceState(source);

    public void CheckStreams() => Sources.CheckStreams();
}
