using System.Globalization;
using MQTTnet.Protocol;
using Usine.Sources;

namespace Usine.Connectors.Mqtt.Internal;

/// <summary>The <c>settings:</c> of an mqtt source, parsed and checked once.</summary>
internal sealed record MqttSourceSettings
{
    public static readonly string[] Keys =
    [
        "broker", "clientId", "username", "password", "qos", "sharedGroup", "batchSize", "batchMilliseconds",
        "caFile", "certFile", "keyFile", "keyPassword", "revocation", "insecureSkipVerify", "topic",
    ];

    public required BrokerAddress Broker { get; init; }
    public required string ClientId { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    public required MqttQualityOfServiceLevel Qos { get; init; }

    /// <summary>The filter as sent to the broker: the source's topic, or <c>$share/GROUP/topic</c>.</summary>
    public required string SubscriptionFilter { get; init; }

    public required int BatchSize { get; init; }
    public required TimeSpan BatchWindow { get; init; }

    /// <summary>How the broker's certificate is checked and which certificate the connector shows; null for a plain TCP broker.</summary>
    public MqttTlsSettings? Tls { get; init; }

    public static MqttSourceSettings Parse(SourceDefinition source, MqttConnectorOptions options)
    {
        var what = $"source '{source.Id}'";
        if (source.Kind != MqttConnectors.Kind)
        {
            throw new ArgumentException($"{what} is of kind {source.Kind}; the MQTT connector only runs sources of kind {MqttConnectors.Kind}", nameof(source));
        }

        var s = source.Settings;
        if (!s.TryGetValue("topic", out var topic) || string.IsNullOrWhiteSpace(topic))
        {
            throw new SourceSettingException("topic", $"{what} has no topic; give it a topic filter such as plant/+/screwing");
        }

        CheckTopicFilter(topic, what);
        foreach (var key in s.Keys)
        {
            if (Array.IndexOf(Keys, key) < 0)
            {
                throw new SourceSettingException(key, SourceSettings.UnknownKey(what, "mqtt", key, Keys));
            }
        }

        BrokerAddress broker;
        try
        {
            broker = s.TryGetValue("broker", out var b) && !string.IsNullOrWhiteSpace(b)
                ? BrokerAddress.Parse(b, $"{what}, setting broker")
                : BrokerAddress.Parse(options.DefaultBroker, "MqttConnectorOptions.DefaultBroker");
        }
        catch (ArgumentException ex) when (ex is not SourceSettingException)
        {
            throw new SourceSettingException("broker", ex.Message);
        }

        var qos = Int(s, "qos", 1, 0, 2, what);
        var batchSize = Int(s, "batchSize", 10_000, 1, 1_000_000, what);
        if (batchSize > options.ReceiveMaximum)
        {
            throw new SourceSettingException(
                "batchSize",
                $"{what}: batchSize {batchSize} exceeds the receive maximum {options.ReceiveMaximum}; the broker never has more unacknowledged messages in flight than that, so the batch could only be closed by its time limit. Lower batchSize or raise ReceiveMaximum");
        }

        var batchMs = Int(s, "batchMilliseconds", 50, 1, 60_000, what);

        string? sharedGroup = null;
        if (s.TryGetValue("sharedGroup", out var g) && !string.IsNullOrWhiteSpace(g))
        {
            if (g.AsSpan().IndexOfAny("/+#") >= 0)
            {
                throw new SourceSettingException("sharedGroup", $"{what}: sharedGroup '{g}' must not contain '/', '+' or '#'");
            }

            sharedGroup = g;
        }

        // A stable id is what lets the broker find the persistent session again after a restart. Members
        // of a shared group are distinct consumers, so each machine gets its own session.
        var clientId = s.TryGetValue("clientId", out var c) && !string.IsNullOrWhiteSpace(c)
            ? c
            : sharedGroup is null ? $"usine-{source.Id}" : $"usine-{source.Id}-{Environment.MachineName}";

        s.TryGetValue("username", out var user);
        s.TryGetValue("password", out var password);
        if (password is not null && string.IsNullOrEmpty(user))
        {
            throw new SourceSettingException("password", $"{what}: a password is set without a username; set username too");
        }

        return new MqttSourceSettings
        {
            Broker = broker,
            ClientId = clientId,
            Username = string.IsNullOrEmpty(user) ? null : user,
            Password = password is null ? null : SourceSettings.ExpandEnvironment(password, "password", what),
            Qos = (MqttQualityOfServiceLevel)qos,
            SubscriptionFilter = sharedGroup is null ? topic : $"$share/{sharedGroup}/{topic}",
            BatchSize = batchSize,
            BatchWindow = TimeSpan.FromMilliseconds(batchMs),
            Tls = MqttTlsSettings.Parse(source, broker, what),
        };
    }

    // Checked here because a broker answers a malformed filter by dropping the connection, which would
    // look like a network fault and be retried forever.
    private static void CheckTopicFilter(string filter, string what)
    {
        var levels = filter.Split('/');
        for (var i = 0; i < levels.Length; i++)
        {
            var level = levels[i];
            if (level.Contains('#', StringComparison.Ordinal) && (level.Length != 1 || i != levels.Length - 1))
            {
                throw new SourceSettingException("topic", $"{what}: topic filter '{filter}' is invalid: '#' must be a whole level and the last one, as in plant/#");
            }

            if (level.Contains('+', StringComparison.Ordinal) && level.Length != 1)
            {
                throw new SourceSettingException("topic", $"{what}: topic filter '{filter}' is invalid: '+' must be a whole level, as in plant/+/screwing");
            }
        }

        if (filter.StartsWith("$share/", StringComparison.Ordinal))
        {
            throw new SourceSettingException("topic", $"{what}: write the topic without $share/; set the sharedGroup setting for a shared subscription");
        }
    }

    private static int Int(IReadOnlyDictionary<string, string> s, string key, int fallback, int min, int max, string what)
    {
        if (!s.TryGetValue(key, out var text) || string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new SourceSettingException(key, $"{what}: setting {key} is '{text}'; it must be a whole number from {min} to {max} (default {fallback})");
        }

        return value;
    }
}
