namespace Usine.Server;

/// <summary>
/// The platform's own settings: its definitions and data directory, jobs, replays, archive schedule and retention,
/// alerting. The store (<c>Usine:Store</c>), the MQTT connectors (<c>Usine:Mqtt</c>) and HTTP (<c>Usine:Http</c>) have
/// their own; docs/configuration.md lists them all with their configuration keys. Read from the <c>Usine</c> section of
/// the configuration (appsettings.json, <c>Usine__RawRetentionDays</c> environment variables); command-line flags
/// override.
/// </summary>
public sealed record UsineOptions
{
    /// <summary>The section of the configuration the platform's settings are read from.</summary>
    public const string Section = "Usine";

    /// <summary>
    /// The roles this process plays in a cluster: <c>capture</c>, <c>process</c>, <c>api</c>, several joined by commas,
    /// or <c>all</c> (the default, and the only choice without NATS). docs/cluster.md says how they fit together.
    /// </summary>
    public string Role { get; init; } = "all";

    /// <summary>The YAML file of models and sources. Required for serve; demo writes its own.</summary>
    public string? ConfigPath { get; init; }

    /// <summary>Where the store, dropped files and state live. Default <c>./.usine</c>.</summary>
    public string DataDirectory { get; init; } = ".usine";

    /// <summary>How often file-drop folders are looked at. Default 1 s.</summary>
    public TimeSpan DropPollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Evaluate alert rules on a timer. Default true.</summary>
    public bool EvaluateAlerts { get; init; } = true;

    /// <summary>How often alert rules are evaluated and reconciliation runs for them. Defaults: every 5 s, reconciliation every 5 minutes.</summary>
    public Usine.Operations.AlertEngineOptions Alerting { get; init; } = new();

    /// <summary>Start the connectors of live sources (MQTT, file drops). Default true; tests of the API alone turn it off.</summary>
    public bool StartConnectors { get; init; } = true;

    /// <summary>
    /// Kinds of source registered besides the built-in ones (mqtt, file, http): a connector project's
    /// <see cref="Sources.SourceKindRegistration"/>. Its sources load, validate and start like the others.
    /// </summary>
    public IReadOnlyList<Sources.SourceKindRegistration> SourceKinds { get; init; } = [];

    /// <summary>Attempts after which a dead letter is not replayed again unless forced. Default 5.</summary>
    public int MaxReplayAttempts { get; init; } = 5;

    /// <summary>
    /// How old a raw message must be to be archived. Default null: the days that have ended are archived, that is
    /// the messages received before today 00:00 UTC.
    /// </summary>
    public TimeSpan? ArchiveAfter { get; init; }

    /// <summary>Time of day, UTC, of the daily archive and retention run. Default 00:30; null runs them only on demand (POST /api/archive/run).</summary>
    public TimeSpan? ArchiveTimeOfDay { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Raw messages of the days that ended more than this many days ago are deleted from the raw zone once their
    /// archive file is checked. Default 30; 0 keeps them. A message that is not archived is never deleted.
    /// </summary>
    public int RawRetentionDays { get; init; } = 30;

    /// <summary>Archive partitions of the days that ended more than this many days ago are deleted. Default 0: kept forever.</summary>
    public int ArchiveRetentionDays { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> saying which setting is wrong and how to fix it.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConfigPath))
        {
            throw new ArgumentException("a configuration file is needed: --config usine.yaml, or Usine:ConfigPath in appsettings.json (see docs/models.md and docs/sources.md)");
        }

        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            throw new ArgumentException("the data directory is empty: --data DIR, or Usine:DataDirectory (default .usine)");
        }

        if (MaxReplayAttempts < 1)
        {
            throw new ArgumentException($"the dead-letter attempt limit must be 1 or more, not {MaxReplayAttempts} (--max-replay-attempts, Usine:MaxReplayAttempts)");
        }

        if (RawRetentionDays < 0)
        {
            throw new ArgumentException($"raw retention must be 0 (keep) or a number of days, not {RawRetentionDays} (--raw-retention-days, Usine:RawRetentionDays)");
        }

        if (ArchiveRetentionDays < 0)
        {
            throw new ArgumentException($"archive retention must be 0 (keep) or a number of days, not {ArchiveRetentionDays} (--archive-retention-days, Usine:ArchiveRetentionDays)");
        }

        if (ArchiveRetentionDays > 0 && RawRetentionDays > 0 && ArchiveRetentionDays < RawRetentionDays)
        {
            throw new ArgumentException($"archive retention ({ArchiveRetentionDays} days) is shorter than raw retention ({RawRetentionDays} days): "
                + "raw messages are only deleted once their archive file is checked, so keep the archive at least as long (--archive-retention-days, Usine:ArchiveRetentionDays), or 0 to keep it");
        }

        if (ArchiveAfter is { } age && (age <= TimeSpan.Zero || (RawRetentionDays > 0 && age >= TimeSpan.FromDays(RawRetentionDays))))
        {
            throw new ArgumentException($"the archive age {age} must be positive and shorter than the raw retention of {RawRetentionDays} days, or messages would be due for deletion before they are archived (Usine:ArchiveAfter)");
        }

        if (ArchiveTimeOfDay is { } at && (at < TimeSpan.Zero || at >= TimeSpan.FromDays(1)))
        {
            throw new ArgumentException($"the archive time of day {at} must be between 00:00 and 23:59:59 UTC (Usine:ArchiveTimeOfDay)");
        }
    }

    /// <summary>
    /// A running stream of a source without <c>expect.every</c> that hands nothing to the engine for this
    /// long becomes idle. A source with a cadence is idle after twice its cadence: one expected message
    /// missed. Default 5 minutes.
    /// </summary>
    public TimeSpan IdleAfter { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often streams are checked for silence, and a failing store for recovery. Default 5 s.</summary>
    public TimeSpan JobCheckInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// While commits fail and no batch has been tried for this long (no connector is retrying), the platform
    /// writes a small probe at each check to learn whether the store commits again; when it does, sources
    /// and health are no longer failing. Longer than the connectors' longest retry wait, so that their
    /// retries decide while they run. Default 15 s.
    /// </summary>
    public TimeSpan StoreProbeAfter { get; init; } = TimeSpan.FromSeconds(15);
}
