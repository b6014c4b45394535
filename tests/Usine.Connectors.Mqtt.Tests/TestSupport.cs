using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Pipeline;
using Usine.Sources;

namespace Usine.Connectors.Mqtt.Tests;

internal static class TestTimeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(20);
}

internal static class TestSources
{
    /// <summary>A source with a unique id and topic, so tests never see each other's sessions or messages.</summary>
    public static SourceDefinition Mqtt(Uri broker, string topic, IReadOnlyDictionary<string, string>? settings = null, string? id = null)
    {
        var all = new Dictionary<string, string>(StringComparer.Ordinal) { ["broker"] = broker.ToString(), ["topic"] = topic };
        foreach (var (k, v) in settings ?? new Dictionary<string, string>())
        {
            all[k] = v;
        }

        return new SourceDefinition
        {
            Id = id ?? $"test-{Guid.NewGuid():N}",
            Plant = Template.Parse("test"),
            Kind = MqttConnectors.Kind,
            Model = "test",
            Settings = all,
        };
    }

    /// <summary>An MQTT connector on the source runner, as the platform starts it.</summary>
    public static SourceRunner Runner(SourceDefinition source, IIngestor ingestor, MqttConnectorOptions? options = null, ILogger<MqttSourceConnector>? logger = null, Job? job = null)
    {
        var connector = new MqttSourceConnector(source, options ?? FastOptions, logger);
        return new SourceRunner(connector, ingestor, connector.RunnerOptions, job);
    }

    public static string UniqueTopicRoot() => $"usine-test/{Guid.NewGuid():N}";

    /// <summary>Options that retry fast, so a test spends its time on what it checks.</summary>
    public static MqttConnectorOptions FastOptions => new()
    {
        ReconnectMinBackoff = TimeSpan.FromMilliseconds(50),
        ReconnectMaxBackoff = TimeSpan.FromMilliseconds(250),
        IngestRetryMinBackoff = TimeSpan.FromMilliseconds(20),
        IngestRetryMaxBackoff = TimeSpan.FromMilliseconds(100),
        SessionExpiry = TimeSpan.FromMinutes(5),
        DrainTimeout = TimeSpan.FromSeconds(5),
    };

    public static byte[] Payload(int n) => Encoding.UTF8.GetBytes($$"""{"n":{{n}}}""");

    public static int N(RawMessage m) => JsonDocument.Parse(m.Payload).RootElement.GetProperty("n").GetInt32();
}

/// <summary>Runs a connector in the background and stops it like a host would.</summary>
internal sealed class RunningConnector : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();

    public RunningConnector(SourceRunner connector)
    {
        Connector = connector;
        Run = Task.Run(() => connector.RunAsync(_stop.Token));
    }

    /// <summary>The MQTT connector on its runner: the runner has the state and the counters.</summary>
    public SourceRunner Connector { get; }

    public MqttSourceConnector Mqtt => (MqttSourceConnector)Connector.Connector;

    public Task Run { get; }

    /// <summary>Completes when <paramref name="condition"/> holds after a state change; the timeout says what was expected.</summary>
    public async Task WaitUntilAsync(Func<SourceRunner, bool> condition, string expectation)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChange(object? sender, ConnectorStateChangedEventArgs e)
        {
            if (condition(Connector))
            {
                signal.TrySetResult();
            }
        }

        Connector.StateChanged += OnChange;
        try
        {
            if (condition(Connector))
            {
                return;
            }

            var finished = await Task.WhenAny(signal.Task, Run).WaitAsync(TestTimeouts.Default).ConfigureAwait(false);
            if (finished == Run && !signal.Task.IsCompleted)
            {
                await Run; // surfaces the exception that ended the connector
                throw new InvalidOperationException($"the connector stopped before {expectation}");
            }
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"expected {expectation} within {TestTimeouts.Default}; the connector is {Connector.State}, last error: {Connector.LastError?.Message ?? "none"}");
        }
        finally
        {
            Connector.StateChanged -= OnChange;
        }
    }

    public Task WaitUntilRunningAsync() => WaitUntilAsync(c => c.State == ConnectorState.Running, "the connector to be connected and subscribed");

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Run.WaitAsync(TestTimeouts.Default);
    }

    public async ValueTask DisposeAsync()
    {
        if (!Run.IsCompleted)
        {
            await _stop.CancelAsync();
            try
            {
                await Run.WaitAsync(TestTimeouts.Default);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The test already failed or asserted on it.
            }
        }

        _stop.Dispose();
    }
}

/// <summary>Routes connector logs to the test output, so a failure shows what the connector saw; tests can await an event.</summary>
internal sealed class TestOutputLogger<T>(ITestOutputHelper output) : ILogger<T>
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, int> _counts = [];
    private readonly List<(int EventId, int Times, TaskCompletionSource Signal)> _waiters = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lock)
        {
            _counts[eventId.Id] = _counts.GetValueOrDefault(eventId.Id) + 1;
            foreach (var w in _waiters.Where(w => w.EventId == eventId.Id && _counts[eventId.Id] >= w.Times))
            {
                w.Signal.TrySetResult();
            }
        }

        try
        {
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {eventId.Id} {formatter(state, exception)}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}");
        }
        catch (InvalidOperationException)
        {
            // Logged after the test finished.
        }
    }

    /// <summary>Completes once the event was logged <paramref name="times"/> times.</summary>
    public async Task WaitForEventAsync(int eventId, int times, string expectation)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_counts.GetValueOrDefault(eventId) >= times)
            {
                return;
            }

            _waiters.Add((eventId, times, signal));
        }

        try
        {
            await signal.Task.WaitAsync(TestTimeouts.Default);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"expected {expectation} (log event {eventId} {times} times) within {TestTimeouts.Default}");
        }
    }
}
