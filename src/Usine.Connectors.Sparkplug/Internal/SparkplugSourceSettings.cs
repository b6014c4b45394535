using System.Globalization;
using Usine.Connectors.Mqtt.Internal;
using Usine.Sources;

namespace Usine.Connectors.Sparkplug.Internal;

/// <summary>The <c>settings:</c> of a sparkplug source, parsed and checked once.</summary>
internal sealed record SparkplugSourceSettings
{
    public static readonly string[] Keys =
    [
        "broker", "hostId", "groups", "clientId", "username", "password", "batchSize", "batchMilliseconds",
        "reorderMilliseconds", "rebirthRetrySeconds", "sessionExpirySeconds",
        "caFile", "certFile", "keyFile", "keyPassword", "revocation", "insecureSkipVerify",
    ];

    /// <summary>The broker: <c>mqtt://</c> (TCP) or <c>mqtts://</c> (TLS).</summary>
    public required BrokerAddress Address { get; init; }

    /// <summary>For an <c>mqtts://</c> broker: the CA, client certificate and revocation check, as an mqtt source has them.</summary>
    public MqttTlsSettings? Tls { get; init; }

    public string Host => Address.Host;

    public int Port => Address.Port;
    public required string HostId { get; init; }
    public required IReadOnlyList<string> Groups { get; init; }
    public required string ClientId { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    public required int BatchSize { get; init; }
    public required TimeSpan BatchWindow { get; init; }
    public required TimeSpan ReorderTimeout { get; init; }
    public required TimeSpan RebirthRetry { get; init; }
    public required uint SessionExpirySeconds { get; init; }

    public string Broker => Address.ToString();

    /// <summary>The topic of the host's STATE: <c>spBv1.0/STATE/HOSTID</c>.</summary>
    public string StateTopic => $"{SparkplugTopic.Namespace}/STATE/{HostId}";

    public static SparkplugSourceSettings Parse(SourceDefinition source, string defaultBroker)
    {
        var what = $"source '{source.Id}'";
        if (source.Kind != SparkplugConnectors.Kind)
        {
            throw new ArgumentException($"{what} is of kind {source.Kind}; the Sparkplug connector only runs sources of kind {SparkplugConnectors.Kind}", nameof(source));
        }

        var s = source.Settings;
        foreach (var key in s.Keys)
        {
            if (Array.IndexOf(Keys, key) < 0)
            {
                throw new SourceSettingException(key, SourceSettings.UnknownKey(what, SparkplugConnectors.Kind, key, Keys));
            }
        }

        var brokerText = s.TryGetValue("broker", out var b) && !string.IsNullOrWhiteSpace(b) ? b : defaultBroker;
        BrokerAddress broker;
        try
        {
            broker = BrokerAddress.Parse(brokerText, what);
        }
        catch (ArgumentException ex)
        {
            throw new SourceSettingException("broker", ex.Message);
        }

        if (!s.TryGetValue("hostId", out var hostId) || string.IsNullOrWhiteSpace(hostId))
        {
            throw new SourceSettingException("hostId", $"{what} has no hostId; give the host application id edge nodes know this host by, such as hostId: usine");
        }

        if (hostId.AsSpan().IndexOfAny("/+#") >= 0)
        {
            throw new SourceSettingException("hostId", $"{what}: hostId '{hostId}' may not contain '/', '+' or '#': it is a segment of the topic spBv1.0/STATE/HOSTID");
        }

        var groups = s.TryGetValue("groups", out var g) && !string.IsNullOrWhiteSpace(g)
            ? g.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : ["+"];
        foreach (var group in groups)
        {
            if (group != "+" && group.AsSpan().IndexOfAny("/+#") >= 0)
            {
                throw new SourceSettingException("groups", $"{what}: group '{group}' may not contain '/', '+' or '#'; list group ids such as groups: [BodyShop, Paint], or leave groups out for all groups");
            }
        }

        return new SparkplugSourceSettings
        {
            Address = broker,
            Tls = MqttTlsSettings.Parse(source, broker, what),
            HostId = hostId,
            Groups = groups,
            ClientId = s.TryGetValue("clientId", out var c) && !string.IsNullOrWhiteSpace(c) ? c : $"usine-sparkplug-{source.Id}",
            Username = s.TryGetValue("username", out var u) ? SourceSettings.ExpandEnvironment(u, "username", what) : null,
            Password = s.TryGetValue("password", out var p) ? SourceSettings.ExpandEnvironment(p, "password", what) : null,
            BatchSize = Int(s, "batchSize", 50_000, 1, 1_000_000, what),
            BatchWindow = TimeSpan.FromMilliseconds(Int(s, "batchMilliseconds", 50, 1, 60_000, what)),
            ReorderTimeout = TimeSpan.FromMilliseconds(Int(s, "reorderMilliseconds", 2_000, 0, 60_000, what)),
            RebirthRetry = TimeSpan.FromSeconds(Int(s, "rebirthRetrySeconds", 30, 1, 86_400, what)),
            SessionExpirySeconds = (uint)Int(s, "sessionExpirySeconds", 3_600, 0, int.MaxValue, what),
        };
    }

    private static int Int(IReadOnlyDictionary<string, string> s, string key, int fallback, int min, int max, string what)
    {
        if (!s.TryGetValue(key, out var text))
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new SourceSettingException(key, $"{what}: {key} must be an integer from {min} to {max}, not '{text}'");
    }
}
