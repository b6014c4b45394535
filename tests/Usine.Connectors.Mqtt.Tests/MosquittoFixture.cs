using System.Net.Sockets;

namespace Usine.Connectors.Mqtt.Tests;

/// <summary>
/// The mosquitto started by <c>scripts/services.sh start</c>, at <c>USINE_TEST_MQTT</c>
/// (default <c>mqtt://127.0.0.1:18830</c>). A missing broker fails every test that needs it.
/// </summary>
public sealed class MosquittoFixture : IAsyncLifetime
{
    public Uri Broker { get; } = new(Environment.GetEnvironmentVariable("USINE_TEST_MQTT") is { Length: > 0 } url ? url : "mqtt://127.0.0.1:18830");

    public async Task InitializeAsync()
    {
        using var tcp = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await tcp.ConnectAsync(Broker.Host, Broker.Port, timeout.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            var how = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
                ? "CI must start it before the tests"
                : "run `scripts/services.sh start` first (or set USINE_TEST_MQTT to a running broker)";
            throw new InvalidOperationException($"no MQTT broker answers at {Broker} ({ex.Message}); {how}", ex);
        }
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The mosquitto executable, for tests that need a broker of their own.</summary>
    public static string MosquittoExecutable()
    {
        foreach (var candidate in new[] { "/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/local/bin/mosquitto" })
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("mosquitto is not installed; run `scripts/services.sh start`, which installs it");
    }
}

[CollectionDefinition(Name)]
public sealed class MosquittoCollection : ICollectionFixture<MosquittoFixture>
{
    public const string Name = "mosquitto";
}
