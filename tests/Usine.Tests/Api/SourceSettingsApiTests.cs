namespace Usine.Tests.Api;

/// <summary>A source's connector settings are checked when the source is written through the API, as at start-up.</summary>
public sealed class SourceSettingsApiTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-settings-").FullName;
    private ServerHarness _server = null!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync(_dir, TestDefinitions.Yaml, time: null);

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string Oven(string settings) => $"""
        id: oven-mqtt
        plant: arlon
        kind: mqtt
        topic: "arlon/paint/+/oven"
        model: screwing
        settings:
        {settings}
        """;

    [Fact]
    public async Task A_source_with_a_setting_that_cannot_work_is_refused_with_400_naming_the_setting_and_nothing_is_written()
    {
        var cases = new (string Id, string Body, string Message)[]
        {
            ("oven-mqtt", Oven("  cafile: plant-ca.pem"), "body line 7: source 'oven-mqtt': unknown setting 'cafile'; write 'caFile'"),
            ("oven-mqtt", Oven("  broker: mqtts://broker.arlon.local\n  caFile: /nowhere/plant-ca.pem"), "body line 8: source 'oven-mqtt': caFile /nowhere/plant-ca.pem does not exist"),
            ("oven-mqtt", Oven("  caFile: /nowhere/plant-ca.pem"), "body line 7: source 'oven-mqtt': caFile applies to a TLS connection, but the broker is mqtt://127.0.0.1:1883; write the broker as mqtts://127.0.0.1:8883"),
            ("oven-mqtt", Oven("  broker: mqtts://broker.arlon.local\n  revocation: crl"), "body line 8: source 'oven-mqtt': revocation is 'crl'; write online"),
            ("oven-mqtt", Oven("  qos: 3"), "body line 7: source 'oven-mqtt': setting qos is '3'; it must be a whole number from 0 to 2"),
            ("oven-mqtt", Oven("  username: usine\n  password: \"${USINE_TEST_UNSET_PASSWORD}\""), "body line 8: source 'oven-mqtt': setting password refers to the environment variable USINE_TEST_UNSET_PASSWORD, which is not set"),
            ("oven-http", "id: oven-http\nplant: arlon\nkind: http\nmodel: screwing\nsettings:\n  broker: mqtt://x:1883", "body line 6: source 'oven-http': a source of kind http takes no settings"),
        };
        foreach (var (id, body, message) in cases)
        {
            using var response = await _server.Http.PutAsync($"/api/sources/{id}", new StringContent(body, Encoding.UTF8, "application/yaml"));
            var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"PUT {id} with {body}: {(int)response.StatusCode} {answer}");
            Assert.Contains(message, answer.GetProperty("error").GetString(), StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists(Path.Combine(_dir, "data", "definitions", "sources")) && Directory.EnumerateFiles(Path.Combine(_dir, "data", "definitions", "sources")).Any());
    }
}
