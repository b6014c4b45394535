namespace Usine.Cli.Tests;

public sealed class ConnectionTests
{
    private const string StatusJson = """
        {"startedAt":"2026-11-26T10:00:00Z","uptimeSeconds":15,"dataDirectory":"/var/lib/usine","plants":["douai","flins"],"avatars":1234,
         "records":{"screwing":1000,"energy":20},"deadLetters":{"open":12,"total":15},
         "sources":[{"id":"flins-screwing","kind":"mqtt","plant":"flins","model":"screwing","state":"running","received":1012,"stored":1000,
                     "duplicates":0,"deadLetters":12,"bytes":250000,"lastSeen":"2026-11-26T10:00:12Z"},
                    {"id":"douai-energy","kind":"file","plant":"douai","model":"energy","state":"idle","received":0,"stored":0,
                     "duplicates":0,"deadLetters":0,"bytes":0,"lastSeen":null}]}
        """;

    [Theory]
    [InlineData("status")]
    [InlineData("sql", "SELECT 1")]
    [InlineData("models", "list")]
    [InlineData("deadletters", "show", "7")]
    public async Task A_server_that_does_not_answer_exits_1_and_says_where_it_looked(params string[] command)
    {
        var address = FakeUsineServer.UnusedAddress();

        var result = await CliRunner.RunAsync([.. command, "--server", address]);

        Assert.Equal(1, result.ExitCode);
        CliAssert.OneErrorLine($"error: cannot reach the Usine server at {address} (is `usine serve` running?)", result);
    }

    [Fact]
    public async Task The_server_comes_from_USINE_SERVER_when_no_option_names_it()
    {
        await using var server = await FakeUsineServer.StartAsync(app => app.MapGet("/api/status", () => FakeUsineServer.Json(StatusJson)));

        var result = await CliRunner.RunAsync(["status"], new Dictionary<string, string> { ["USINE_SERVER"] = server.Url });

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/api/status", Assert.Single(server.Requests).Path);
    }

    [Theory]
    [InlineData(null, null, "http://127.0.0.1:5080/")]
    [InlineData(null, "http://usine.flins.local:8080", "http://usine.flins.local:8080/")]
    [InlineData("https://usine.example/api-root", "http://ignored:1", "https://usine.example/api-root/")]
    public void The_server_is_the_option_else_USINE_SERVER_else_the_default(string? option, string? environment, string expected)
    {
        var server = Internal.UsineClient.ResolveServer(option, name => name == "USINE_SERVER" ? environment : null);

        Assert.Equal(expected, server.AbsoluteUri);
    }

    [Fact]
    public async Task A_server_address_that_is_not_a_url_is_bad_usage()
    {
        var result = await CliRunner.RunAsync(["status", "--server", "localhost:5080"]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: 'localhost:5080' is not a server address; give one like http://127.0.0.1:5080", result);
    }

    [Fact]
    public async Task Status_shows_the_platform_and_when_each_source_was_last_seen()
    {
        await using var server = await FakeUsineServer.StartAsync(app => app.MapGet("/api/status", () => FakeUsineServer.Json(StatusJson)));

        // The runner's clock reads 2026-11-26T10:00:15Z, three seconds after flins-screwing was last seen.
        var result = await CliRunner.RunAsync(["status", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("douai, flins", result.Output, StringComparison.Ordinal);
        Assert.Contains("1,234", result.Output, StringComparison.Ordinal);
        Assert.Contains("energy 20, screwing 1,000", result.Output, StringComparison.Ordinal);
        Assert.Contains("12 open (15 in all)", result.Output, StringComparison.Ordinal);
        Assert.Matches(@"flins-screwing\s{2,}mqtt\s{2,}screwing\s{2,}running\s{2,}1,012\s{2,}1,000\s{2,}12\s{2,}3s ago", result.Output);
        Assert.Matches(@"douai-energy.*\s{2,}never", result.Output);
    }

    [Fact]
    public async Task An_unknown_command_exits_2_with_one_line_and_prints_nothing_else()
    {
        var result = await CliRunner.RunAsync(["stauts"]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: Unknown command 'stauts' (see usine --help)", result);
        Assert.Equal("", result.Output);
    }

    [Theory]
    [InlineData(new string[0], "error: name a command, for example usine status")]
    [InlineData(new[] { "deadletters" }, "error: usine deadletters needs a command: list or groups or show or replay or edit or discard")]
    public async Task A_missing_command_shows_the_help_and_exits_2(string[] args, string expected)
    {
        var result = await CliRunner.RunAsync(args);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine(expected, result);
        Assert.Contains("USAGE:", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_for_a_command_shows_an_example()
    {
        var result = await CliRunner.RunAsync(["import", "--help"]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("usine import screwing-2026-11-26.ndjson.gz --source flins-assembly-screwing", result.Output, StringComparison.Ordinal);
    }
}
