namespace Usine.Connectors.Sparkplug.Tests;

/// <summary>What a decoder handed over for one raw message, in order, rendered as text for exact assertions.</summary>
internal sealed class RecordingMessages : IDecodedMessages
{
    public List<IReadOnlyDictionary<string, string?>> Messages { get; } = [];

    public List<string> Invalid { get; } = [];

    public string? Rejected { get; private set; }

    public void Add(System.Text.Json.JsonElement message) => throw new InvalidOperationException("the sparkplug format hands rows over, not JSON");

    public void Add(IReadOnlyDictionary<string, int> names, Usine.Pipeline.Scalar[] values) =>
        Messages.Add(names.ToDictionary(n => n.Key, n => Render(values[n.Value]), StringComparer.Ordinal));

    public void AddInvalid(string reason, Exception? error = null) => Invalid.Add(reason);

    public void Reject(string reason, Exception? error = null)
    {
        Assert.True(Messages.Count == 0 && Invalid.Count == 0, "a payload is rejected before any of its messages");
        Rejected = reason;
    }

    private static string? Render(Usine.Pipeline.Scalar s) => s.Kind switch
    {
        ScalarKind.Null => null,
        ScalarKind.True => "true",
        ScalarKind.False => "false",
        _ => s.AsText(),
    };

    public static RecordingMessages Decode(string topic, byte[] payload)
    {
        var decoder = SparkplugFormat.Instance.CreateDecoder(new SourceDefinition { Id = "s", Plant = Template.Parse("p"), Kind = "sparkplug", Model = "m" });
        var recorded = new RecordingMessages();
        decoder.StartBatch(null);
        decoder.Decode(new RawMessage(1, DateTime.UnixEpoch, payload, topic), recorded);
        return recorded;
    }
}
