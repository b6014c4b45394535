using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Usine.Security;
using Usine.Server;

namespace Usine.Cli.Tests;

/// <summary>
/// usine models add, sources put, sources remove and keys new, against a real platform that requires an API key,
/// which the tool reads from USINE_API_KEY.
/// </summary>
public sealed class DefinitionsTests : IAsyncLifetime
{
    private static readonly string AdminKey = ApiKeys.New();
    private static readonly string ViewerKey = ApiKeys.New();
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-cli-defs-").FullName;
    private WebApplication _app = null!;
    private string _url = "";

    public async Task InitializeAsync()
    {
        var config = Path.Combine(_dir, "usine.yaml");
        await File.WriteAllTextAsync(config, $$"""
            models:
              - name: screwing
                time: ts
                fields:
                  ts: { type: timestamp, required: true }
            auth:
              keys:
                - { name: admin, hash: "{{ApiKeys.HashText(AdminKey)}}", role: admin }
                - { name: viewer, hash: "{{ApiKeys.HashText(ViewerKey)}}", role: viewer }
            """);
        _app = UsineServer.Build(new UsineOptions
        {
            ConfigPath = config,
            DataDirectory = Path.Combine(_dir, "data"),
            StartConnectors = false,
            ArchiveTimeOfDay = null,
        }, new Dictionary<string, string?>
        {
            [UsineHttpOptions.Section + ":Urls"] = "http://127.0.0.1:0",
            [UsineStoreComposition.Section + ":MemoryLimit"] = "256MB",
        }, logging: _ => { });
        await _app.StartAsync();
        _url = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<CliResult> Run(string? key, params string[] args) =>
        CliRunner.RunAsync([.. args, "--server", _url], key is null ? null : new Dictionary<string, string> { ["USINE_API_KEY"] = key });

    [Fact]
    public async Task An_admin_adds_a_model_and_a_source_from_files_and_removes_the_source()
    {
        var model = Path.Combine(_dir, "energy.yaml");
        await File.WriteAllTextAsync(model, """
            name: energy
            time: ts
            fields:
              meter: { type: string, required: true }
              ts:    { type: timestamp, required: true }
              kwh:   { type: double, unit: kWh }
            """);
        var source = Path.Combine(_dir, "meters.json");
        await File.WriteAllTextAsync(source, """{ "id": "meters", "plant": "flins", "kind": "http", "model": "energy", "map": { "meter": "$.m", "ts": "$.t", "kwh": "$.v" } }""");

        var added = await Run(AdminKey, "models", "add", model);
        Assert.True(added.ExitCode == 0, added.Error);
        Assert.Contains("model energy version 1 is defined", added.Output, StringComparison.Ordinal);

        var put = await Run(AdminKey, "sources", "put", source);
        Assert.True(put.ExitCode == 0, put.Error);
        Assert.Contains("source meters (http, model energy, plant flins) is defined", put.Output, StringComparison.Ordinal);
        Assert.Contains("meters", (await Run(ViewerKey, "sources", "list")).Output, StringComparison.Ordinal);

        var refused = await Run(ViewerKey, "sources", "remove", "meters");
        Assert.Equal(1, refused.ExitCode);
        CliAssert.OneErrorLine("error: DELETE /api/sources/meters needs the admin role; key:viewer is viewer", refused);

        var removed = await Run(AdminKey, "sources", "remove", "meters");
        Assert.True(removed.ExitCode == 0, removed.Error);
        Assert.DoesNotContain("meters", (await Run(ViewerKey, "sources", "list")).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_key_or_with_a_bad_definition_the_tool_says_what_to_do()
    {
        var status = await Run(null, "status");
        Assert.Equal(1, status.ExitCode);
        Assert.Contains("authentication required", status.Error, StringComparison.Ordinal);
        Assert.Contains("USINE_API_KEY", status.Error, StringComparison.Ordinal);

        var bad = Path.Combine(_dir, "bad.yaml");
        await File.WriteAllTextAsync(bad, "name: bad\ntime: ts\nfields:\n  ts: { type: timestamp }\n  x: { type: float }\n");
        var result = await Run(AdminKey, "models", "add", bad);
        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: body line 5: type 'float' is not one of string, int, double, bool, timestamp", result);

        var missing = await Run(AdminKey, "sources", "put", Path.Combine(_dir, "nope.yaml"));
        Assert.Equal(2, missing.ExitCode);
        Assert.StartsWith("error: cannot read", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_new_key_is_printed_once_with_the_lines_that_hold_its_hash()
    {
        var result = await CliRunner.RunAsync(["keys", "new", "--name", "line-dashboard", "--role", "operator", "--plant", "flins", "--plant", "douai"]);
        Assert.Equal(0, result.ExitCode);
        var key = result.Output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith(ApiKeys.Prefix, StringComparison.Ordinal));
        Assert.Contains($"hash: {ApiKeys.HashText(key)}", result.Output, StringComparison.Ordinal);
        Assert.Contains("role: operator", result.Output, StringComparison.Ordinal);
        Assert.Contains("plants: [flins, douai]", result.Output, StringComparison.Ordinal);

        var bad = await CliRunner.RunAsync(["keys", "new", "--name", "x", "--role", "boss"]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--role 'boss' is not one of viewer, operator, admin", bad.Error, StringComparison.Ordinal);
    }
}
