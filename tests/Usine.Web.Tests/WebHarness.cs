using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Usine.Server;
using Usine.Storage;

namespace Usine.Web.Tests;

/// <summary>A real platform served by Kestrel on a loopback port, filled through the HTTP push API.</summary>
internal sealed class WebHarness : IAsyncDisposable
{
    public const string Yaml = """
        models:
          - name: screwing
            version: 1
            time: ts
            key: [vin, station, ts]
            avatar: { type: vehicle, id: "{vin}", attributes: [status] }
            fields:
              vin:     { type: string, required: true, pattern: "^[A-HJ-NPR-Z0-9]{17}$" }
              station: { type: string, required: true }
              ts:      { type: timestamp, required: true }
              torque:  { type: double, unit: Nm, min: 0, max: 200, required: true }
              status:  { type: string, enum: [OK, NOK] }
            rollups:
              - { bucket: 1h, by: [station], measures: { torque: [count, avg, min, max] } }
        sources:
          - id: line1
            plant: flins
            kind: http
            model: screwing
            context: { shop: assembly, line: L1, station: "{station}" }
            map: { vin: "$.VIN", ts: "$.time", torque: "$.result.torque", status: "$.result.status" }
        """;

    public const string Vin1 = "VF1AAAAA111111111";
    public const string Vin2 = "VF1BBBBB222222222";

    private readonly WebApplication _app;
    private readonly string _dir;

    private WebHarness(WebApplication app, FakeTimeProvider time, string address, string dir)
    {
        _app = app;
        _dir = dir;
        Store = app.Services.GetRequiredService<IUsineStore>();
        Time = time;
        Address = address;
    }

    /// <summary>The platform's store, by its facets.</summary>
    public IUsineStore Store { get; }

    public string Address { get; }

    /// <summary>The platform's clock: pages that refresh on a timer refresh when a test advances it.</summary>
    public FakeTimeProvider Time { get; }

    /// <summary>
    /// Starts the platform on <see cref="Yaml"/> and <paramref name="more"/> (further sources, an auth section), or on
    /// <paramref name="definitions"/> instead of <see cref="Yaml"/> when given; <paramref name="prepareData"/> may put
    /// files in the data directory first, as an earlier run left them.
    /// </summary>
    public static async Task<WebHarness> StartAsync(string more = "", string? definitions = null, Func<string, Task>? prepareData = null)
    {
        var dir = Directory.CreateTempSubdirectory("usine-web-").FullName;
        var config = Path.Combine(dir, "usine.yaml");
        await File.WriteAllTextAsync(config, (definitions ?? Yaml) + "\n" + more);
        if (prepareData is not null)
        {
            await prepareData(Path.Combine(dir, "data"));
        }

        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
        var app = UsineServer.Build(new UsineOptions
        {
            ConfigPath = config,
            DataDirectory = Path.Combine(dir, "data"),
            StartConnectors = false,
            ArchiveTimeOfDay = null,
        }, new Dictionary<string, string?>
        {
            [UsineHttpOptions.Section + ":Urls"] = "http://127.0.0.1:0",
            [UsineStoreComposition.Section + ":MemoryLimit"] = "256MB",
        }, services => services.AddSingleton<TimeProvider>(time), logging: _ => { });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new WebHarness(app, time, address, dir);
    }

    public static string Screwing(string vin, string station, string time, double torque, string status = "OK") =>
        "{\"VIN\":\"" + vin + "\",\"station\":\"" + station + "\",\"time\":\"" + time + "\",\"result\":{\"torque\":"
        + torque.ToString(System.Globalization.CultureInfo.InvariantCulture) + ",\"status\":\"" + status + "\"}}";

    /// <summary>Pushes newline-delimited messages to a source and checks the server took them.</summary>
    public Task PushAsync(string source, params string[] messages) => PushWithKeyAsync(null, source, messages);

    /// <summary>Pushes with an API key, for a platform that requires one.</summary>
    public async Task PushWithKeyAsync(string? key, string source, params string[] messages)
    {
        using var http = new HttpClient { BaseAddress = new Uri(Address) };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }

        using var body = new StringContent(string.Join("\n", messages) + "\n", Encoding.UTF8, "application/json");
        var r = await http.PostAsync($"/api/sources/{source}/messages", body);
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"push to {source}: expected 200, got {(int)r.StatusCode}: {await r.Content.ReadAsStringAsync()}");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temporary folder is harmless; the test result is what matters.
        }
    }
}
