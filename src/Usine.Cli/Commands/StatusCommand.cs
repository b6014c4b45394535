namespace Usine.Cli.Commands;

internal sealed class StatusSettings : FormattedSettings;

/// <summary>usine status: the platform at a glance, then one line per source.</summary>
internal sealed class StatusCommand(CliEnvironment environment) : ClientCommand<StatusSettings>(environment)
{
    protected override async Task<int> RunAsync(UsineClient client, StatusSettings settings, CancellationToken cancellationToken)
    {
        var answer = await client.GetStatusAsync(cancellationToken);
        // json is the whole status; csv the table of sources, the one part that has rows.
        if (Environment.TryWrite(settings.Format, answer.Json, DataOutput.Items(answer.Json, "sources"), typeof(SourceInfo)))
        {
            return ExitCodes.Ok;
        }

        var status = answer.Value;
        var records = status.Records is { Count: > 0 } counts
            ? string.Join(", ", counts.OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key} {Output.Count(pair.Value)}"))
            : "none";
        var deadLetters = status.DeadLetters is { } dead ? $"{Output.Count(dead.Open)} open ({Output.Count(dead.Total)} in all)" : "-";
        Environment.PrintDetails(
        [
            ("server", client.Server.AbsoluteUri.TrimEnd('/')),
            ("up", $"{Output.Duration(TimeSpan.FromSeconds(status.UptimeSeconds))} (since {Output.Time(status.StartedAt)})"),
            ("data", status.DataDirectory),
            ("plants", status.Plants is { Count: > 0 } plants ? string.Join(", ", plants) : "none"),
            ("avatars", Output.Count(status.Avatars)),
            ("records", records),
            ("dead letters", deadLetters),
            ("jobs", Jobs(status.Jobs)),
        ]);

        WriteCluster(status.Cluster);
        WriteAlerts(status);

        var sources = status.Sources ?? [];
        if (sources.Count == 0)
        {
            Environment.PrintLine("No sources are defined.");
            return ExitCodes.Ok;
        }

        var now = Environment.Time.GetUtcNow();
        var table = new TableView("source", "kind", "model", "state", "received", "stored", "dead letters", "last seen", "job", "msg/s", "lag", "errors 1h")
            .RightAlign(4, 5, 6, 9, 10, 11);
        foreach (var source in sources)
        {
            table.Row(
                source.Id, source.Kind, source.Model, source.State,
                Output.Count(source.Received), Output.Count(source.Stored), Output.Count(source.DeadLetters),
                Output.Ago(source.LastSeen, now), source.JobState ?? "-", Rate(source.RatePerSecond),
                source.LagSeconds > 0 ? Output.Duration(TimeSpan.FromSeconds(source.LagSeconds)) : "0", Output.Count(source.DeadLettersLastHour));
        }

        Environment.Print(table);
        return ExitCodes.Ok;
    }

    /// <summary>In a cluster: the transport and its lag, then one line per process with its roles.</summary>
    private void WriteCluster(ClusterStatus? cluster)
    {
        if (cluster is not { Transport: "nats" })
        {
            return;
        }

        var lag = cluster.Error is { } error
            ? "unknown: " + error
            : $"{Output.Count(cluster.Lag ?? 0)} to deliver, {Output.Count(cluster.Unacknowledged ?? 0)} delivered and not yet committed";
        Environment.PrintLine($"Cluster: stream {cluster.Stream} (R{cluster.Replicas}), processors' lag {lag}");
        var table = new TableView("process", "roles", "urls", "seen", "published", "processed", "given up", "error").RightAlign(4, 5, 6);
        var now = Environment.Time.GetUtcNow();
        foreach (var m in cluster.Members ?? [])
        {
            table.Row(m.Id ?? "-", m.Roles ?? "-", m.Urls ?? "-", Output.Ago(m.SeenAt, now), m.Published is { } p ? Output.Count(p) : "-",
                m.Processed is { } n ? Output.Count(n) : "-", m.GivenUp is { } g ? Output.Count(g) : "-", m.Error ?? "");
        }

        Environment.Print(table);
    }

    private void WriteAlerts(StatusInfo status)
    {
        var alerts = status.Alerts ?? [];
        if (alerts.Count == 0)
        {
            Environment.PrintLine(status.AlertsAvailable ? "Alerts firing: none." : "Alerts firing: none (this server evaluates no alert rules).");
            return;
        }

        Environment.PrintLine($"Alerts firing: {alerts.Count}");
        var table = new TableView("since", "severity", "rule", "source", "summary");
        foreach (var alert in alerts.OrderBy(a => a.Since))
        {
            table.Row(Output.Time(alert.Since), alert.Severity, alert.Rule, alert.Source ?? "-", alert.Summary);
        }

        Environment.Print(table);
    }

    /// <summary>"3 running, 1 degraded": the states that have jobs, in the server's order.</summary>
    private static string? Jobs(IReadOnlyDictionary<string, long>? jobs) =>
        jobs is null ? null
        : jobs.Where(pair => pair.Value > 0).Select(pair => $"{Output.Count(pair.Value)} {pair.Key}").ToList() is { Count: > 0 } parts ? string.Join(", ", parts)
        : "none";

    private static string Rate(double perSecond) =>
        perSecond.ToString(perSecond >= 100 ? "N0" : "0.##", System.Globalization.CultureInfo.InvariantCulture);
}
