namespace Usine.Cli.Commands;

internal sealed class ArchiveRunSettings : ClientSettings
{
    [CommandOption("--include-today")]
    [Description("Also archive what was received today (UTC) until now, not only the days that ended; a later run archives what arrives after.")]
    public bool IncludeToday { get; init; }
}

internal sealed class ArchiveListSettings : FormattedSettings
{
    [CommandOption("--source <ID>")]
    [Description("Only the archive of this source.")]
    public string? Source { get; init; }
}

/// <summary>usine archive run: archive what is due and apply retention now.</summary>
internal sealed class ArchiveRunCommand(CliEnvironment environment) : ClientCommand<ArchiveRunSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ArchiveRunSettings settings, CancellationToken cancellationToken)
    {
        var run = await client.RunArchiveAsync(settings.IncludeToday, cancellationToken);
        Environment.PrintDetails(
        [
            ("archived before", Output.Time(run.Cutoff)),
            ("files written", Output.Count(run.Files)),
            ("rows archived", Output.Count(run.Rows)),
            ("bytes written", Output.Bytes(run.Bytes)),
            ("raw rows deleted", Output.Count(run.RawRowsDeleted)),
            ("raw rows kept", run.RawRowsKept > 0 ? Output.Count(run.RawRowsKept) + " (not archived yet)" : "0"),
            ("partitions deleted", Output.Count(run.PartitionsDeleted)),
            ("jobs", string.Join(", ", new[] { run.ArchiveJob, run.RetentionJob }.OfType<string>())),
            ("took", Output.Duration(TimeSpan.FromMilliseconds(run.ElapsedMs))),
        ]);
        var problems = run.Problems ?? [];
        foreach (var p in problems)
        {
            await Environment.Error.WriteLineAsync($"error: archive file {p.Path} is {p.Problem} ({p.Detail}); its raw messages were kept");
        }

        return problems.Count == 0 ? ExitCodes.Ok : ExitCodes.Failure;
    }
}

/// <summary>usine archive list: the archive per plant, source and day.</summary>
internal sealed class ArchiveListCommand(CliEnvironment environment) : ClientCommand<ArchiveListSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ArchiveListSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetArchiveAsync(settings.Source, cancellationToken);
        var daysJson = DataOutput.Items(answer.Json, "days");
        if (Environment.TryWrite(settings.Format, daysJson, daysJson, typeof(ArchiveDay)))
        {
            return ExitCodes.Ok;
        }

        var archive = answer.Value;
        var days = archive.Days ?? [];
        if (days.Count == 0)
        {
            Environment.PrintLine(settings.Source is null ? "The archive is empty." : $"Nothing of source {settings.Source} is archived.");
            return ExitCodes.Ok;
        }

        var table = new TableView("plant", "source", "day", "files", "rows", "size", "first received", "last received").RightAlign(3, 4, 5);
        foreach (var d in days)
        {
            table.Row(d.Plant, d.Source, d.Day, d.Files.ToString(CultureInfo.InvariantCulture), Output.Count(d.Rows), Output.Bytes(d.Bytes),
                Output.Time(d.MinReceivedAt), Output.Time(d.MaxReceivedAt));
        }

        Environment.Print(table);
        Environment.PrintLine($"{Output.Count(archive.Files)} files, {Output.Count(archive.Rows)} messages, {Output.Bytes(archive.Bytes)} in {archive.Root}");
        return ExitCodes.Ok;
    }
}

/// <summary>usine archive verify: re-hash every archive file against the manifest.</summary>
internal sealed class ArchiveVerifyCommand(CliEnvironment environment) : ClientCommand<ClientSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ClientSettings settings, CancellationToken cancellationToken)
    {
        var v = await client.VerifyArchiveAsync(cancellationToken);
        var problems = v.Problems ?? [];
        var unlisted = v.Unlisted ?? [];
        if (problems.Count > 0)
        {
            var table = new TableView("file", "problem", "detail");
            foreach (var p in problems)
            {
                table.Row(p.Path, p.Problem, p.Detail);
            }

            Environment.Print(table);
        }

        foreach (var u in unlisted)
        {
            Environment.PrintLine($"not in the manifest: {u}");
        }

        Environment.PrintLine($"{Output.Count(v.Intact)} of {Output.Count(v.Checked)} files intact ({Output.Bytes(v.Bytes)})");
        if (problems.Count > 0)
        {
            await Environment.Error.WriteLineAsync($"error: {problems.Count} archive files are missing or altered");
            return ExitCodes.Failure;
        }

        return ExitCodes.Ok;
    }
}
