using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Usine.Connectors.Mqtt;

namespace Usine.Tests.Api;

/// <summary>How <c>usine serve</c> reads its settings per component and composes the platform, without starting it.</summary>
public sealed class ConfigurationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-configuration-").FullName;

    private Dictionary<string, string?> Required()
    {
        var config = Path.Combine(_dir, "usine.yaml");
        File.WriteAllText(config, TestDefinitions.Yaml);
        return new Dictionary<string, string?>
        {
            ["Usine:ConfigPath"] = config,
            ["Usine:DataDirectory"] = Path.Combine(_dir, "data"),
            [UsineHttpOptions.Section + ":Urls"] = "http://127.0.0.1:0",
        };
    }

    [Fact]
    public async Task Each_component_reads_its_own_section_and_a_later_setting_overrides_an_earlier_one()
    {
        var settings = Required().ToList();
        settings.AddRange(
        [
            new("Usine:RawRetentionDays", "60"),
            new("Usine:Alerting:EvaluateEvery", "00:00:20"),
            new(UsineHttpOptions.Section + ":MaxPushBytes", "1024"),
            new(UsineHttpOptions.Section + ":SqlTimeout", "00:01:00"),
            new(UsineStoreComposition.Section + ":MemoryLimit", "200MB"),
            new(UsineServer.MqttSection + ":DefaultBroker", "mqtt://broker.plant.local:1884"),

            // The command line comes last and wins.
            new(UsineHttpOptions.Section + ":MaxPushBytes", "4096"),
        ]);
        await using var app = UsineServer.Build(settings, logging: _ => { });

        var platform = app.Services.GetRequiredService<UsineOptions>();
        Assert.Equal(60, platform.RawRetentionDays);
        Assert.Equal(TimeSpan.FromSeconds(20), platform.Alerting.EvaluateEvery);
        Assert.Equal(0, platform.ArchiveRetentionDays);
        var http = app.Services.GetRequiredService<UsineHttpOptions>();
        Assert.Equal(4096, http.MaxPushBytes);
        Assert.Equal(TimeSpan.FromMinutes(1), http.SqlTimeout);
        Assert.Equal(new Uri("mqtt://broker.plant.local:1884"), app.Services.GetRequiredService<MqttConnectorOptions>().DefaultBroker);
        var store = app.Services.GetRequiredService<DuckDbStore>().Options;
        Assert.Equal("200MB", store.MemoryLimit);
        Assert.Equal(Path.Combine(_dir, "data"), store.DataDirectory);
    }

    [Theory]
    [InlineData("Usine:Http:MaxPushBytes", "0", "Usine:Http:MaxPushBytes")]
    [InlineData("Usine:Http:SqlTimeout", "soon", "Usine:Http:SqlTimeout")]
    [InlineData("Usine:Store:MemoryLimt", "1GB", "MemoryLimt")]
    [InlineData("Usine:Store:Threads", "0", "Usine:Store:Threads")]
    [InlineData("Usine:Mqtt:DefaultBroker", "http://broker:1883", "Usine:Mqtt: DefaultBroker")]
    public void A_wrong_setting_stops_the_start_with_a_message_naming_it(string key, string value, string named)
    {
        var settings = Required();
        settings[key] = value;
        var e = Assert.ThrowsAny<ArgumentException>(() => UsineServer.Build(settings, logging: _ => { }));
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_a_configuration_file_the_start_says_how_to_name_one()
    {
        var settings = Required();
        settings.Remove("Usine:ConfigPath");
        var e = Assert.Throws<ArgumentException>(() => UsineServer.Build(settings, logging: _ => { }));
        Assert.Contains("--config", e.Message, StringComparison.Ordinal);
        Assert.Contains("Usine:ConfigPath", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_host_starts_the_engine_before_the_sources_and_so_stops_it_after_them()
    {
        await using var app = UsineServer.Build(Required(), logging: _ => { });
        var hosted = app.Services.GetServices<IHostedService>().Select(h => h.GetType().Name).ToList();
        var engine = hosted.IndexOf("EngineHost");
        var sources = hosted.IndexOf(nameof(SourceHost));
        Assert.True(engine >= 0 && sources > engine, "expected EngineHost before SourceHost, got " + string.Join(", ", hosted));
        Assert.True(hosted.IndexOf("AlertLoop") > sources, "expected the alert loop after the sources, got " + string.Join(", ", hosted));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
