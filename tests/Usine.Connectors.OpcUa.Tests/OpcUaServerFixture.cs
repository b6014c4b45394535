using Usine.Connectors.Testing;

namespace Usine.Connectors.OpcUa.Tests;

/// <summary>One test server for a test class that does not kill it: counters every 200 ms, at most 2 monitored items per call, a user whose password may go unencrypted.</summary>
public sealed class OpcUaServerFixture : IAsyncLifetime
{
    private readonly NullOutput _output = new();

    public OpcUaServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await OpcUaServerProcess.StartAsync(_output, 200, "--max-items-per-call", "2", "--unsecure-password");

    public async Task DisposeAsync() => await Server.DisposeAsync();

    private sealed class NullOutput : ITestOutputHelper
    {
        public void WriteLine(string message)
        {
        }

        public void WriteLine(string format, params object[] args)
        {
        }
    }
}
