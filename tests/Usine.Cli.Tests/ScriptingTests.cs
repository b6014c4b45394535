using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Usine.Cli.Tests;

/// <summary>
/// The tool in a pipe, a file or a script: the tests run it with standard output redirected, as a script
/// or a CI log does, and check what such a reader gets.
/// </summary>
public sealed class ScriptingTests
{
    // Long values everywhere: together they are far wider than the 80 columns a pipe used to be cut to.
    private const string LongSource = "flins-assembly-line-2-station-040-nutrunner-screwing-results";
    private const string LongReason = "field 'torque' = 228.5 Nm is above the maximum 220 Nm set by model screwing version 3";

    private const string Sources = $$"""
        [{"id":"{{LongSource}}","plant":"flins","kind":"mqtt","format":"json","model":"screwing","topic":"flins/assembly/+/screwing",
          "path":null,"expectEvery":"00:00:30","description":null,"state":"running","received":1012,"stored":1000,"duplicates":0,
          "deadLetters":12,"bytes":250000,"lastSeen":"2026-11-26T10:00:12Z","job":"stream:{{LongSource}}","jobState":"running",
          "jobReason":null,"ratePerSecond":16.87,"deadLettersLastHour":7,"lagSeconds":0.2},
         {"id":"douai-energy","plant":"douai","kind":"file","format":"csv","model":"energy","topic":null,"path":"/data/drop",
          "expectEvery":null,"description":null,"state":"running","received":0,"stored":0,"duplicates":0,"deadLetters":0,"bytes":0,
          "lastSeen":null,"job":null,"jobState":"idle","jobReason":null,"ratePerSecond":0,"deadLettersLastHour":0,"lagSeconds":0}]
        """;

    private const string Status = $$"""
        {"startedAt":"2026-11-26T08:00:00Z","uptimeSeconds":7515,"dataDirectory":"/var/lib/usine","plants":["douai","flins"],"avatars":1234,
         "records":{"screwing":1000},"deadLetters":{"open":12,"total":15},"sources":{{Sources}},"jobs":{"running":1,"idle":1},
         "alertsAvailable":true,"alerts":[]}
        """;

    private const string Jobs = $$"""
        [{"id":"stream:{{LongSource}}","kind":"stream","source":"{{LongSource}}","description":"the live stream","state":"degraded",
          "stateSince":"2026-11-26T10:00:05Z","startedAt":"2026-11-26T08:00:00Z","endedAt":null,"total":null,"received":1012,"stored":1000,
          "duplicates":0,"rejected":12,"lastActivityAt":"2026-11-26T10:00:01Z","lastError":"connection to mqtts://broker.flins.plant.local:8883 lost: the remote certificate is invalid","lastErrorAt":"2026-11-26T10:00:05Z"},
         {"id":"import-3","kind":"import","source":"douai-energy","description":"import of energy.csv","state":"running",
          "stateSince":"2026-11-26T10:00:00Z","startedAt":"2026-11-26T10:00:00Z","endedAt":null,"total":1000,"received":250,"stored":249,
          "duplicates":0,"rejected":1,"lastActivityAt":null,"lastError":null,"lastErrorAt":null}]
        """;

    private const string Job = $$"""
        {"job":{"id":"import-3","kind":"import","source":"douai-energy","description":"import of energy.csv","state":"running",
          "stateSince":"2026-11-26T10:00:00Z","startedAt":"2026-11-26T10:00:00Z","endedAt":null,"total":1000,"received":250,"stored":249,
          "duplicates":0,"rejected":1,"lastActivityAt":null,"lastError":null,"lastErrorAt":null},
         "history":[{"at":"2026-11-26T10:00:00Z","from":"idle","to":"running","reason":"started"}]}
        """;

    private const string DeadLetter = $$"""
        {"id":7,"source":"{{LongSource}}","stream":"mqtt:{{LongSource}}","position":1012,"stage":"validate","reason":"{{LongReason}}",
         "status":"open","attempts":1,"model":"screwing","modelVersion":3,"receivedAt":"2026-11-26T10:00:12Z","createdAt":"2026-11-26T10:00:12.5Z"}
        """;

    private const string DeadLetterWithPayload = """
        {"id":8,"source":"douai-energy","stream":"file:douai-energy:1","position":4,"stage":"decode","reason":"bad CSV line","status":"open",
         "attempts":2,"model":null,"modelVersion":null,"receivedAt":"2026-11-26T10:00:12Z","createdAt":"2026-11-26T10:00:13Z",
         "payload":"meter;kwh\n12;x,y","payloadBytes":16,"errorType":"Usine.DecodeException","topic":null}
        """;

    private const string Groups = $$"""
        [{"source":"{{LongSource}}","stage":"validate","reason":"{{LongReason}}","count":1234,"open":1200,"replayed":30,"discarded":4,
          "maxAttempts":2,"firstReceivedAt":"2026-11-26T08:00:00Z","lastReceivedAt":"2026-11-26T09:59:00Z"}]
        """;

    private const string Audit = $$"""
        [{"id":3,"at":"2026-11-26T10:00:00Z","actor":"marie","action":"replay.range","target":"source:{{LongSource}}",
          "detail":{"source":"{{LongSource}}","from":"2026-11-26T06:00:00Z","to":"2026-11-26T14:00:00Z","read":5000},"result":"ok"}]
        """;

    private const string Models = """
        [{"name":"screwing","version":2,"versions":[2,1],"fields":8,"description":"Screwing results"},
         {"name":"energy","version":1,"versions":[1],"fields":3,"description":null}]
        """;

    private const string Model = """
        {"name":"screwing","version":1,"versions":[2,1],"description":"Screwing results","time":"ts","key":["vin","ts"],
         "avatar":{"type":"vehicle","id":"{vin}","attach":null},
         "fields":[{"name":"vin","type":"string","required":true},{"name":"torque","type":"double","unit":"Nm","required":true,"min":0,"max":200}],
         "rollups":[],"table":"m_screwing","origin":"models.yaml:3"}
        """;

    private const string Source = """
        {"id":"douai-energy","plant":"douai","kind":"file","format":"csv","model":"energy","topic":null,"path":"/data/drop","expectEvery":null,
         "description":null,"origin":"usine.yaml:12","definedBy":"configuration","state":"running","lastError":null,"received":0,"stored":0,
         "duplicates":0,"deadLetters":0,"bytes":0,"lastSeen":null,"job":null,"jobState":"idle","jobReason":null,"ratePerSecond":0,
         "deadLettersLastHour":0,"lagSeconds":0,"map":{"kwh":"$.value (in Wh)","meter":"$.meter"},"settings":{"username":"reader","password":"***"}}
        """;

    private const string Avatar = """
        {"key":42,"type":"station","id":"S3","plant":"flins","firstSeen":"2026-11-26T09:00:00Z","attributes":{"bays":"2"},
         "parent":{"type":"line","id":"L1"},"ancestors":[{"type":"line","id":"L1"},{"type":"plant","id":"flins"}],"children":[],
         "links":[],"records":{"screwing":12},"recent":[]}
        """;

    private const string Alerts = """
        {"firing":[{"rule":"source-silent","severity":"critical","source":"douai-energy","summary":"no message for 10 min","since":"2026-11-26T09:50:00Z"}],
         "rules":[{"name":"source-silent","signal":"silence","severity":"critical","sources":[],"forSeconds":60,"origin":"usine.yaml:40"}],
         "notifiers":[]}
        """;

    private const string AlertHistory = """
        [{"id":2,"status":"resolved","rule":"source-silent","severity":"critical","source":"douai-energy","summary":"sends again","since":"2026-11-26T09:50:00Z","at":"2026-11-26T09:58:00Z"},
         {"id":1,"status":"fired","rule":"source-silent","severity":"critical","source":"douai-energy","summary":"no message for 10 min","since":"2026-11-26T09:50:00Z","at":"2026-11-26T09:50:00Z"}]
        """;

    private const string Archive = """
        {"root":"/var/lib/usine/archive","partitions":1,"files":2,"rows":2000,"bytes":3072,"days":[
         {"plant":"flins","source":"flins-screwing","day":"2026-11-24","files":2,"rows":2000,"bytes":3072,"minReceivedAt":"2026-11-24T00:00:01Z","maxReceivedAt":"2026-11-24T23:59:59Z"}]}
        """;

    private const string Sql = $$"""
        {"columns":[{"name":"source","type":"VARCHAR"},{"name":"reason","type":"VARCHAR"},{"name":"n","type":"BIGINT"}],
         "rows":[["{{LongSource}}","{{LongReason}}",1234]],"truncated":false,"elapsedMs":3.1}
        """;

    private static Task<FakeUsineServer> StartServerAsync() => FakeUsineServer.StartAsync(app =>
    {
        app.MapGet("/api/status", () => FakeUsineServer.Json(Status));
        app.MapGet("/api/models", () => FakeUsineServer.Json(Models));
        app.MapGet("/api/models/{name}", () => FakeUsineServer.Json(Model));
        app.MapGet("/api/sources", () => FakeUsineServer.Json(Sources));
        app.MapGet("/api/sources/{id}", () => FakeUsineServer.Json(Source));
        app.MapGet("/api/avatars/{id}", () => FakeUsineServer.Json(Avatar));
        app.MapGet("/api/jobs", () => FakeUsineServer.Json(Jobs));
        app.MapGet("/api/jobs/{id}", () => FakeUsineServer.Json(Job));
        app.MapGet("/api/alerts", () => FakeUsineServer.Json(Alerts));
        app.MapGet("/api/alerts/history", () => FakeUsineServer.Json(AlertHistory));
        app.MapGet("/api/deadletters", () => FakeUsineServer.Json($"[{DeadLetter}]"));
        app.MapGet("/api/deadletters/groups", () => FakeUsineServer.Json(Groups));
        app.MapGet("/api/deadletters/{id}", () => FakeUsineServer.Json(DeadLetterWithPayload));
        app.MapGet("/api/audit", () => FakeUsineServer.Json(Audit));
        app.MapGet("/api/archive", () => FakeUsineServer.Json(Archive));
        app.MapPost("/api/sql", () => FakeUsineServer.Json(Sql));
    });

    private static string[] Args(string command, FakeUsineServer server, params string[] more) =>
        [.. command.Split(' '), .. more, "--server", server.Url];

    [Theory]
    [InlineData("status", new[] { LongSource, "mqtt", "1,012", "1,000", "3s ago", "running", "16.87", "200 ms", "7" })]
    [InlineData("sql|SELECT source, reason, count(*) AS n FROM dead_letters GROUP BY ALL", new[] { LongSource, LongReason, "1234" })]
    [InlineData("deadletters list", new[] { "7", "2026-11-26 10:00:12Z", LongSource, "validate", "open", "screwing v3", LongReason })]
    [InlineData("deadletters groups", new[] { "1,234", "1,200", LongSource, "validate", "2026-11-26 09:59:00Z", LongReason })]
    [InlineData("jobs list", new[] { "stream:" + LongSource, "degraded", "10s ago", "1,012", "connection to mqtts://broker.flins.plant.local:8883 lost: the remote certificate is invalid" })]
    [InlineData("audit list", new[] { "3", "2026-11-26 10:00:00Z", "marie", "replay.range", "source:" + LongSource, "ok", "\"read\":5000}" })]
    [InlineData("sources list", new[] { LongSource, "flins", "mqtt", "json", "screwing", "running", "1,012", "3s ago" })]
    public async Task In_a_pipe_a_wide_table_keeps_each_row_on_one_plain_line(string command, string[] row)
    {
        await using var server = await StartServerAsync();
        var words = command.Split('|');

        var result = await CliRunner.RunAsync([.. words[0].Split(' '), .. words.Skip(1), "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Split('\n');
        var line = Assert.Single(lines, l => l.Contains(row[0], StringComparison.Ordinal) && l.Contains(row[^1], StringComparison.Ordinal));
        var at = 0;
        foreach (var cell in row)
        {
            at = line.IndexOf(cell, at, StringComparison.Ordinal);
            Assert.True(at >= 0, $"'{cell}' should follow the cells before it on one line, in order, in: {line}");
            at += cell.Length;
        }

        Assert.True(line.Length > 120, $"the row should be as wide as its values, not fitted to 80 columns: {line}");
        Assert.DoesNotContain(lines, l => l.IndexOfAny(['│', '─', '╭', '╰']) >= 0 || l.EndsWith(' '));
    }

    [Fact]
    public async Task On_a_terminal_tables_are_drawn_to_the_width_columns_gives()
    {
        await using var server = await StartServerAsync();

        var narrow = await CliRunner.RunAsync(Args("jobs list", server), new Dictionary<string, string> { ["COLUMNS"] = "70" }, interactive: true);
        var wide = await CliRunner.RunAsync(Args("jobs list", server), new Dictionary<string, string> { ["COLUMNS"] = "400" }, interactive: true);

        Assert.Equal((0, 0), (narrow.ExitCode, wide.ExitCode));
        var narrowLines = narrow.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(narrowLines, l => l.StartsWith('╭'));
        Assert.All(narrowLines, l => Assert.True(l.Length <= 70, $"wider than COLUMNS=70: {l}"));
        var row = Assert.Single(wide.Output.Split('\n'), l => l.Contains("stream:" + LongSource, StringComparison.Ordinal));
        Assert.Contains("the remote certificate is invalid │", row, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string, int, string> Formats => new()
    {
        // command, what json prints (the API's answer, or the named part of it), the csv header's first columns, csv rows, a cell of the first row
        { "status", "", "id,plant,kind,format,model,topic,path,expectEvery,description,state,received,stored", 2, LongSource },
        { "models list", "", "name,version,versions,fields,description", 2, "screwing" },
        { "models show screwing", "", "name,version,versions,description,time,key,avatar,fields,rollups,table,origin", 1, "m_screwing" },
        { "sources list", "", "id,plant,kind,format,model,topic,path,expectEvery,description,state", 2, "flins/assembly/+/screwing" },
        { "sources show douai-energy", "", "id,plant,kind,format,model,topic,path,expectEvery,description,state", 1, "\"{\"\"username\"\":\"\"reader\"\",\"\"password\"\":\"\"***\"\"}\"" },
        { "avatars show S3 --type station", "", "key,type,id,plant,firstSeen,attributes,parent,ancestors,children,links,records,recent", 1, "\"{\"\"bays\"\":\"\"2\"\"}\"" },
        { "jobs list", "", "id,kind,source,description,state,stateSince,startedAt,endedAt,total,received,stored,duplicates,rejected", 2, "degraded" },
        { "jobs show import-3", "", "id,kind,source,description,state,stateSince,startedAt,endedAt,total,received,stored", 1, "import of energy.csv" },
        { "alerts list", "firing", "rule,severity,source,summary,since", 1, "no message for 10 min" },
        { "alerts history", "", "id,status,rule,severity,source,summary,since,at", 2, "resolved" },
        { "deadletters list", "", "id,source,stream,position,stage,reason,status,attempts,model,modelVersion,receivedAt,createdAt", 1, LongReason },
        { "deadletters groups", "", "source,stage,rule,reason,examples,count,open,replayed,discarded,maxAttempts,firstReceivedAt,lastReceivedAt", 1, "1234" },
        { "deadletters show 8", "", "id,source,stream,position,stage,reason,status,attempts,model,modelVersion,receivedAt,createdAt,payload", 1, "\"meter;kwh\n12;x,y\"" },
        { "audit list", "", "id,at,actor,action,target,detail,result", 1, "marie" },
        { "archive list", "days", "plant,source,day,files,rows,bytes,minReceivedAt,maxReceivedAt", 1, "2026-11-24T23:59:59Z" },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task Every_list_and_show_command_prints_the_apis_data_as_json_and_csv(string command, string part, string header, int rows, string cell)
    {
        await using var server = await StartServerAsync();

        var json = await CliRunner.RunAsync(Args(command, server, "--format", "json"));
        var csv = await CliRunner.RunAsync(Args(command, server, "-f", "csv"));

        Assert.Equal(("", 0), (json.Error, json.ExitCode));
        Assert.Equal(("", 0), (csv.Error, csv.ExitCode));
        var path = server.Requests.First().Path;
        var answer = JsonNode.Parse(Answer(path))!;
        var expected = part == "" ? answer : answer[part];
        Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(json.Output)), $"json should be the API's data as it came, got: {json.Output}");

        Assert.EndsWith("\r\n", csv.Output, StringComparison.Ordinal);
        var lines = csv.Output[..^2].Split("\r\n");
        Assert.StartsWith(header + ",", lines[0] + ",", StringComparison.Ordinal);
        Assert.Equal(rows, lines.Length - 1);
        Assert.Contains(cell, lines[1], StringComparison.Ordinal);
        var columns = lines[0].Split(',');
        Assert.Equal(columns.Length, columns.Distinct(StringComparer.Ordinal).Count());
    }

    /// <summary>What the fake server answered on a path, so the test compares the output with exactly that.</summary>
    private static string Answer(string path) => path switch
    {
        "/api/status" => Status,
        "/api/models" => Models,
        "/api/sources" => Sources,
        "/api/jobs" => Jobs,
        "/api/alerts" => Alerts,
        "/api/alerts/history" => AlertHistory,
        "/api/deadletters" => $"[{DeadLetter}]",
        "/api/deadletters/groups" => Groups,
        "/api/audit" => Audit,
        "/api/archive" => Archive,
        _ when path.StartsWith("/api/models/", StringComparison.Ordinal) => Model,
        _ when path.StartsWith("/api/sources/", StringComparison.Ordinal) => Source,
        _ when path.StartsWith("/api/avatars/", StringComparison.Ordinal) => Avatar,
        _ when path.StartsWith("/api/jobs/", StringComparison.Ordinal) => Job,
        _ when path.StartsWith("/api/deadletters/", StringComparison.Ordinal) => DeadLetterWithPayload,
        _ => throw new ArgumentException($"no answer for {path}", nameof(path)),
    };

    [Fact]
    public async Task Sources_show_prints_the_mapping_and_the_connector_settings_the_server_sends()
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync(Args("sources show douai-energy", server));

        Assert.Equal(("", 0), (result.Error, result.ExitCode));
        Assert.Matches(@"\nmap\s+\{""kwh"":""\$\.value \(in Wh\)"",""meter"":""\$\.meter""\}\n", result.Output);
        Assert.Matches(@"\nsettings\s+\{""username"":""reader"",""password"":""\*\*\*""\}\n", result.Output);
        Assert.Matches(@"\ndefinedBy\s+configuration\n", result.Output);
    }

    [Fact]
    public async Task An_empty_list_still_prints_the_csv_header_and_an_empty_json_array()
    {
        await using var server = await FakeUsineServer.StartAsync(app => app.MapGet("/api/jobs", () => FakeUsineServer.Json("[]")));

        var csv = await CliRunner.RunAsync(Args("jobs list", server, "--format", "csv"));
        var json = await CliRunner.RunAsync(Args("jobs list", server, "--format", "json"));

        Assert.Equal("id,kind,source,description,state,stateSince,startedAt,endedAt,total,received,stored,duplicates,rejected,lastActivityAt,lastError,lastErrorAt,detail,sequenceGaps\r\n", csv.Output);
        Assert.Equal("[]\n", json.Output);
    }

    [Theory]
    [InlineData("deadletters list --limt 2", "error: unknown option '--limt'; did you mean '--limit'? (see usine deadletters list --help)")]
    [InlineData("jobs list --satte failed", "error: unknown option '--satte'; did you mean '--state'? (see usine jobs list --help)")]
    [InlineData("status --fromat json", "error: unknown option '--fromat'; did you mean '--format'? (see usine status --help)")]
    [InlineData("sources show x --verbose", "error: unknown option '--verbose' (see usine sources show --help)")]
    [InlineData("sql SELECT --limit=5 -x", "error: unknown option '-x' (see usine sql --help)")]
    [InlineData("--sever http://127.0.0.1:1 status", "error: unknown option '--sever'; did you mean '--server'? (see usine --help)")]
    [InlineData("--limit 5 deadletters list", "error: unknown option '--limit'; before the command only --server and --format are taken (see usine --help)")]
    public async Task An_unknown_option_exits_2_naming_the_closest_valid_one_before_anything_is_sent(string command, string expected)
    {
        await using var server = await StartServerAsync();

        var result = await CliRunner.RunAsync([.. command.Split(' '), "--server", server.Url]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine(expected, result);
        Assert.Equal("", result.Output);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task Global_options_are_taken_before_or_after_the_command()
    {
        await using var server = await StartServerAsync();

        var after = await CliRunner.RunAsync(["jobs", "list", "--server", server.Url, "--format", "json"]);
        var before = await CliRunner.RunAsync(["--server", server.Url, "--format", "json", "jobs", "list"]);
        var mixed = await CliRunner.RunAsync([$"--server={server.Url}", "jobs", "list", "--format=json"]);
        var sql = await CliRunner.RunAsync(["--server", server.Url, "sql", "SELECT 1", "--format", "csv"]);

        Assert.Equal(("", 0), (after.Error, after.ExitCode));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(Jobs), JsonNode.Parse(after.Output)));
        Assert.Equal(after, before);
        Assert.Equal(after, mixed);
        Assert.Equal(("", 0), (sql.Error, sql.ExitCode));
        Assert.StartsWith("source,reason,n\r\n", sql.Output, StringComparison.Ordinal);
        Assert.Equal(4, server.Requests.Count);
    }

    [Fact]
    public async Task Version_prints_the_informational_version_and_exits_0()
    {
        var expected = typeof(UsineCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;

        var result = await CliRunner.RunAsync(["--version"]);

        Assert.Equal((0, expected + Environment.NewLine, ""), (result.ExitCode, result.Output, result.Error));
        Assert.Matches(@"^\d+\.\d+\.\d+", expected);
    }

    /// <summary>The process itself, its standard output a pipe: what `usine status | cat` shows.</summary>
    [Fact]
    public async Task The_usine_process_writing_to_a_pipe_prints_whole_rows_and_its_version()
    {
        await using var server = await StartServerAsync();

        // COLUMNS only sizes a terminal: a pipe is never wrapped, whatever the shell exported.
        var status = await RunProcessAsync(["status", "--server", server.Url], ("COLUMNS", "40"));
        var version = await RunProcessAsync(["--version"]);

        Assert.Equal(("", 0), (status.Error, status.ExitCode));
        var row = Assert.Single(status.Output.Split('\n'), l => l.Contains(LongSource, StringComparison.Ordinal) && !l.StartsWith("jobs", StringComparison.Ordinal));
        // "last seen" is relative to the real clock here, so the row is checked around it.
        Assert.Matches($@"^{LongSource}\s+mqtt\s+screwing\s+running\s+1,012\s+1,000\s+12\s+.+\s+running\s+16\.87\s+200 ms\s+7$", row);
        Assert.DoesNotContain('│', status.Output);
        Assert.Equal((0, UsineCli.Version + "\n"), (version.ExitCode, version.Output));
    }

    private static async Task<CliResult> RunProcessAsync(string[] args, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo(System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "usine.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("COLUMNS");
        start.Environment.Remove("USINE_SERVER");
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(deadline.Token);
        return new CliResult(process.ExitCode, await output, await error);
    }
}
