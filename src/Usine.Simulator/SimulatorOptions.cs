namespace Usine.Simulator;

/// <summary>Settings of the plant simulator behind <c>usine demo</c>.</summary>
public sealed record SimulatorOptions
{
    /// <summary>MQTT broker the simulator publishes to: <c>mqtt://host:port</c>. Default <c>mqtt://127.0.0.1:1883</c>.</summary>
    public Uri BrokerUrl { get; init; } = new("mqtt://127.0.0.1:1883");

    /// <summary>MQTT client id. Default <c>usine-simulator</c>.</summary>
    public string ClientId { get; init; } = "usine-simulator";

    /// <summary>First topic level: topics are <c>{prefix}/{plant}/{shop}/{line}/{station}/{kind}</c>. Default <c>usine</c>.</summary>
    public string TopicPrefix { get; init; } = "usine";

    /// <summary>Folder the energy CSV files are dropped into, created if missing. Default null: no energy files.</summary>
    public string? DropDirectory { get; init; }

    /// <summary>Time between two energy files; each file holds one reading per meter for that interval. Default 10 s.</summary>
    public TimeSpan EnergyInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>MQTT messages published per second, all plants together. Default 200.</summary>
    public double MessagesPerSecond { get; init; } = 200;

    /// <summary>Share of messages (and energy rows) deliberately broken in a known way, from 0 to 1. Default 0.01.</summary>
    public double BadRatio { get; init; } = 0.01;

    /// <summary>Seed of every random choice: the same seed and start time give the same messages. Default 42.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Plant names, each a topic level (no '/', '+', '#'). Default flins, douai, valladolid.</summary>
    public IReadOnlyList<string> Plants { get; init; } = ["flins", "douai", "valladolid"];

    /// <summary>Stops <see cref="PlantSimulator.RunAsync"/> after this many MQTT messages. Default null: runs until cancelled.</summary>
    public long? StopAfter { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> that says how to fix the first invalid setting.</summary>
    public void Validate()
    {
        if (!BrokerUrl.IsAbsoluteUri || BrokerUrl.Scheme is not ("mqtt" or "tcp") || BrokerUrl.Port <= 0)
        {
            throw new ArgumentException($"BrokerUrl '{BrokerUrl}' must look like mqtt://127.0.0.1:1883 (scheme mqtt or tcp, with a port)", nameof(BrokerUrl));
        }

        if (string.IsNullOrWhiteSpace(ClientId))
        {
            throw new ArgumentException("ClientId must not be empty; the default is usine-simulator", nameof(ClientId));
        }

        if (!IsTopicLevel(TopicPrefix))
        {
            throw new ArgumentException($"TopicPrefix '{TopicPrefix}' must be one non-empty topic level without '/', '+' or '#'", nameof(TopicPrefix));
        }

        if (!(MessagesPerSecond > 0 && MessagesPerSecond <= 1_000_000))
        {
            throw new ArgumentException($"MessagesPerSecond is {MessagesPerSecond}; give a rate between 1 and 1000000 (default 200)", nameof(MessagesPerSecond));
        }

        if (!(BadRatio >= 0 && BadRatio <= 1))
        {
            throw new ArgumentException($"BadRatio is {BadRatio}; give a share between 0 and 1, such as 0.01 for 1%", nameof(BadRatio));
        }

        if (EnergyInterval < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentException($"EnergyInterval is {EnergyInterval}; give at least one second", nameof(EnergyInterval));
        }

        if (Plants.Count == 0)
        {
            throw new ArgumentException("Plants is empty; name at least one plant, such as flins", nameof(Plants));
        }

        foreach (var p in Plants)
        {
            if (!IsTopicLevel(p))
            {
                throw new ArgumentException($"plant '{p}' must be one non-empty topic level without '/', '+' or '#'", nameof(Plants));
            }
        }

        if (Plants.Distinct(StringComparer.Ordinal).Count() != Plants.Count)
        {
            throw new ArgumentException("Plants names a plant twice; each plant must appear once", nameof(Plants));
        }

        if (StopAfter is < 0)
        {
            throw new ArgumentException($"StopAfter is {StopAfter}; give a count of messages, or null to run until cancelled", nameof(StopAfter));
        }
    }

    private static bool IsTopicLevel(string s) =>
        !string.IsNullOrWhiteSpace(s) && s.IndexOfAny(['/', '+', '#']) < 0;
}
