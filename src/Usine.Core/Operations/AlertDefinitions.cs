namespace Usine.Operations;

/// <summary>What an alert rule watches.</summary>
public enum AlertSignal
{
    /// <summary>A source sent nothing for longer than its expected cadence allows.</summary>
    Silence,

    /// <summary>A source's connector cannot connect, or keeps failing (its stream job is degraded or failed).</summary>
    ConnectorDown,

    /// <summary>The share of a source's messages that became dead letters over a window is above a threshold.</summary>
    DeadLetterRate,

    /// <summary>Messages wait longer than a threshold between their arrival and being queryable.</summary>
    Lag,

    /// <summary>A job (a stream, an import, a replay, an archive run) failed.</summary>
    JobFailed,

    /// <summary>Reconciliation found counts that disagree, a file short of its declared count, or a sequence gap.</summary>
    ReconcileMismatch,

    /// <summary>The store cannot commit batches (a full disk, a read-only or broken data directory). Always evaluated, see <see cref="AlertRule.StoreFailingBuiltIn"/>.</summary>
    StoreFailing,

    /// <summary>The processors of a cluster have more messages waiting in JetStream than a threshold (not yet delivered, or delivered and not yet committed).</summary>
    ConsumerLag,

    /// <summary>An edge node (or a device of an online edge node) a live source follows is offline: a Sparkplug NDEATH or DDEATH.</summary>
    EdgeOffline,
}

public enum AlertSeverity
{
    Info,
    Warning,
    Critical,
}

/// <summary>One alert rule, from the <c>alerts.rules</c> section of the configuration.</summary>
public sealed record AlertRule
{
    public required string Name { get; init; }
    public required AlertSignal Signal { get; init; }

    /// <summary>The sources it watches; empty means every source (for silence: every source with an expected cadence).</summary>
    public IReadOnlyList<string> Sources { get; init; } = [];

    public AlertSeverity Severity { get; init; } = AlertSeverity.Warning;

    /// <summary>How long the condition must hold before the alert fires. Default 0 (connector-down: 30 s).</summary>
    public TimeSpan For { get; init; }

    /// <summary>Silence: a fixed silence that fires, overriding <see cref="AfterCadences"/>.</summary>
    public TimeSpan? After { get; init; }

    /// <summary>Silence: how many expected cadences of silence fire the alert. Default 1.5 (a source every 30 s alerts after 45 s).</summary>
    public double AfterCadences { get; init; } = 1.5;

    /// <summary>Dead-letter rate: the fraction (0..1) above which it fires. Lag: seconds. Reconcile: unused.</summary>
    public double? Above { get; init; }

    /// <summary>Dead-letter rate: the sliding window the rate is measured over. Default 5 minutes. Reconcile: how far back is checked (default 24 h).</summary>
    public TimeSpan? Window { get; init; }

    /// <summary>Dead-letter rate: fewer messages than this in the window never fire. Default 20.</summary>
    public int MinMessages { get; init; } = 20;

    /// <summary>Names of the notifiers that receive it; empty means all.</summary>
    public IReadOnlyList<string> Notify { get; init; } = [];

    public string? Origin { get; init; }

    /// <summary>The signal as written in YAML: silence, connector-down, dead-letter-rate, lag, job-failed, reconcile-mismatch, store-failing, consumer-lag, edge-offline.</summary>
    public static string SignalName(AlertSignal signal) => signal switch
    {
        AlertSignal.Silence => "silence",
        AlertSignal.ConnectorDown => "connector-down",
        AlertSignal.DeadLetterRate => "dead-letter-rate",
        AlertSignal.Lag => "lag",
        AlertSignal.JobFailed => "job-failed",
        AlertSignal.StoreFailing => "store-failing",
        AlertSignal.ConsumerLag => "consumer-lag",
        AlertSignal.EdgeOffline => "edge-offline",
        _ => "reconcile-mismatch",
    };

    public static AlertSignal? ParseSignal(string text) =>
        Enum.GetValues<AlertSignal>().Where(s => SignalName(s) == text).Select(s => (AlertSignal?)s).FirstOrDefault();

    /// <summary>
    /// The platform's own alert: nothing is stored while it fires, so it runs whatever the configured rules are,
    /// unless a rule of signal store-failing replaces it (another name, severity, <c>for</c> or notifiers) or
    /// alerting is turned off.
    /// </summary>
    public static AlertRule StoreFailingBuiltIn { get; } =
        new() { Name = "store-failing", Signal = AlertSignal.StoreFailing, Severity = AlertSeverity.Critical, Origin = "built-in rule" };

    /// <summary>The rules a platform runs when its configuration has no <c>alerts</c> section.</summary>
    public static IReadOnlyList<AlertRule> Defaults { get; } =
    [
        new() { Name = "source-silent", Signal = AlertSignal.Silence, Severity = AlertSeverity.Critical, Origin = "default rules" },
        new() { Name = "connector-down", Signal = AlertSignal.ConnectorDown, Severity = AlertSeverity.Critical, For = TimeSpan.FromSeconds(30), Origin = "default rules" },
        new() { Name = "dead-letters-high", Signal = AlertSignal.DeadLetterRate, Severity = AlertSeverity.Warning, Above = 0.05, Window = TimeSpan.FromMinutes(5), Origin = "default rules" },
        new() { Name = "lag-high", Signal = AlertSignal.Lag, Severity = AlertSeverity.Warning, Above = 60, For = TimeSpan.FromSeconds(30), Origin = "default rules" },
        new() { Name = "job-failed", Signal = AlertSignal.JobFailed, Severity = AlertSeverity.Critical, Origin = "default rules" },
        new() { Name = "reconcile-mismatch", Signal = AlertSignal.ReconcileMismatch, Severity = AlertSeverity.Critical, Origin = "default rules" },
        new() { Name = "edge-offline", Signal = AlertSignal.EdgeOffline, Severity = AlertSeverity.Warning, For = TimeSpan.FromSeconds(10), Origin = "default rules" },
        StoreFailingBuiltIn,
    ];

}

public enum NotifierKind
{
    Log,
    Webhook,
}

/// <summary>Where alerts go, from the <c>alerts.notifiers</c> section. The log always receives them too.</summary>
public sealed record NotifierDefinition
{
    public required string Name { get; init; }
    public required NotifierKind Kind { get; init; }

    /// <summary>Webhook: the URL that receives a JSON POST per alert event.</summary>
    public Uri? Url { get; init; }

    /// <summary>Webhook: the HMAC-SHA256 key of the <c>X-Usine-Signature</c> header; none means unsigned.</summary>
    public string? Secret { get; init; }

    /// <summary>Webhook: deliveries tried before giving up on an event (the first included). Default 6.</summary>
    public int Attempts { get; init; } = 6;

    /// <summary>Webhook: time limit of one delivery. Default 10 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    public string? Origin { get; init; }
}
