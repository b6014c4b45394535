using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Usine.Cli.Tests;

public sealed class ImportTests : IDisposable
{
    private const string SourceJson = """{"id":"screwing","plant":"flins","kind":"file","format":"json","model":"screwing","state":"idle","received":0,"stored":0,"duplicates":0,"deadLetters":0,"bytes":0,"lastSeen":null}""";

    private const string ResultJson = """
        {"source":"screwing","stream":"file:abc","name":"screwing.ndjson","sha256":"abc","format":"json",
         "messages":2000,"skipped":0,"stored":1980,"duplicates":0,"deadLetters":20,"alreadyImported":false,"elapsedMs":1000}
        """;

    private readonly string directory = Directory.CreateTempSubdirectory("usine-cli-tests-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static Task<FakeUsineServer> StartServerAsync() => FakeUsineServer.StartAsync(app =>
    {
        app.MapGet("/api/sources/{id}", (string id) => id == "screwing"
            ? FakeUsineServer.Json(SourceJson)
            : FakeUsineServer.Json($$"""{"error":"unknown source '{{id}}'"}""", StatusCodes.Status404NotFound));
        app.MapPost("/api/sources/{id}/import", (string id) => id == "screwing"
            ? FakeUsineServer.Json(ResultJson)
            : FakeUsineServer.Json($$"""{"error":"unknown source '{{id}}'"}""", StatusCodes.Status404NotFound));
    });

    private string WriteNdjson(string name, int lines)
    {
        var text = new StringBuilder();
        for (var i = 0; i < lines; i++)
        {
            text.Append("{\"VIN\":\"VF1RFB00X1234").Append(i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture))
                .Append("\",\"station\":\"S3\",\"time\":\"2026-11-26T10:00:00Z\",\"result\":{\"torque\":12.5}}\n");
        }

        var path = Path.Combine(directory, name);
        File.WriteAllText(path, text.ToString());
        return path;
    }

    [Fact]
    public async Task Importing_a_file_sends_its_exact_bytes_with_its_sha256_and_prints_the_counts()
    {
        await using var server = await StartServerAsync();
        // Several hundred kilobytes, so the upload spans many chunks of the streaming content.
        var path = WriteNdjson("screwing.ndjson", 5000);
        var bytes = await File.ReadAllBytesAsync(path);

        var result = await CliRunner.RunAsync(["import", path, "--source", "screwing", "--server", server.Url]);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        var import = Assert.Single(server.Requests, request => request.Method == "POST");
        Assert.Equal("/api/sources/screwing/import", import.Path);
        Assert.Equal(bytes, import.Body);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), import.Query["sha256"]);
        Assert.Equal("screwing.ndjson", import.Query["name"]);
        Assert.False(import.Query.ContainsKey("format"));
        Assert.Equal(bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), import.Headers["Content-Length"]);
        Assert.Equal("application/octet-stream", import.Headers["Content-Type"]);
        Assert.Matches(new Regex(@"messages\s+2,000"), result.Output);
        Assert.Matches(new Regex(@"stored\s+1,980"), result.Output);
        Assert.Matches(new Regex(@"dead letters\s+20"), result.Output);
        Assert.Matches(new Regex(@"rate\s+2,000 msg/s"), result.Output);
        Assert.Contains($"Sent screwing.ndjson ({bytes.Length / 1024.0:0.#} KB, sha256 {import.Query["sha256"]})", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gzip_file_is_sent_compressed_as_it_is_on_disk_and_hashed_compressed()
    {
        await using var server = await StartServerAsync();
        var plain = await File.ReadAllBytesAsync(WriteNdjson("plain.ndjson", 100));
        var path = Path.Combine(directory, "screwing.ndjson.gz");
        await using (var file = File.Create(path))
        await using (var gzip = new GZipStream(file, CompressionLevel.Optimal))
        {
            await gzip.WriteAsync(plain);
        }

        var bytes = await File.ReadAllBytesAsync(path);

        var result = await CliRunner.RunAsync(["import", path, "--source", "screwing", "--format", "json", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        var import = Assert.Single(server.Requests, request => request.Method == "POST");
        Assert.Equal(bytes, import.Body);
        Assert.Equal([0x1f, 0x8b], import.Body[..2]);
        Assert.False(import.Headers.ContainsKey("Content-Encoding"));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), import.Query["sha256"]);
        Assert.Equal("screwing.ndjson.gz", import.Query["name"]);
        Assert.Equal("json", import.Query["format"]);
    }

    [Fact]
    public async Task Importing_on_a_terminal_shows_progress_and_still_sends_the_exact_bytes()
    {
        await using var server = await StartServerAsync();
        var path = WriteNdjson("screwing.ndjson", 2000);
        var bytes = await File.ReadAllBytesAsync(path);

        var result = await CliRunner.RunAsync(["import", path, "--source", "screwing", "--server", server.Url], interactive: true);

        Assert.Equal("", result.Error);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(bytes, Assert.Single(server.Requests, request => request.Method == "POST").Body);
        var text = Regex.Replace(result.Output, @"\x1b\[[0-9;?]*[A-Za-z]", "");
        Assert.Matches(new Regex(@"Hashing\s+━+\s+100%"), text);
        Assert.Matches(new Regex(@"Sending\s+━+\s+100%"), text);
        Assert.Matches(new Regex(@"stored\s+1,980"), text);
    }

    [Fact]
    public async Task Importing_a_missing_file_exits_2_without_calling_the_server()
    {
        await using var server = await StartServerAsync();
        var path = Path.Combine(directory, "nope.csv");

        var result = await CliRunner.RunAsync(["import", path, "--source", "screwing", "--server", server.Url]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine($"error: file not found: {path}", result);
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task Importing_into_an_unknown_source_exits_2_with_the_servers_error_and_sends_no_bytes()
    {
        await using var server = await StartServerAsync();
        var path = WriteNdjson("screwing.ndjson", 10);

        var result = await CliRunner.RunAsync(["import", path, "--source", "nope", "--server", server.Url]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: unknown source 'nope'", result);
        Assert.DoesNotContain(server.Requests, request => request.Method == "POST");
    }

    [Fact]
    public async Task Importing_without_a_source_is_bad_usage()
    {
        var path = WriteNdjson("screwing.ndjson", 1);

        var result = await CliRunner.RunAsync(["import", path, "--server", FakeUsineServer.UnusedAddress()]);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: --source is required", result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
