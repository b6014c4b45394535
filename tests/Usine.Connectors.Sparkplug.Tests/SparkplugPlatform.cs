using Microsoft.Extensions.Logging;
using Usine.Configuration;
using Usine.Ingestion;
using Usine.Operations;
using Usine.Storage.DuckDb;

namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>
/// The platform as <c>usine serve</c> composes it for one sparkplug source: the definitions loaded through the
/// registered kind, the engine over a real DuckDB store, and the source's connector on the source runner. The
/// source can be stopped and started again over the same store, as a restart of Usine does.
/// </summary>
internal sealed class SparkplugPlatform : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-sparkplug-").FullName;
    private readonly ITestOutputHelper _output;
    private readonly JobRegistry _jobs = new();
    private CancellationTokenSource? _stop;
    private Task? _run;

    public SparkplugPlatform(Uri broker, ITestOutputHelper output, string? extraSettings = null)
    {
        _output = output;
        Group = "G" + Guid.NewGuid().ToString("N")[..10];
        HostId = "usine-" + Guid.NewGuid().ToString("N")[..10];
        var yaml = $$"""
            models:
              - name: weld_metric
                version: 1
                time: ts
                fields:
                  tag:        { type: string, required: true }
                  value:      { type: double }
                  ts:         { type: timestamp, required: true }
                  edge:       { type: string }
                  device:     { type: string }
                  historical: { type: bool }
                rollups:
                  - { bucket: 1h, by: [tag], measures: { value: [count, sum] } }
            sources:
              - id: body-welds
                kind: sparkplug
                plant: douai
                model: weld_metric
                settings: { broker: "{{broker}}", hostId: {{HostId}}, clientId: "usine-{{HostId}}", groups: [{{Group}}], reorderMilliseconds: 300{{extraSettings}} }
                map: { tag: "$.metric", value: "$.value", ts: "$.timestamp", edge: "$.edge", device: "$.device", historical: "$.historical" }
            """;
        Definitions = DefinitionLoader.LoadText(yaml, "sparkplug.yaml", new SourceKindRegistry([SparkplugConnectors.Registration()]));
        Store = new DuckDbStore(new DuckDbStoreOptions { DataDirectory = Path.Combine(_dir, "data"), MemoryLimit = "256MB" });
        Engine = new IngestEngine(Definitions, Store.Commit);
    }

    public string Group { get; }

    public string HostId { get; }

    public UsineDefinitions Definitions { get; }

    public DuckDbStore Store { get; }

    public IngestEngine Engine { get; }

    public SparkplugSourceConnector? Connector { get; private set; }

    public SourceRunner? Runner { get; private set; }

    /// <summary>The source as the platform runs it, with the status pages show.</summary>
    public SparkplugLiveSource? Live { get; private set; }

    public Job Job => _jobs.Stream("body-welds");

    public async Task StartAsync()
    {
        if (_run is null && Runner is null)
        {
            await Engine.StartAsync(CancellationToken.None);
        }

        Connector = new SparkplugSourceConnector(Definitions.Sources["body-welds"], logger: new OutputLogger<SparkplugSourceConnector>(_output));
        Runner = new SourceRunner(Connector, Engine, Connector.RunnerOptions with { BatchWindow = TimeSpan.FromMilliseconds(20) }, Job, new OutputLogger<SourceRunner>(_output));
        _stop = new CancellationTokenSource();
        var runner = Runner;
        Live = new SparkplugLiveSource(runner, Connector.Host, Job);
        var live = Live;
        _run = Task.Run(() => live.RunAsync(_stop.Token));
        await TestTimeouts.Eventually(() => runner.State == ConnectorState.Running, "the sparkplug source to connect and subscribe", () => runner.State.ToString());
    }

    /// <summary>Stops the source as a stop of Usine does: what was taken is committed and acknowledged, then the STATE says offline.</summary>
    public async Task StopAsync()
    {
        if (_stop is not null && _run is not null)
        {
            await _stop.CancelAsync();
            await _run;
            _stop.Dispose();
            _stop = null;
            _run = null;
        }
    }

    /// <summary>The records, as "tag=value" in arrival order.</summary>
    public List<string> Records(string? where = null) => Store.Read(
        $"SELECT tag, value FROM m_weld_metric {(where is null ? "" : "WHERE " + where)} ORDER BY raw_position, raw_index",
        r => $"{r.GetString(0)}={(r.IsDBNull(1) ? "null" : r.GetDouble(1).ToString(System.Globalization.CultureInfo.InvariantCulture))}");

    public List<string> DeadLetters() => Store.Read("SELECT stage || ': ' || reason FROM dead_letters ORDER BY id", r => r.GetString(0));

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await Engine.DisposeAsync();
        await Store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private sealed class OutputLogger<T>(ITestOutputHelper output) : ILogger<T>
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try
            {
                output.WriteLine($"{logLevel}: {formatter(state, exception)}");
            }
            catch (InvalidOperationException)
            {
                // The test is over.
            }
        }
    }
}
