using System.Globalization;
using Usine.Benchmarks;
using Usine.Cli.Commands;
using Usine.Server;

namespace Usine.Cli;

/// <summary>The commands that run the platform in this process rather than talk to it.</summary>
internal static class Hosting
{
    public static async Task<int> ServeAsync(ServeSettings settings, CancellationToken cancellationToken)
    {
        // Without --config, the file may be named by the configuration (Usine:ConfigPath); the server says when neither does.
        if (settings.Config is not null && !File.Exists(settings.Config))
        {
            return Fail(2, $"the configuration file {settings.Config} does not exist");
        }

        // The flags given override the configuration (appsettings.json, Usine__* environment variables).
        var flags = new Dictionary<string, string?>
        {
            ["Usine:ConfigPath"] = settings.Config,
            ["Usine:DataDirectory"] = settings.Data,
            ["Usine:MaxReplayAttempts"] = settings.MaxReplayAttempts?.ToString(CultureInfo.InvariantCulture),
            ["Usine:RawRetentionDays"] = settings.RawRetentionDays?.ToString(CultureInfo.InvariantCulture),
            ["Usine:ArchiveRetentionDays"] = settings.ArchiveRetentionDays?.ToString(CultureInfo.InvariantCulture),
            ["Usine:Role"] = settings.Role,
            [UsineHttpOptions.Section + ":Urls"] = settings.Urls,
            [UsineStoreComposition.Section + ":ArchiveDirectory"] = settings.ArchiveDir,
            [Usine.Transport.Nats.NatsTransportOptions.Section + ":Urls"] = settings.Nats,
            [Usine.Transport.Nats.NatsTransportOptions.Section + ":CredentialsFile"] = settings.NatsCreds,
            [Usine.Transport.Nats.NatsTransportOptions.Section + ":TlsCaFile"] = settings.NatsTlsCa,
            [UsineStoreComposition.Section + ":Kind"] = settings.Postgres is null ? null : "postgres",
            [UsineStoreComposition.Section + ":ConnectionString"] = settings.Postgres,
        };
        return await Run(() => UsineServer.RunAsync(flags.Where(f => f.Value is not null)));
    }

    public static Task<int> DemoAsync(DemoSettings settings, CancellationToken cancellationToken) =>
        Run(() => DemoRunner.RunAsync(new DemoOptions
        {
            DataDirectory = settings.Data,
            Urls = settings.Urls ?? "http://127.0.0.1:5080",
            MqttPort = settings.MqttPort,
            Rate = settings.Rate ?? 200,
            ArchiveDirectory = settings.ArchiveDir,
            RawRetentionDays = settings.RawRetentionDays ?? 30,
            ArchiveRetentionDays = settings.ArchiveRetentionDays ?? 0,
            Nats = settings.Nats,
            Postgres = settings.Postgres,
        }, cancellationToken));

    public static async Task<int> BenchAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Mqtt is { } broker)
        {
            return await InWorkDirectoryAsync(settings, "mqtt", async work =>
                MqttBench.Format(await MqttBench.RunAsync(new Uri(broker), settings.Messages, settings.MqttBatch, (ushort?)settings.ReceiveMaximum, work, Console.Out.WriteLine, cancellationToken)));
        }

        if (settings.Cluster is { } nats)
        {
            if (settings.Postgres is not { } postgres)
            {
                return Fail(2, "--cluster needs --postgres CONNECTION: the processors commit to PostgreSQL");
            }

            var cluster = await ClusterBench.RunAsync(settings.Messages, nats, postgres, settings.Replicas, settings.Processors, settings.Work, Console.Out.WriteLine, cancellationToken);
            Console.Out.WriteLine();
            Console.Out.WriteLine(ClusterBench.Format(cluster));
            return 0;
        }

        if (settings.Sparkplug is { } sparkplugBroker)
        {
            return await InWorkDirectoryAsync(settings, "sparkplug", async work =>
                SparkplugBench.Format(await SparkplugBench.RunAsync(new Uri(sparkplugBroker), settings.Messages, settings.Metrics, work, Console.Out.WriteLine, cancellationToken)));
        }

        if (settings.OpcUa is { } endpoint)
        {
            return await InWorkDirectoryAsync(settings, "opcua", async work =>
                OpcUaBench.Format(await OpcUaBench.RunAsync(new Uri(endpoint), TimeSpan.FromMinutes(settings.Minutes), work, Console.Out.WriteLine, cancellationToken)));
        }

        if (settings.Explore)
        {
            return await InWorkDirectoryAsync(settings, "explore", async work =>
                ExploreBench.Format(await ExploreBench.RunAsync(settings.Messages, work, !settings.ArrivalOnly, Console.Out.WriteLine, cancellationToken)));
        }

        if (settings.Archive is { } sources)
        {
            return await InWorkDirectoryAsync(settings, "archive", async work =>
                ArchiveBench.Format(await ArchiveBench.RunAsync(settings.Messages, sources, work, Console.Out.WriteLine, cancellationToken)));
        }

        var report = await BenchRunner.RunAsync(new BenchOptions { Messages = settings.Messages, WorkDirectory = settings.Work, Keep = settings.Keep, Bare = settings.Bare, Postgres = settings.Postgres },
            Console.Out.WriteLine, cancellationToken);
        Console.Out.WriteLine();
        Console.Out.WriteLine(BenchRunner.Format(report));
        return 0;
    }

    /// <summary>
    /// Runs a benchmark scenario in <c>--work</c> (or a new temporary directory), prints its report, and deletes the
    /// directory afterwards unless <c>--keep</c>.
    /// </summary>
    private static async Task<int> InWorkDirectoryAsync(BenchSettings settings, string scenario, Func<string, Task<string>> run)
    {
        var work = settings.Work ?? Path.Combine(Path.GetTempPath(), $"usine-bench-{scenario}-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            var report = await run(work);
            Console.Out.WriteLine();
            Console.Out.WriteLine(report);
            return 0;
        }
        catch (UsineException ex)
        {
            return Fail(1, ex.Message);
        }
        finally
        {
            if (!settings.Keep)
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    private static async Task<int> Run(Func<Task> run)
    {
        try
        {
            await run();
            return 0;
        }
        catch (DefinitionException ex)
        {
            return Fail(1, ex.Message);
        }
        catch (UsineException ex)
        {
            return Fail(1, ex.Message);
        }
        catch (ArgumentException ex)
        {
            // A setting out of range, from a flag or the configuration; the message names it.
            return Fail(2, ex.Message);
        }
        catch (IOException ex) when (ex.Message.Contains("address", StringComparison.OrdinalIgnoreCase))
        {
            return Fail(1, "cannot listen: " + ex.Message + " (is another Usine running? choose another --urls)");
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            return Fail(1, "cannot open a port: " + ex.Message + " (choose another --urls or --mqtt-port)");
        }
        catch (OperationCanceledException)
        {
            return 0;
        }
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine("error: " + message);
        return code;
    }
}
