using System.ComponentModel;
using System.Globalization;
using Spectre.Console;
using Spectre.Console.Cli;
using Usine.Cli.Internal;

namespace Usine.Cli.Commands;

internal sealed class ArchiveListSettings : ClientSettings
{
    [CommandOption("--source <ID>")]
    [Description("Only the archive of this source.")]
    public string? Source { get; init; }
}

/// <summary>usine archive run: archive what is due and apply retention now.</summary>
internal sealed class ArchiveRunCommand(CliEnvironment environment) : ClientCommand<ClientSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, ClientSettings settings, CancellationToken cancellationToken)
    {
        var run = await client.RunArchiveAsync(cancellationToken);
        Environment.Console.Write(Output.Details(
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
        ]));
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
        var archive = await client.GetArchiveAsync(settings.Source, cancellationToken);
        var days = archive.Days ?? [];
        if (days.Count == 0)
        {
            Environment.Console.Write(new Text(settings.Source is null ? "The archive is empty.\n" : $"Nothing of source {settings.Source} is archived.\n"));
            return ExitCodes.Ok;
        }

        var table = Output.Table("plant", "source", "day", "files", "rows", "size", "first received", "last received").RightAlign(3, 4, 5);
        foreach (var d in days)
        {
            table.Row(d.Plant, d.Source, d.Day, d.Files.ToString(CultureInfo.InvariantCulture), Output.Count(d.Rows), Output.Bytes(d.Bytes),
                Output.Time(d.MinReceivedAt), Output.Time(d.MaxReceivedAt));
        }

        Environment.Console.Write(table);
        Environment.Console.Write(new Text(
            $"{Output.Count(archive.Files)} files, {Output.Count(archive.Rows)} messages, {Output.Bytes(archive.Bytes)} in {archive.Root}\n"));
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
            var table = Output.Table("file", "problem", "detail");
            foreach (var p in problems)
            {
                table.Row(p.Path, p.Problem, p.Detail);
            }

            Environment.Console.Write(table);
        }

        foreach (var u in unlisted)
        {
            Environment.Console.Write(new Text($"not in the manifest: {u}\n"));
        }

        Environment.Console.Write(new Text($"{Output.Count(v.Intact)} of {Output.Count(v.Checked)} files intact ({Output.Bytes(v.Bytes)})\n"));
        if (problems.Count > 0)
        {
            await Environment.Error.WriteLineAsync($"error: {problems.Count} archive files are missing or altered");
            return ExitCodes.Failure;
        }

        return ExitCodes.Ok;
    }
}
