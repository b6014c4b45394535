using System.Globalization;
using System.Text.RegularExpressions;
using Usine.Configuration;
using Usine.Connectors.OpcUa.Channel;
using Usine.Connectors.OpcUa.Client;
using Usine.Connectors.OpcUa.Encoding;
using Usine.Sources;

namespace Usine.Connectors.OpcUa.Internal;

/// <summary>One entry of <c>nodes:</c>: a browse-path pattern or a node id.</summary>
internal sealed record NodeSelector(string? Browse, NodeId? Id, string Setting);

/// <summary>The <c>settings:</c> of an opcua source, parsed and checked once.</summary>
internal sealed partial record OpcUaSourceSettings
{
    private static readonly string[] Keys =
    [
        "endpoint", "security", "user", "trust", "publishingInterval", "samplingInterval", "queueSize", "deadband",
        "nodes", "batchSize", "batchMilliseconds", "monitoredItemsPerCall", "publishRequests", "sessionTimeout",
    ];

    public required Uri Endpoint { get; init; }
    public required MessageSecurityMode Mode { get; init; }
    public string? UserName { get; init; }
    public string? Password { get; init; }

    /// <summary>The trust folder as written (relative to the data directory), or null.</summary>
    public string? Trust { get; init; }

    public required TimeSpan PublishingInterval { get; init; }
    public required TimeSpan SamplingInterval { get; init; }
    public required uint QueueSize { get; init; }
    public DataChangeFilter? Filter { get; init; }
    public required IReadOnlyList<NodeSelector> Nodes { get; init; }
    public required int BatchSize { get; init; }
    public required TimeSpan BatchWindow { get; init; }

    /// <summary>The most monitored items per CreateMonitoredItems call; the server's own limit, when lower, wins.</summary>
    public required int MonitoredItemsPerCall { get; init; }

    public required int PublishRequests { get; init; }
    public required TimeSpan SessionTimeout { get; init; }

    public static OpcUaSourceSettings Parse(SourceDefinition source)
    {
        var what = $"source '{source.Id}'";
        if (source.Kind != OpcUaConnectors.Kind)
        {
            throw new ArgumentException($"{what} is of kind {source.Kind}; the OPC UA connector only runs sources of kind {OpcUaConnectors.Kind}", nameof(source));
        }

        var s = source.Settings;
        foreach (var key in s.Keys)
        {
            var top = key.Split('.')[0];
            if (Array.IndexOf(Keys, top) < 0)
            {
                throw new SourceSettingException(key, SourceSettings.UnknownKey(what, "opcua", top, Keys));
            }
        }

        if (!s.TryGetValue("endpoint", out var endpointText) || string.IsNullOrWhiteSpace(endpointText))
        {
            throw new SourceSettingException("endpoint", $"{what} has no endpoint; give the server's URL, as endpoint: opc.tcp://10.1.2.3:4840/PaintShop");
        }

        if (!Uri.TryCreate(endpointText.Trim(), UriKind.Absolute, out var endpoint) || endpoint.Scheme != "opc.tcp" || string.IsNullOrEmpty(endpoint.Host))
        {
            throw new SourceSettingException("endpoint", $"{what}: endpoint '{endpointText}' is not an opc.tcp:// URL such as opc.tcp://10.1.2.3:4840/PaintShop");
        }

        var mode = (s.GetValueOrDefault("security") ?? "none").Trim() switch
        {
            "none" => MessageSecurityMode.None,
            "sign" => MessageSecurityMode.Sign,
            "sign-and-encrypt" => MessageSecurityMode.SignAndEncrypt,
            var other => throw new SourceSettingException("security", $"{what}: security '{other}' is not one of none, sign, sign-and-encrypt"),
        };

        string? user = null;
        string? password = null;
        foreach (var key in s.Keys.Where(k => k == "user" || k.StartsWith("user.", StringComparison.Ordinal)))
        {
            if (key is not ("user.name" or "user.password"))
            {
                throw new SourceSettingException(key, $"{what}: user takes name and password, as user: {{ name: painter, password: \"${{OVEN_PASSWORD}}\" }}");
            }
        }

        if (s.TryGetValue("user.name", out var name))
        {
            if (string.IsNullOrWhiteSpace(name))
            {
                throw new SourceSettingException("user.name", $"{what}: user name is empty; give a name, or remove user: for an anonymous session");
            }

            user = name;
            password = s.TryGetValue("user.password", out var p) ? SourceSettings.ExpandEnvironment(p, "user.password", what) : "";
        }
        else if (s.ContainsKey("user.password"))
        {
            throw new SourceSettingException("user.password", $"{what}: a password is set without a user name; add user.name");
        }

        var publishing = Duration(s, "publishingInterval", TimeSpan.FromSeconds(1), what);
        var sampling = s.ContainsKey("samplingInterval") ? Duration(s, "samplingInterval", publishing, what, allowZero: true) : publishing;
        var nodes = ParseNodes(s, what);
        return new OpcUaSourceSettings
        {
            Endpoint = endpoint,
            Mode = mode,
            UserName = user,
            Password = password,
            Trust = s.TryGetValue("trust", out var trust) && !string.IsNullOrWhiteSpace(trust) ? trust : null,
            PublishingInterval = publishing,
            SamplingInterval = sampling,
            QueueSize = (uint)Int(s, "queueSize", 10, 1, 100_000, what),
            Filter = ParseDeadband(s, what),
            Nodes = nodes,
            BatchSize = Int(s, "batchSize", 10_000, 1, 1_000_000, what),
            BatchWindow = TimeSpan.FromMilliseconds(Int(s, "batchMilliseconds", 200, 1, 60_000, what)),
            MonitoredItemsPerCall = Int(s, "monitoredItemsPerCall", 1000, 1, 100_000, what),
            PublishRequests = Int(s, "publishRequests", 3, 1, 20, what),
            SessionTimeout = Duration(s, "sessionTimeout", TimeSpan.FromMinutes(2), what),
        };
    }

    private static List<NodeSelector> ParseNodes(IReadOnlyDictionary<string, string> s, string what)
    {
        var nodes = new List<NodeSelector>();
        var entries = s.Keys.Where(k => k.StartsWith("nodes.", StringComparison.Ordinal))
            .Select(k => NodeEntry().Match(k))
            .ToList();
        if (s.ContainsKey("nodes") || entries.Any(m => !m.Success))
        {
            var bad = s.ContainsKey("nodes") ? "nodes" : entries.First(m => !m.Success).Value;
            throw new SourceSettingException(bad, $"{what}: nodes is a list of entries with browse: or id:, as nodes: [{{ browse: \"Objects/PaintShop/*/Temperature\" }}, {{ id: \"ns=1;s=Oven2.Counter\" }}]");
        }

        foreach (var index in entries.Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Distinct().Order())
        {
            var at = $"nodes.{index}";
            s.TryGetValue(at + ".browse", out var browse);
            s.TryGetValue(at + ".id", out var id);
            if (browse is not null == id is not null)
            {
                throw new SourceSettingException(at, $"{what}: entry {index + 1} of nodes needs either browse: (a path such as Objects/PaintShop/*/Temperature) or id: (such as ns=1;s=Oven2.Counter), not {(browse is null ? "neither" : "both")}");
            }

            if (browse is not null)
            {
                var parts = browse.Split('/');
                if (browse.Length == 0 || parts.Any(p => p.Length == 0))
                {
                    throw new SourceSettingException(at + ".browse", $"{what}: browse path '{browse}' has an empty level; write names separated by '/', such as Objects/PaintShop/*/Temperature");
                }

                nodes.Add(new NodeSelector(browse, null, at + ".browse"));
            }
            else
            {
                if (!NodeId.TryParse(id!, out var nodeId, out var problem))
                {
                    throw new SourceSettingException(at + ".id", $"{what}: {problem}");
                }

                nodes.Add(new NodeSelector(null, nodeId, at + ".id"));
            }
        }

        if (nodes.Count == 0)
        {
            throw new SourceSettingException("nodes", $"{what} has no nodes; list what to subscribe to, as nodes: [{{ browse: \"Objects/PaintShop/*/Temperature\" }}]");
        }

        return nodes;
    }

    private static DataChangeFilter? ParseDeadband(IReadOnlyDictionary<string, string> s, string what)
    {
        if (s.ContainsKey("deadband"))
        {
            throw new SourceSettingException("deadband", $"{what}: deadband takes type and value, as deadband: {{ type: absolute, value: 0.5 }}");
        }

        if (!s.TryGetValue("deadband.type", out var type))
        {
            return s.ContainsKey("deadband.value")
                ? throw new SourceSettingException("deadband.value", $"{what}: deadband needs a type, absolute or percent")
                : null;
        }

        var deadband = type switch
        {
            "absolute" => DeadbandType.Absolute,
            "percent" => DeadbandType.Percent,
            "none" => DeadbandType.None,
            _ => throw new SourceSettingException("deadband.type", $"{what}: deadband type '{type}' is not one of absolute, percent, none"),
        };
        var valueText = s.GetValueOrDefault("deadband.value") ?? "0";
        if (!double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < 0 || (deadband == DeadbandType.Percent && value > 100))
        {
            throw new SourceSettingException("deadband.value", $"{what}: deadband value '{valueText}' must be a number from 0{(deadband == DeadbandType.Percent ? " to 100" : "")}");
        }

        return new DataChangeFilter(DataChangeTrigger.StatusValue, deadband, value);
    }

    private static TimeSpan Duration(IReadOnlyDictionary<string, string> s, string key, TimeSpan fallback, string what, bool allowZero = false)
    {
        if (!s.TryGetValue(key, out var text) || string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        if (allowZero && text.Trim() is "0" or "0ms" or "0s")
        {
            return TimeSpan.Zero;
        }

        return DefinitionLoader.ParseDuration(text) is { } d && d <= TimeSpan.FromDays(1)
            ? d
            : throw new SourceSettingException(key, $"{what}: setting {key} is '{text}'; write a duration such as 500ms, 1s or 2m");
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

    [GeneratedRegex(@"^nodes\.(\d+)\.(browse|id)$")]
    private static partial Regex NodeEntry();
}
