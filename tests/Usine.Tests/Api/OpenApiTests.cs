namespace Usine.Tests.Api;

/// <summary>The OpenAPI document and the reference page built from it, as a reader of the API meets them.</summary>
public sealed class OpenApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-openapi-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero));
    private ServerHarness _server = null!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml, _time);

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static IEnumerable<(string Method, string Path, JsonElement Operation)> Operations(JsonElement document) =>
        document.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .Where(op => op.Name is "get" or "post" or "put" or "delete" or "patch")
            .Select(op => (op.Name.ToUpperInvariant(), path.Name, op.Value)));

    [Fact]
    public async Task Every_operation_has_a_summary()
    {
        var document = await _server.Get("/openapi/v1.json");

        var missing = Operations(document)
            .Where(o => !o.Operation.TryGetProperty("summary", out var s) || string.IsNullOrWhiteSpace(s.GetString()))
            .Select(o => $"{o.Method} {o.Path}").ToList();
        Assert.True(missing.Count == 0, "operations without a summary: " + string.Join(", ", missing));
    }

    [Fact]
    public async Task Every_operation_is_under_one_tag_and_no_tag_is_listed_twice()
    {
        var document = await _server.Get("/openapi/v1.json");

        var tags = Operations(document).SelectMany(o => o.Operation.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!)).ToList();
        Assert.All(Operations(document), o => Assert.Equal(1, o.Operation.GetProperty("tags").GetArrayLength()));
        var names = tags.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names.Count, names.Distinct(StringComparer.OrdinalIgnoreCase).Count());

        // The document lists exactly the tags in use, once each: no empty group named after the application.
        var listed = document.GetProperty("tags").EnumerateArray().Select(t => t.GetProperty("name").GetString()!).ToList();
        Assert.Equal(names, listed);
        Assert.DoesNotContain("Usine", listed);
    }

    [Fact]
    public async Task The_reference_page_lists_the_models_resource_once_and_offers_no_vendor_services()
    {
        var page = await _server.Http.GetStringAsync("/scalar/");

        // Scalar's own list of schemas is also called "Models": hidden, so the sidebar has one Models, the resource.
        Assert.Matches("\"hideModels\":\\s*true", page);
        Assert.Matches("\"hideClientButton\":\\s*true", page);
        Assert.Matches("\"showDeveloperTools\":\\s*\"never\"", page);
        Assert.Matches("\"agent\":\\s*\\{\\s*\"disabled\":\\s*true", page);
        Assert.Matches("\"mcp\":\\s*\\{\\s*\"disabled\":\\s*true", page);
        Assert.Matches("\"telemetry\":\\s*false", page);
        Assert.Contains("<title>Usine API</title>", page, StringComparison.Ordinal);
    }
}
