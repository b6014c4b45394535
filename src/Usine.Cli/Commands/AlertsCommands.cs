using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;
using Usine.Cli.Internal;

namespace Usine.Cli.Commands;

internal sealed class AlertsListSettings : ClientSettings
{
    [CommandOption("--rules")]
    [Description("Also list the rules that run and the notifiers with their delivery counters.")]
    public bool Rules { get; init; }
}

internal sealed class AlertsHistorySettings : ClientSettings
{
    [CommandOption("-n|--limit <N>")]
    [Description("How many events, newest first. Default 50.")]
    public int Limit { get; init; } = 50;

    [CommandOption("--rule <NAME>")]
    [Description("Only this rule's events.")]
    public string? Rule { get; init; }

    [CommandOption("-s|--source <ID>")]
    [Description("Only this source's events.")]
    public string? Source { get; init; }

    public override ValidationResult Validate() =>
        Limit is >= 1 and <= 1000 ? ValidationResult.Success() : ValidationResult.Error("--limit must be between 1 and 1000");
}

/// <summary>usine alerts list: what fires now.</summary>
internal sealed class AlertsListCommand(CliEnvironment environment) : ClientCommand<AlertsListSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, AlertsListSettings settings, CancellationToken cancellationToken)
    {
        var alerts = await client.GetAlertsAsync(cancellationToken);
        var console = Environment.Console;
        var now = Environment.Time.GetUtcNow();
        var firing = alerts.Firing ?? [];
        if (firing.Count == 0)
        {
            console.Write(new Text("No alert is firing.\n"));
        }
        else
        {
            var table = Output.Table("rule", "severity", "source", "since", "summary");
            foreach (var a in firing)
            {
                table.Row(a.Rule, a.Severity, a.Source ?? "-", Output.Ago(a.Since, now), a.Summary);
            }

            console.Write(table);
        }

        if (settings.Rules)
        {
            var rules = Output.Table("rule", "signal", "severity", "sources", "for", "defined at");
            foreach (var r in alerts.Rules ?? [])
            {
                rules.Row(r.Name, r.Signal, r.Severity, r.Sources is { Count: > 0 } s ? string.Join(", ", s) : "all",
                    Output.Duration(TimeSpan.FromSeconds(r.ForSeconds ?? 0)), r.Origin);
            }

            console.Write(rules);
            var notifiers = alerts.Notifiers ?? [];
            if (notifiers.Count > 0)
            {
                var table = Output.Table("notifier", "kind", "delivered", "failed", "retries", "dropped", "queued").RightAlign(2, 3, 4, 5, 6);
                foreach (var n in notifiers)
                {
                    table.Row(n.Name, n.Kind, Output.Count(n.Delivered), Output.Count(n.Failed), Output.Count(n.Retries), Output.Count(n.Dropped), Output.Count(n.Queued));
                }

                console.Write(table);
            }
        }

        return ExitCodes.Ok;
    }
}

/// <summary>usine alerts history: alerts that fired and resolved, newest first.</summary>
internal sealed class AlertsHistoryCommand(CliEnvironment environment) : ClientCommand<AlertsHistorySettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, AlertsHistorySettings settings, CancellationToken cancellationToken)
    {
        var events = await client.GetAlertHistoryAsync(settings.Limit, settings.Rule, settings.Source, cancellationToken);
        if (events.Count == 0)
        {
            Environment.Console.Write(new Text("No alert has fired since the server started.\n"));
            return ExitCodes.Ok;
        }

        var table = Output.Table("at", "status", "rule", "severity", "source", "summary");
        foreach (var e in events)
        {
            table.Row(Output.Time(e.At), e.Status, e.Rule, e.Severity, e.Source ?? "-", e.Summary);
        }

        Environment.Console.Write(table);
        return ExitCodes.Ok;
    }
}
