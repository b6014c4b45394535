using System.Diagnostics;

namespace Usine.Cli.Commands;

internal sealed class ImportSettings : ClientSettings
{
    [CommandArgument(0, "<FILE>")]
    [Description("The CSV, NDJSON or JSON-array file to import, gzip-compressed or not.")]
    public string File { get; init; } = "";

    [CommandOption("-s|--source <ID>")]
    [Description("The source the file belongs to; its model decides how records are validated.")]
    public string? Source { get; init; }

    [CommandOption("-f|--format <FORMAT>")]
    [Description("csv or json (NDJSON or a JSON array). Default: what the server infers from the source and the file.")]
    public string? Format { get; init; }

    [CommandOption("--expect-count <N>")]
    [Description("The number of records the producer says the file holds; usine reconcile reports a file that differs.")]
    public long? ExpectCount { get; init; }

    public override ValidationResult Validate()
    {
        if (ExpectCount is < 0)
        {
            return ValidationResult.Error("--expect-count must be 0 or more");
        }

        if (string.IsNullOrWhiteSpace(Source))
        {
            return ValidationResult.Error("--source is required: give the id of the source the file belongs to, as listed by usine sources list");
        }

        return Format is null or "csv" or "json"
            ? ValidationResult.Success()
            : ValidationResult.Error($"--format must be csv or json, not '{Format}'");
    }
}

/// <summary>
/// usine import: hashes the file, then streams it to the server, which resumes or skips what an earlier
/// import of the same bytes already committed.
/// </summary>
internal sealed class ImportCommand(CliEnvironment environment) : ClientCommand<ImportSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ImportSettings settings, CancellationToken cancellationToken)
    {
        var file = new FileInfo(settings.File);
        if (!file.Exists)
        {
            throw CliException.Usage(Directory.Exists(settings.File)
                ? $"{settings.File} is a directory; give a file"
                : $"file not found: {settings.File}");
        }

        var source = settings.Source!;
        // Asking first fails fast on a misspelt source, before hashing and sending gigabytes for a 404.
        await client.GetSourceAsync(source, cancellationToken);

        var clock = Stopwatch.StartNew();
        ImportResult result;
        string sha256;
        if (Environment.Interactive)
        {
            (sha256, result) = await ImportWithProgressAsync(client, file, settings, cancellationToken);
        }
        else
        {
            sha256 = await FileUpload.Sha256Async(file.FullName, onRead: null, cancellationToken);
            using var content = new FileUpload.Content(file.FullName, file.Length, onSent: null);
            result = await client.ImportAsync(source, file.Name, sha256, settings.Format, content, cancellationToken, settings.ExpectCount);
            await Environment.Out.WriteLineAsync(
                $"Sent {file.Name} ({Output.Bytes(file.Length)}, sha256 {sha256}) to source {source} in {Output.Duration(clock.Elapsed)}.");
        }

        Print(result, file.Name, source);
        return ExitCodes.Ok;
    }

    private async Task<(string Sha256, ImportResult Result)> ImportWithProgressAsync(
        UsineClient client, FileInfo file, ImportSettings settings, CancellationToken cancellationToken)
    {
        var total = Math.Max(1, file.Length);
        return await Environment.Console.Progress()
            .AutoClear(false)
            .Columns(
                new TaskDescriptionColumn(),
                new ProgressBarColumn(),
                new PercentageColumn(),
                new DownloadedColumn(),
                new TransferSpeedColumn(),
                new SpinnerColumn())
            .StartAsync(async progress =>
            {
                var hashing = progress.AddTask("Hashing", maxValue: total);
                var sending = progress.AddTask("Sending", autoStart: false, maxValue: total);
                var sha256 = await FileUpload.Sha256Async(file.FullName, read => hashing.Increment(read), cancellationToken);
                hashing.Value = total;
                hashing.StopTask();

                sending.StartTask();
                using var content = new FileUpload.Content(file.FullName, file.Length, sent => sending.Increment(sent));
                // The server answers once the file is processed, so the spinner keeps turning at 100 %.
                var result = await client.ImportAsync(settings.Source!, file.Name, sha256, settings.Format, content, cancellationToken, settings.ExpectCount);
                sending.Value = total;
                sending.StopTask();
                return (sha256, result);
            });
    }

    private void Print(ImportResult result, string fileName, string source)
    {
        var elapsed = TimeSpan.FromMilliseconds(result.ElapsedMs);
        var rate = result.ElapsedMs > 0 ? $"{Output.Count((long)(result.Messages / elapsed.TotalSeconds))} msg/s" : "-";
        Environment.PrintLine(
            result.AlreadyImported
                ? $"{fileName} was already imported into {source}: nothing was stored twice."
                : $"Imported {fileName} into {source}{(result.Format is { } format ? $" as {format}" : "")}.");
        Environment.PrintDetails(
        [
            ("messages", Output.Count(result.Messages)),
            ("skipped", Output.Count(result.Skipped)),
            ("stored", Output.Count(result.Stored)),
            ("duplicates", Output.Count(result.Duplicates)),
            ("dead letters", Output.Count(result.DeadLetters)),
            ("elapsed", Output.Duration(elapsed)),
            ("rate", rate),
            ("job", result.Job),
        ]);
        if (result.DeadLetters > 0)
        {
            Environment.PrintLine($"See the rejected messages with: usine deadletters list --source {source}");
        }
    }
}
