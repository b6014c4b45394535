namespace Usine.Connectors.Sparkplug;

/// <summary>The message types of Sparkplug B topics.</summary>
public enum SparkplugMessageType
{
    NBIRTH,
    NDEATH,
    DBIRTH,
    DDEATH,
    NDATA,
    DDATA,
    NCMD,
    DCMD,
}

/// <summary>A Sparkplug B topic of an edge node or device: <c>spBv1.0/GROUP/TYPE/EDGE[/DEVICE]</c>.</summary>
public sealed record SparkplugTopic(string Group, SparkplugMessageType Type, string Edge, string? Device)
{
    /// <summary>The first segment of every Sparkplug B topic.</summary>
    public const string Namespace = "spBv1.0";

    /// <summary>Whether the message type concerns a device (DBIRTH, DDEATH, DDATA, DCMD).</summary>
    public bool IsDevice => Type is SparkplugMessageType.DBIRTH or SparkplugMessageType.DDEATH or SparkplugMessageType.DDATA or SparkplugMessageType.DCMD;

    /// <summary>Reads a topic; null when it is not one of an edge node or device (a STATE topic, another namespace, a wrong shape).</summary>
    public static SparkplugTopic? TryParse(string? topic)
    {
        if (topic is null)
        {
            return null;
        }

        var parts = topic.Split('/');
        if (parts.Length is < 4 or > 5 || parts[0] != Namespace || !Enum.TryParse<SparkplugMessageType>(parts[2], ignoreCase: false, out var type)
            || parts[1].Length == 0 || parts[3].Length == 0 || !char.IsAsciiLetterUpper(parts[2][0]))
        {
            return null;
        }

        var device = parts.Length == 5 ? parts[4] : null;
        var isDevice = type is SparkplugMessageType.DBIRTH or SparkplugMessageType.DDEATH or SparkplugMessageType.DDATA or SparkplugMessageType.DCMD;
        return isDevice == (device is { Length: > 0 }) ? new SparkplugTopic(parts[1], type, parts[3], device) : null;
    }

    public override string ToString() => Device is null ? $"{Namespace}/{Group}/{Type}/{Edge}" : $"{Namespace}/{Group}/{Type}/{Edge}/{Device}";
}
