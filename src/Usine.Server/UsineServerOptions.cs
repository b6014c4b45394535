namespace Usine.Server;

/// <summary>Settings of <c>usine serve</c> and <c>usine demo</c>.</summary>
public sealed record UsineServerOptions
{
    /// <summary>The YAML file of models and sources. Required for serve; demo writes its own.</summary>
    public string? ConfigPath { get; init; }

    /// <summary>Where the store, dropped files and state live. Default <c>./.usine</c>.</summary>
    public string DataDirectory { get; init; } = ".usine";

    /// <summary>Where the HTTP API listens. Default <c>http://127.0.0.1:5080</c>.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:5080";

    /// <summary>The broker of MQTT sources that do not name one in their settings. Default <c>mqtt://127.0.0.1:1883</c>.</summary>
    public Uri DefaultMqttBroker { get; init; } = new("mqtt://127.0.0.1:1883");

    /// <summary>Largest body of an HTTP push, in bytes; larger answers 413. Default 16 MiB. File imports stream and have no limit.</summary>
    public long MaxPushBytes { get; init; } = 16 << 20;

    /// <summary>Time limit of one SQL query. Default 30 s.</summary>
    public TimeSpan SqlTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often file-drop folders are looked at. Default 1 s.</summary>
    public TimeSpan DropPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>DuckDB's memory limit. Default <c>384MB</c>.</summary>
    public string MemoryLimit { get; init; } = "384MB";

    /// <summary>Evaluate alert rules on a timer. Default true.</summary>
    public bool EvaluateAlerts { get; init; } = true;

    /// <summary>How often alert rules are evaluated and reconciliation runs for them. Defaults: every 5 s, reconciliation every 5 minutes.</summary>
    public Usine.Operations.AlertEngineOptions Alerting { get; init; } = new();

    /// <summary>Start the connectors of live sources (MQTT, file drops). Default true; tests of the API alone turn it off.</summary>
    public bool StartConnectors { get; init; } = true;

    /// <summary>
    /// A running stream of a source without <c>expect.every</c> that hands nothing to the engine for this
    /// long becomes idle. A source with a cadence is idle after twice its cadence: one expected message
    /// missed. Default 5 minutes.
    /// </summary>
    public TimeSpan IdleAfter { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often streams are checked for silence. Default 5 s.</summary>
    public TimeSpan JobCheckInterval { get; init; } = TimeSpan.FromSeconds(5);
}
