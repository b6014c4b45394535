namespace Usine.Cli.Tests;

public sealed class ExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("usine-export-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Task<FakeUsineServer> StartServerAsync() => FakeUsineServer.StartAsync(app =>
        app.MapGet("/api/models/{name}/export", (string name, string format, HttpContext http) =>
            name == "screwing"
                ? Results.Text("vin,torque\nVF1AAAAA111111111,12.5\n", format == "csv" ? "text/csv" : "application/octet-stream")
                : FakeUsineServer.Json("""{"error":"where 'nope:eq:1': unknown field 'nope' of model energy"}""", StatusCodes.Status400BadRequest)));

    [Fact]
    public async Task An_export_streams_into_the_file_with_every_filter_passed_and_the_format_from_the_extension()
    {
        await using var server = await StartServerAsync();
        var file = Path.Combine(_dir, "nok.csv");

        var result = await CliRunner.RunAsync(["export", "screwing", "--out", file, "--where", "status:eq:NOK", "--where", "torque:gt:10", "--plant", "flins", "--server", server.Url]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("vin,torque\nVF1AAAAA111111111,12.5\n", await File.ReadAllTextAsync(file));
        var request = Assert.Single(server.Requests, r => r.Path == "/api/models/screwing/export");
        Assert.Equal(("csv", "flins"), (request.Query["format"], request.Query["plant"]));
        Assert.Equal($"Exported screwing as csv to {file}: 1 row, 34 B.\n", result.Output);
    }

    [Theory]
    [InlineData("csv", "vin,note\nA,\"two\nlines, quoted\"\nB,\n\"C\",\"\"\"\"\n", 3)]
    [InlineData("ndjson", "{\"vin\":\"A\"}\n{\"vin\":\"B\"}\n", 2)]
    [InlineData("csv", "vin,note\n", 0)]
    public async Task An_export_prints_how_many_rows_it_wrote(string format, string body, int rows)
    {
        await using var server = await FakeUsineServer.StartAsync(app =>
            app.MapGet("/api/models/{name}/export", () => Results.Text(body, "text/plain")));
        var file = Path.Combine(_dir, "out." + format);

        var result = await CliRunner.RunAsync(["export", "screwing", "--out", file, "--server", server.Url]);

        Assert.Equal(("", 0), (result.Error, result.ExitCode));
        Assert.Equal(body, await File.ReadAllTextAsync(file));
        Assert.Contains($": {rows} {(rows == 1 ? "row" : "rows")}, ", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_parquet_export_prints_the_rows_its_footer_counts()
    {
        // A real Parquet file, written by DuckDB as the server writes exports.
        var source = Path.Combine(_dir, "source.parquet");
        using (var duck = new DuckDB.NET.Data.DuckDBConnection("Data Source=:memory:"))
        {
            duck.Open();
            using var copy = duck.CreateCommand();
            copy.CommandText = $"COPY (SELECT range AS n, 'v' || range AS vin FROM range(1234)) TO '{source}' (FORMAT parquet)";
            copy.ExecuteNonQuery();
        }

        var bytes = await File.ReadAllBytesAsync(source);
        await using var server = await FakeUsineServer.StartAsync(app =>
            app.MapGet("/api/models/{name}/export", () => Results.Bytes(bytes, "application/vnd.apache.parquet")));
        var file = Path.Combine(_dir, "screwing.parquet");

        var result = await CliRunner.RunAsync(["export", "screwing", "--out", file, "--server", server.Url]);

        Assert.Equal(("", 0), (result.Error, result.ExitCode));
        Assert.Equal($"Exported screwing as parquet to {file}: 1,234 rows, {Usine.Cli.Internal.Output.Bytes(bytes.Length)}.\n", result.Output);
    }

    [Fact]
    public async Task A_refused_export_says_why_and_leaves_no_file()
    {
        await using var server = await StartServerAsync();
        var file = Path.Combine(_dir, "energy.parquet");

        var result = await CliRunner.RunAsync(["export", "energy", "--out", file, "--where", "nope:eq:1", "--server", server.Url]);

        Assert.Equal(2, result.ExitCode);
        CliAssert.OneErrorLine("error: where 'nope:eq:1': unknown field 'nope' of model energy", result);
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
