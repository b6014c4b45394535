using System.Text.Json;
using Usine.Pipeline;

namespace Usine.Sources;

/// <summary>One JSON object per raw message.</summary>
internal sealed class JsonFormat : PayloadFormat
{
    public override string Name => "json";

    public override IPayloadDecoder CreateDecoder(SourceDefinition source) => new JsonDecoder();
}

/// <summary>Reads a payload as one JSON object, in place: one document per message, which the mapping reads while it is open.</summary>
internal sealed class JsonDecoder : IPayloadDecoder
{
    // Two objects with the same key are refused rather than letting the last one win without a word.
    private static readonly JsonDocumentOptions StrictJson = new() { AllowDuplicateProperties = false };

    public void StartBatch(IReadOnlyList<string>? header)
    {
    }

    public void Decode(in RawMessage message, IDecodedMessages messages)
    {
        if (!Utf8Text.TryRead(message.Payload, out var payload, out var problem))
        {
            messages.Reject(problem);
            return;
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(payload, StrictJson);
        }
        catch (JsonException ex)
        {
            messages.Reject("invalid JSON: " + ex.Message, ex);
            return;
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                messages.Reject($"expected a JSON object, got {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}");
                return;
            }

            if (MayHoldLoneSurrogate(payload.Span) && LoneSurrogatePath(doc.RootElement, "$") is { } where)
            {
                messages.Reject($"invalid JSON: the text at {where} holds an unpaired surrogate escape (\\uD800-\\uDFFF without its pair), which is no Unicode character");
                return;
            }

            messages.Add(doc.RootElement);
        }
    }

    /// <summary>Whether the payload has an escape in the surrogate range (\uD800-\uDFFF); only then is the walk below needed.</summary>
    private static bool MayHoldLoneSurrogate(ReadOnlySpan<byte> payload)
    {
        int i;
        while ((i = payload.IndexOf("\\u"u8)) >= 0)
        {
            if (i + 3 < payload.Length && payload[i + 2] is (byte)'d' or (byte)'D' && payload[i + 3] is >= (byte)'8' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F')
            {
                return true;
            }

            payload = payload[(i + 2)..];
        }

        return false;
    }

    /// <summary>The path of the first property name or string that cannot be read as text, or null.</summary>
    private static string? LoneSurrogatePath(JsonElement e, string path)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = p.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        return path + " (a property name)";
                    }

                    if (LoneSurrogatePath(p.Value, path + "." + name) is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in e.EnumerateArray())
                {
                    if (LoneSurrogatePath(item, $"{path}[{i++}]") is { } inner)
                    {
                        return inner;
                    }
                }

                return null;
            case JsonValueKind.String:
                try
                {
                    _ = e.GetString();
                    return null;
                }
                catch (InvalidOperationException)
                {
                    return path;
                }

            default:
                return null;
        }
    }
}
