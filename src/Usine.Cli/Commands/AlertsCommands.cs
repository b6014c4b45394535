namespace Usine.Cli.Commands;

internal sealed class AlertsListSettings : FormattedSettings
{
    [CommandOption("--rules")]
    [Description("Also list the rules that run and the notifiers with their delivery counters.")]
    public bool Rules { get; init; }
}

internal sealed class AlertsHistorySettings : FormattedSettings
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
        Limit is >= 1 and <= 1000 ? base.Validate() : ValidationResult.Error("--limit must be between 1 and 1000");
}

/// <summary>usine alerts list: what fires now.</summary>
internal sealed class AlertsListCommand(CliEnvironment environment) : ClientCommand<AlertsListSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, AlertsListSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetAlertsAsync(cancellationToken);
        // Without --rules a list of the firing alerts, as the other lists; with it the API's whole answer.
        var firingJson = DataOutput.Items(answer.Json, "firing");
        if (Environment.TryWrite(settings.Format, settings.Rules ? answer.Json : firingJson, firingJson, typeof(FiringAlertInfo)))
        {
            return ExitCodes.Ok;
        }

        var alerts = answer.Value;
        var now = Environment.Time.GetUtcNow();
        var firing = alerts.Firing ?? [];
        if (firing.Count == 0)
        {
            Environment.PrintLine("No alert is firing.");
        }
        else
        {
            var table = new TableView("rule", "severity", "source", "since", "summary");
            foreach (var a in firing)
            {
                table.Row(a.Rule, a.Severity, a.Source ?? "-", Output.Ago(a.Since, now), a.Summary);
            }

            Environment.Print(table);
        }

        if (settings.Rules)
        {
            var rules = new TableView("rule", "signal", "severity", "sources", "for", "defined at");
            foreach (var r in alerts.Rules ?? [])
            {
                rules.Row(r.Name, r.Signal, r.Severity, r.Sources is { Count: > 0 } s ? string.Join(", ", s) : "all",
                    Output.Duration(TimeSpan.FromSeconds(r.ForSeconds ?? 0)), r.Origin);
            }

            Environment.Print(rules);
            var notifiers = alerts.Notifiers ?? [];
            if (notifiers.Count > 0)
            {
                var table = new TableView("notifier", "kind", "delivered", "failed", "retries", "dropped", "queued").RightAlign(2, 3, 4, 5, 6);
                foreach (var n in notifiers)
                {
                    table.Row(n.Name, n.Kind, Output.Count(n.Delivered), Output.Count(n.Failed), Output.Count(n.Retries), Output.Count(n.Dropped), Output.Count(n.Queued));
                }

                Environment.Print(table);
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
        var answer = await client.GetAlertHistoryAsync(settings.Limit, settings.Rule, settings.Source, cancellationToken);
        if (Environment.TryWrite(settings.Format, answer.Json, answer.Json, typeof(AlertEventInfo)))
        {
            return ExitCodes.Ok;
        }

        var events = answer.Value;
        if (events.Count == 0)
        {
            Environment.PrintLine("No alert has fired since the server started.");
            return ExitCodes.Ok;
        }

        var table = new TableView("at", "status", "rule", "severity", "source", "summary");
        foreach (var e in events)
        {
            table.Row(Output.Time(e.At), e.Status, e.Rule, e.Severity, e.Source ?? "-", e.Summary);
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }
}
