namespace Usine.Cli.Tests;

public sealed class ArchiveTests
{
    private static Task<FakeUsineServer> StartServerAsync(string verify) => FakeUsineServer.StartAsync(app =>
    {
        app.MapPost("/api/archive/run", (bool? includeToday) => FakeUsineServer.Json(includeToday == true ? """
            {"archiveJob":"archive-5","retentionJob":null,"cutoff":"2026-11-26T10:00:15Z","files":1,"rows":3,"bytes":900,
             "rawRowsDeleted":0,"rawRowsKept":0,"partitionsDeleted":0,"problems":[],"elapsedMs":12}
            """ : """
            {"archiveJob":"archive-3","retentionJob":"archive-4","cutoff":"2026-11-26T00:00:00Z","files":4,"rows":1234567,"bytes":52428800,
             "rawRowsDeleted":1000000,"rawRowsKept":12,"partitionsDeleted":0,"problems":[],"elapsedMs":5300.2}
            """));
        app.MapGet("/api/archive", (string? source) => source == "nobody"
            ? FakeUsineServer.Json("""{"root":"/var/lib/usine/archive","partitions":0,"files":0,"rows":0,"bytes":0,"days":[]}""")
            : FakeUsineServer.Json("""
                {"root":"/var/lib/usine/archive","partitions":2,"files":3,"rows":3000,"bytes":4096,"days":[
                 {"plant":"flins","source":"flins-screwing","day":"2026-11-24","files":2,"rows":2000,"bytes":3072,"minReceivedAt":"2026-11-24T00:00:01Z","maxReceivedAt":"2026-11-24T23:59:59Z"},
                 {"plant":"douai","source":"douai-energy","day":"2026-11-25","files":1,"rows":1000,"bytes":1024,"minReceivedAt":"2026-11-25T06:00:00Z","maxReceivedAt":"2026-11-25T18:00:00Z"}]}
                """));
        app.MapGet("/api/archive/verify", () => FakeUsineServer.Json(verify));
    });

    private const string Intact = """{"ok":true,"checked":3,"intact":3,"bytes":4096,"problems":[],"unlisted":[]}""";

    [Fact]
    public async Task Archive_run_prints_what_was_archived_and_deleted()
    {
        await using var server = await StartServerAsync(Intact);

        var result = await CliRunner.RunAsync(["archive", "run", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("1,234,567", result.Output, StringComparison.Ordinal);
        Assert.Contains("50 MB", result.Output, StringComparison.Ordinal);
        Assert.Contains("12 (not archived yet)", result.Output, StringComparison.Ordinal);
        Assert.Contains("archive-3, archive-4", result.Output, StringComparison.Ordinal);
        Assert.Equal("POST", server.Requests.Single().Method);
        Assert.Empty(server.Requests.Single().Query);
    }

    [Fact]
    public async Task Archive_run_include_today_asks_for_the_day_not_yet_ended_too()
    {
        await using var server = await StartServerAsync(Intact);

        var result = await CliRunner.RunAsync(["archive", "run", "--include-today", "--server", server.Url]);

        Assert.Equal(("", 0), (result.Error, result.ExitCode));
        Assert.Equal("true", server.Requests.Single().Query["includeToday"]);
        Assert.Matches(@"archived before\s+2026-11-26 10:00:15Z\n", result.Output);
        Assert.Matches(@"rows archived\s+3\n", result.Output);
    }

    [Fact]
    public async Task Archive_list_prints_one_row_per_plant_source_and_day()
    {
        await using var server = await StartServerAsync(Intact);

        var result = await CliRunner.RunAsync(["archive", "list", "--server", server.Url]);
        var none = await CliRunner.RunAsync(["archive", "list", "--source", "nobody", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Split('\n');
        Assert.Single(lines, l => l.Contains("flins-screwing", StringComparison.Ordinal) && l.Contains("2026-11-24", StringComparison.Ordinal) && l.Contains("2,000", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("douai-energy", StringComparison.Ordinal) && l.Contains("2026-11-25 18:00:00Z", StringComparison.Ordinal));
        Assert.Contains("3 files, 3,000 messages, 4 KB in /var/lib/usine/archive", result.Output, StringComparison.Ordinal);
        Assert.Equal((0, "Nothing of source nobody is archived."), (none.ExitCode, none.Output.Trim()));
        Assert.Equal("nobody", server.Requests.Last().Query["source"]);
    }

    [Fact]
    public async Task Archive_verify_exits_0_when_intact_and_1_naming_each_missing_or_altered_file()
    {
        await using (var intact = await StartServerAsync(Intact))
        {
            var ok = await CliRunner.RunAsync(["archive", "verify", "--server", intact.Url]);
            Assert.Equal((0, ""), (ok.ExitCode, ok.Error));
            Assert.Contains("3 of 3 files intact", ok.Output, StringComparison.Ordinal);
        }

        await using var broken = await StartServerAsync("""
            {"ok":false,"checked":3,"intact":1,"bytes":4096,
             "problems":[{"path":"plant=flins/source=flins-screwing/day=2026-11-24/part-00001.parquet","problem":"altered","detail":"sha256 ab, the manifest says cd"},
                         {"path":"plant=douai/source=douai-energy/day=2026-11-25/part-00001.parquet","problem":"missing","detail":"the file does not exist"}],
             "unlisted":["plant=flins/stray.parquet"]}
            """);

        var result = await CliRunner.RunAsync(["archive", "verify", "--server", broken.Url]);

        Assert.Equal(1, result.ExitCode);
        CliAssert.OneErrorLine("error: 2 archive files are missing or altered", result);
        Assert.Contains("part-00001.parquet", result.Output, StringComparison.Ordinal);
        Assert.Contains("missing", result.Output, StringComparison.Ordinal);
        Assert.Contains("not in the manifest: plant=flins/stray.parquet", result.Output, StringComparison.Ordinal);
        Assert.Contains("1 of 3 files intact", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Archive_without_a_subcommand_is_bad_usage_naming_the_three()
    {
        var result = await CliRunner.RunAsync(["archive"]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("usine archive needs a command: run or list or verify", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_refuses_an_archive_retention_shorter_than_the_raw_retention()
    {
        var result = await CliRunner.RunAsync(["serve", "--config", "usine.yaml", "--raw-retention-days", "30", "--archive-retention-days", "7"]);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: --archive-retention-days (7) must be 0 (keep) or at least --raw-retention-days (30)", result.Error, StringComparison.Ordinal);
    }
}
