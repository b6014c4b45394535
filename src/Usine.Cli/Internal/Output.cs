using System.Text;

namespace Usine.Cli.Internal;

/// <summary>Formatting shared by the commands: numbers, times, tables, CSV and JSON.</summary>
internal static class Output
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static string Count(long value) => value.ToString("N0", Invariant);

    public static string Time(DateTimeOffset? value) =>
        value is { } time ? time.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", Invariant) : "-";

    /// <summary>"3s ago", "5m ago", "2h ago", "4d ago"; "never" when the thing was never seen.</summary>
    public static string Ago(DateTimeOffset? value, DateTimeOffset now)
    {
        if (value is not { } time)
        {
            return "never";
        }

        var elapsed = now - time;
        // A server clock slightly ahead of ours must not print "-1s ago".
        if (elapsed < TimeSpan.FromSeconds(1))
        {
            return "just now";
        }

        return elapsed.TotalSeconds < 60 ? $"{(int)elapsed.TotalSeconds}s ago"
            : elapsed.TotalMinutes < 60 ? $"{(int)elapsed.TotalMinutes}m ago"
            : elapsed.TotalHours < 48 ? $"{(int)elapsed.TotalHours}h ago"
            : $"{(int)elapsed.TotalDays}d ago";
    }

    public static string Duration(TimeSpan value) =>
        value.TotalSeconds < 1 ? $"{value.TotalMilliseconds.ToString("0.#", Invariant)} ms"
        : value.TotalMinutes < 1 ? $"{value.TotalSeconds.ToString("0.##", Invariant)} s"
        : value.TotalHours < 1 ? $"{(int)value.TotalMinutes}m {value.Seconds}s"
        : value.TotalDays < 1 ? $"{(int)value.TotalHours}h {value.Minutes}m"
        : $"{(int)value.TotalDays}d {value.Hours}h";

    public static string Bytes(long value)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        double size = value;
        var unit = 0;
        while (size >= 1024 && unit < units.Length - 1)
        {
            size /= 1024;
            unit++;
        }

        return unit == 0 ? $"{value} B" : $"{size.ToString("0.#", Invariant)} {units[unit]}";
    }

    /// <summary>A JSON value as a person reads it: strings without quotes, null as nothing, objects as JSON.</summary>
    public static string Scalar(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString() ?? "",
        JsonValueKind.Null or JsonValueKind.Undefined => "",
        _ => value.GetRawText(),
    };

    /// <summary>RFC 4180: a header line, CRLF line ends, fields quoted when they hold a comma, quote or line break.</summary>
    public static void WriteCsv(TextWriter writer, SqlResult result)
    {
        WriteCsvLine(writer, result.Columns.Select(column => column.Name));
        foreach (var row in result.Rows)
        {
            WriteCsvLine(writer, row.Select(Scalar));
        }
    }

    internal static void WriteCsvLine(TextWriter writer, IEnumerable<string> fields)
    {
        var first = true;
        foreach (var field in fields)
        {
            if (!first)
            {
                writer.Write(',');
            }

            first = false;
            if (field.AsSpan().IndexOfAny(",\"\r\n") >= 0)
            {
                writer.Write('"');
                writer.Write(field.Replace("\"", "\"\"", StringComparison.Ordinal));
                writer.Write('"');
            }
            else
            {
                writer.Write(field);
            }
        }

        writer.Write("\r\n");
    }

    /// <summary>The rows as an array of objects keyed by column name, values exactly as the server sent them.</summary>
    public static void WriteJsonRows(TextWriter writer, SqlResult result)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = PrettyOptions.Encoder }))
        {
            json.WriteStartArray();
            foreach (var row in result.Rows)
            {
                json.WriteStartObject();
                for (var i = 0; i < result.Columns.Count; i++)
                {
                    json.WritePropertyName(result.Columns[i].Name);
                    if (i < row.Count)
                    {
                        row[i].WriteTo(json);
                    }
                    else
                    {
                        json.WriteNullValue();
                    }
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        writer.Write(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        writer.Write('\n');
    }

    /// <summary>Indented JSON when the text is JSON, else null.</summary>
    public static string? PrettyJson(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            return JsonSerializer.Serialize(document.RootElement, PrettyOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    internal static readonly JsonSerializerOptions PrettyOptions = new()
    {
        WriteIndented = true,
        // Payloads are shown to people: keep accents and symbols readable instead of \u-escaped.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
