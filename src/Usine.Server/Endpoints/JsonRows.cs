using System.Text.Json;

namespace Usine.Server.Endpoints;

/// <summary>
/// Writes rows as <c>{HEAD..., "ARRAY": [{...}, ...], TAIL...}</c> straight to the response. The general JSON
/// serializer looks up a converter for every boxed value of a row: 1.3 ms for a 600-bucket aggregate, about
/// half of what the query itself costs.
/// </summary>
internal sealed class JsonRows(IReadOnlyList<KeyValuePair<string, object?>> head, string array, IReadOnlyList<IReadOnlyDictionary<string, object?>> rows,
    IReadOnlyList<KeyValuePair<string, object?>> tail) : IResult
{
    private static readonly JsonSerializerOptions Options = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json; charset=utf-8";
        var pipe = response.BodyWriter;
        await using var json = new Utf8JsonWriter(pipe);
        json.WriteStartObject();
        WriteProperties(json, head);
        json.WriteStartArray(array);
        foreach (var row in rows)
        {
            json.WriteStartObject();
            foreach (var (name, value) in row)
            {
                json.WritePropertyName(name);
                WriteValue(json, value);
            }

            json.WriteEndObject();
            if (json.BytesPending > 32 * 1024)
            {
                await json.FlushAsync(httpContext.RequestAborted);
            }
        }

        json.WriteEndArray();
        WriteProperties(json, tail);
        json.WriteEndObject();
        await json.FlushAsync(httpContext.RequestAborted);
    }

    private static void WriteProperties(Utf8JsonWriter json, IReadOnlyList<KeyValuePair<string, object?>> properties)
    {
        foreach (var (name, value) in properties)
        {
            json.WritePropertyName(name);
            WriteValue(json, value);
        }
    }

    private static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNullValue();
                break;
            case string s:
                json.WriteStringValue(s);
                break;
            case long l:
                json.WriteNumberValue(l);
                break;
            case int i:
                json.WriteNumberValue(i);
                break;
            case double d when double.IsFinite(d):
                json.WriteNumberValue(d);
                break;
            case bool b:
                json.WriteBooleanValue(b);
                break;
            case DateTime t:
                json.WriteStringValue(t);
                break;
            default:
                // Rarer kinds (lists, structs, NaN as "NaN") take the general path.
                JsonSerializer.Serialize(json, value, value.GetType(), Options);
                break;
        }
    }
}
