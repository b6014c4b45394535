namespace Usine.Server.Endpoints;

/// <summary>The body of a request that creates or changes a definition: YAML or JSON text, at most 1 MiB.</summary>
internal static class DefinitionBody
{
    private const int MaxBytes = 1 << 20;

    public static async Task<string> ReadAsync(HttpContext http, CancellationToken ct)
    {
        if (http.Request.ContentLength > MaxBytes)
        {
            throw new DefinitionRejectedException(StatusCodes.Status413PayloadTooLarge, $"a definition is at most {MaxBytes} bytes; this one has {http.Request.ContentLength}");
        }

        using var reader = new StreamReader(http.Request.Body, System.Text.Encoding.UTF8);
        var buffer = new char[MaxBytes + 1];
        var read = 0;
        int n;
        while (read < buffer.Length && (n = await reader.ReadAsync(buffer.AsMemory(read), ct)) > 0)
        {
            read += n;
        }

        return read > MaxBytes
            ? throw new DefinitionRejectedException(StatusCodes.Status413PayloadTooLarge, $"a definition is at most {MaxBytes} bytes")
            : new string(buffer, 0, read);
    }
}
