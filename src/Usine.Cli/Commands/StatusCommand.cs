using Spectre.Console;
using Usine.Cli.Internal;

namespace Usine.Cli.Commands;

internal sealed class StatusSettings : ClientSettings;

/// <summary>usine status: the platform at a glance, then one line per source.</summary>
internal sealed class StatusCommand(CliEnvironment environment) : ClientCommand<StatusSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, StatusSettings settings, CancellationToken cancellationToken)
    {
        var status = await client.GetStatusAsync(cancellationToken);
        var console = Environment.Console;
        var records = status.Records is { Count: > 0 } counts
            ? string.Join(", ", counts.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key} {Output.Count(pair.Value)}"))
            : "none";
        var deadLetters = status.DeadLetters is { } dead ? $"{Output.Count(dead.Open)} open ({Output.Count(dead.Total)} in all)" : "-";
        console.Write(Output.Details(
        [
            ("server", client.Server.AbsoluteUri.TrimEnd('/')),
            ("up", $"{Output.Duration(TimeSpan.FromSeconds(status.UptimeSeconds))} (since {Output.Time(status.StartedAt)})"),
            ("data", status.DataDirectory),
            ("plants", status.Plants is { Count: > 0 } plants ? string.Join(", ", plants) : "none"),
            ("avatars", Output.Count(status.Avatars)),
            ("records", records),
            ("dead letters", deadLetters),
        ]));

        var sources = status.Sources ?? [];
        if (sources.Count == 0)
        {
            console.Write(new Text("No sources are defined.\n"));
            return ExitCodes.Ok;
        }

        var now = Environment.Time.GetUtcNow();
        var table = Output.Table("source", "kind", "model", "state", "received", "stored", "dead letters", "last seen")
            .RightAlign(4, 5, 6);
        foreach (var source in sources)
        {
            table.Row(
                source.Id, source.Kind, source.Model, source.State,
                Output.Count(source.Received), Output.Count(source.Stored), Output.Count(source.DeadLetters),
                Output.Ago(source.LastSeen, now));
        }

        console.Write(table);
        return ExitCodes.Ok;
    }
}
