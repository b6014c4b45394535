using Microsoft.Extensions.Hosting;
using Usine.Connectors.Mqtt;
using Usine.Simulator;

namespace Usine.Server;

/// <summary>Settings of <c>usine demo</c>.</summary>
public sealed record DemoOptions
{
    /// <summary>Data directory of the demo. Default <c>./.usine-demo</c>.</summary>
    public string DataDirectory { get; init; } = ".usine-demo";

    /// <summary>Where the API listens. Default <c>http://127.0.0.1:5080</c>.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:5080";

    /// <summary>Port of the embedded MQTT broker, on loopback. Default 1883.</summary>
    public int MqttPort { get; init; } = 1883;

    /// <summary>MQTT messages per second the simulator publishes. Default 200.</summary>
    public double Rate { get; init; } = 200;

    /// <summary>Root of the archive. Default <c>archive</c> inside the data directory.</summary>
    public string? ArchiveDirectory { get; init; }

    /// <summary>Raw retention in days, 0 keeps. Default 30 (see <see cref="UsineOptions.RawRetentionDays"/>).</summary>
    public int RawRetentionDays { get; init; } = 30;

    /// <summary>Archive retention in days. Default 0: kept.</summary>
    public int ArchiveRetentionDays { get; init; }

    /// <summary>NATS JetStream servers: the demo's sources then go through JetStream to its processor (cluster mode). Default none.</summary>
    public string? Nats { get; init; }

    /// <summary>A PostgreSQL connection string: the demo's referential then lives in PostgreSQL. Default none (DuckDB).</summary>
    public string? Postgres { get; init; }
}

/// <summary>
/// <c>usine demo</c>: the platform on its embedded default, with an embedded MQTT broker and the plant
/// simulator publishing to it and dropping energy files, all in one process.
/// </summary>
public static class DemoRunner
{
    /// <summary>Writes the demo definitions into <paramref name="dataDirectory"/>/config and returns the main file.</summary>
    public static string WriteDemoConfig(string dataDirectory)
    {
        var dir = Path.Combine(dataDirectory, "config");
        Directory.CreateDirectory(dir);
        var asm = typeof(DemoRunner).Assembly;
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith("demo/", StringComparison.Ordinal)))
        {
            using var s = asm.GetManifestResourceStream(name)!;
            using var f = File.Create(Path.Combine(dir, name["demo/".Length..]));
            s.CopyTo(f);
        }

        return Path.Combine(dir, "usine.yaml");
    }

    public static async Task RunAsync(DemoOptions options, CancellationToken ct)
    {
        using var loggers = LoggerFactory.Create(UsineServer.ConsoleLogging);
        var config = WriteDemoConfig(options.DataDirectory);
        await using var broker = new EmbeddedMqttBroker(new EmbeddedMqttBrokerOptions { Port = options.MqttPort }, loggers.CreateLogger<EmbeddedMqttBroker>());
        await broker.StartAsync(ct);
        var app = UsineServer.Build(new UsineOptions
        {
            ConfigPath = config,
            DataDirectory = options.DataDirectory,
            RawRetentionDays = options.RawRetentionDays,
            ArchiveRetentionDays = options.ArchiveRetentionDays,
        }, new Dictionary<string, string?>
        {
            [UsineHttpOptions.Section + ":Urls"] = options.Urls,
            [UsineServer.MqttSection + ":DefaultBroker"] = broker.Address.ToString(),
            [UsineStoreComposition.Section + ":ArchiveDirectory"] = options.ArchiveDirectory,
            ["Usine:Nats:Urls"] = options.Nats,
            [UsineStoreComposition.Section + ":Kind"] = options.Postgres is null ? null : "postgres",
            [UsineStoreComposition.Section + ":ConnectionString"] = options.Postgres,
        }.Where(kv => kv.Value is not null));

        // The connectors subscribe before the simulator publishes its first message.
        await app.StartAsync(ct);
        var simulator = new PlantSimulator(new SimulatorOptions
        {
            BrokerUrl = broker.Address,
            DropDirectory = Path.Combine(options.DataDirectory, "drop", "energy"),
            MessagesPerSecond = options.Rate,
            Seed = Environment.TickCount,
        }, TimeProvider.System, loggers.CreateLogger<PlantSimulator>());
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, app.Lifetime.ApplicationStopping);
        var running = simulator.RunAsync(stop.Token);
        await app.WaitForShutdownAsync();
        await app.DisposeAsync();
        await stop.CancelAsync();
        try
        {
            await running;
        }
        catch (OperationCanceledException)
        {
            // The simulator ends with the demo.
        }
    }

}
