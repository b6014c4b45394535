namespace Usine.Cli.Commands;

/// <summary>The options of every command that runs the platform: where it listens, and its archive and retention.</summary>
internal abstract class PlatformSettings : CommandSettings
{
    [CommandOption("--urls <URL>")]
    [Description("Where the HTTP API and UI listen. Default: http://127.0.0.1:5080.")]
    public string? Urls { get; init; }

    [CommandOption("--archive-dir <DIR>")]
    [Description("The root of the Parquet archive of the raw zone. Default: archive inside the data directory.")]
    public string? ArchiveDir { get; init; }

    [CommandOption("--raw-retention-days <DAYS>")]
    [Description("Delete archived raw messages of the days that ended more than DAYS days ago; 0 keeps them. Messages not archived are never deleted. Default: 30.")]
    public int? RawRetentionDays { get; init; }

    [CommandOption("--archive-retention-days <DAYS>")]
    [Description("Delete archive partitions of the days that ended more than DAYS days ago; 0 keeps them. Default: 0.")]
    public int? ArchiveRetentionDays { get; init; }
}

internal sealed class ServeSettings : PlatformSettings
{
    [CommandOption("-c|--config <FILE>")]
    [Description("The YAML file defining models, sources and alerts (required; see docs/models.md and docs/sources.md).")]
    public string? Config { get; init; }

    [CommandOption("-d|--data <DIR>")]
    [Description("The directory for the store, the raw zone and the archive. Default: the server's configuration.")]
    public string? Data { get; init; }

    [CommandOption("--max-replay-attempts <N>")]
    [Description("Attempts after which a dead letter is not replayed again unless forced. Default: 5.")]
    public int? MaxReplayAttempts { get; init; }

    [CommandOption("--role <ROLES>")]
    [Description("The roles of this process in a cluster: capture, process, api, several joined by commas, or all (the default). Roles other than all need --nats; see docs/cluster.md.")]
    public string? Role { get; init; }

    [CommandOption("--postgres <CONNECTION>")]
    [Description("Store the referential in PostgreSQL (Host=db;Username=usine;Password=...;Database=usine) instead of the embedded DuckDB: the store of a cluster's process and api roles. Sets Usine:Store:Kind and Usine:Store:ConnectionString.")]
    public string? Postgres { get; init; }

    [CommandOption("--nats <URLS>")]
    [Description("The NATS JetStream servers of a cluster, comma-separated (nats://10.0.0.1:4222,nats://10.0.0.2:4222). Default: none, the embedded platform.")]
    public string? Nats { get; init; }

    [CommandOption("--nats-creds <FILE>")]
    [Description("A NATS credentials file (.creds) to connect with (Usine:Nats:CredentialsFile). A user and password or a token come from the environment: Usine__Nats__User and Usine__Nats__Password, Usine__Nats__Token.")]
    public string? NatsCreds { get; init; }

    [CommandOption("--nats-tls-ca <FILE>")]
    [Description("A PEM file of the authorities that signed the NATS servers' certificates; TLS is then required (Usine:Nats:TlsCaFile).")]
    public string? NatsTlsCa { get; init; }

    public override ValidationResult Validate() =>
        MaxReplayAttempts is < 1 ? ValidationResult.Error("--max-replay-attempts must be 1 or more")
        : ArchiveSettings.Validate(RawRetentionDays ?? 30, ArchiveRetentionDays ?? 0);
}

internal sealed class DemoSettings : PlatformSettings
{
    [CommandOption("-d|--data <DIR>")]
    [Description("The directory for the demo's data.")]
    [DefaultValue("./.usine-demo")]
    public string Data { get; init; } = "./.usine-demo";

    [CommandOption("--rate <N>")]
    [Description("Messages per second the plant simulator publishes. Default: the simulator's own pace.")]
    public int? Rate { get; init; }

    [CommandOption("--nats <URLS>")]
    [Description("Run the demo in cluster mode: its sources go through these NATS JetStream servers to its processor (scripts/demo-cluster.sh starts them).")]
    public string? Nats { get; init; }

    [CommandOption("--postgres <CONNECTION>")]
    [Description("Keep the demo's referential in PostgreSQL instead of DuckDB.")]
    public string? Postgres { get; init; }

    [CommandOption("--mqtt-port <PORT>")]
    [Description("The port of the embedded MQTT broker.")]
    [DefaultValue(1883)]
    public int MqttPort { get; init; } = 1883;

    public override ValidationResult Validate() =>
        Rate is < 1 ? ValidationResult.Error("--rate must be 1 or more messages per second")
        : MqttPort is < 1 or > 65535 ? ValidationResult.Error("--mqtt-port must be between 1 and 65535")
        : ArchiveSettings.Validate(RawRetentionDays ?? 30, ArchiveRetentionDays ?? 0);
}

internal sealed class BenchSettings : CommandSettings
{
    [CommandOption("-n|--messages <N>")]
    [Description("How many messages the reference workload generates and ingests.")]
    [DefaultValue(2_000_000)]
    public int Messages { get; init; } = 2_000_000;

    [CommandOption("-w|--work <DIR>")]
    [Description("The directory for the generated file and the stores. Default: a new temporary directory.")]
    public string? Work { get; init; }

    [CommandOption("--mqtt <URL>")]
    [Description("Run the MQTT scenario instead: publish --messages screwing results with QoS 1 to this broker (mqtt://host:port) and ingest them through an MQTT source.")]
    public string? Mqtt { get; init; }

    [CommandOption("--mqtt-batch <N>")]
    [Description("With --mqtt: the source's batchSize. Default: the source default.")]
    public int? MqttBatch { get; init; }

    [CommandOption("--receive-maximum <N>")]
    [Description("With --mqtt: the connector's receive maximum (unacknowledged messages in flight). Default: the connector default.")]
    public int? ReceiveMaximum { get; init; }

    [CommandOption("--cluster <NATS_URLS>")]
    [Description("Run the cluster scenario instead: capture publishes the reference workload to JetStream on these servers, then processors drain it into PostgreSQL (--postgres, required); each role's msg/s and CPU.")]
    public string? Cluster { get; init; }

    [CommandOption("--processors <N>")]
    [Description("With --cluster: processors draining the stream at once. Default: 1.")]
    [DefaultValue(1)]
    public int Processors { get; init; } = 1;

    [CommandOption("--replicas <N>")]
    [Description("With --cluster: copies JetStream keeps of each message. Default: 3.")]
    [DefaultValue(3)]
    public int Replicas { get; init; } = 3;

    [CommandOption("--sparkplug <URL>")]
    [Description("Run the Sparkplug scenario instead: publish --messages NDATA of --metrics aliased metrics each with QoS 1 to this broker (mqtt://host:port) and ingest them through a sparkplug source.")]
    public string? Sparkplug { get; init; }

    [CommandOption("--metrics <N>")]
    [Description("With --sparkplug: the metrics in each NDATA. Default: 10.")]
    [DefaultValue(10)]
    public int Metrics { get; init; } = 10;

    [CommandOption("--opcua <URL>")]
    [Description("Run the OPC UA scenario instead: subscribe to every Counter and Temperature under Objects/PaintShop of this server (opc.tcp://host:port/path), sampled every second, for --minutes; values, lag, CPU and memory each minute.")]
    public string? OpcUa { get; init; }

    [CommandOption("--minutes <N>")]
    [Description("With --opcua: how long the source runs. Default: 10.")]
    [DefaultValue(10)]
    public int Minutes { get; init; } = 10;

    [CommandOption("--bare")]
    [Description("Run the engine and the store alone, without jobs, metrics and alert rules: the difference is what operations cost.")]
    public bool Bare { get; init; }

    [CommandOption("--postgres <CONNECTION>")]
    [Description("Run the engine alone with the PostgreSQL store at this Npgsql connection string (Host=...;Username=...;Database=...), in a schema of its own dropped afterwards.")]
    public string? Postgres { get; init; }

    [CommandOption("--keep")]
    [Description("Keep the work directory afterwards, to look at the data.")]
    public bool Keep { get; init; }

    [CommandOption("--archive <SOURCES>")]
    [Description("Run the archive scenario instead: land --messages raw messages from SOURCES sources over two days in the raw zone, archive them to Parquet, verify and read one day back.")]
    public int? Archive { get; init; }

    [CommandOption("--explore")]
    [Description("Run the exploration scenario instead: fill a store with --messages screwing records by SQL, then time aggregates and avatar histories through the API against the same SQL on DuckDB.")]
    public bool Explore { get; init; }

    [CommandOption("--arrival-only")]
    [Description("With --explore: time the records in arrival order only, without rewriting them sorted by plant (a sort of the whole table, which spills to disk at 100 million records).")]
    public bool ArrivalOnly { get; init; }

    public override ValidationResult Validate() =>
        Messages < 1 ? ValidationResult.Error("--messages must be 1 or more")
        : Mqtt is not null && !Uri.TryCreate(Mqtt, UriKind.Absolute, out _) ? ValidationResult.Error("--mqtt must be a broker URL such as mqtt://127.0.0.1:1883")
        : Sparkplug is not null && !Uri.TryCreate(Sparkplug, UriKind.Absolute, out _) ? ValidationResult.Error("--sparkplug must be a broker URL such as mqtt://127.0.0.1:1883")
        : OpcUa is not null && !(Uri.TryCreate(OpcUa, UriKind.Absolute, out var opcua) && opcua.Scheme == "opc.tcp") ? ValidationResult.Error("--opcua must be an endpoint URL such as opc.tcp://127.0.0.1:48400/UA/Usine")
        : Minutes < 1 ? ValidationResult.Error("--minutes must be 1 or more")
        : Metrics is < 1 or > 10_000 ? ValidationResult.Error("--metrics must be between 1 and 10000")
        : Archive is < 1 ? ValidationResult.Error("--archive must be 1 or more sources")
        : MqttBatch is < 1 ? ValidationResult.Error("--mqtt-batch must be 1 or more")
        : ReceiveMaximum is < 1 or > ushort.MaxValue ? ValidationResult.Error($"--receive-maximum must be between 1 and {ushort.MaxValue}")
        : ValidationResult.Success();
}

internal static class ArchiveSettings
{
    public static ValidationResult Validate(int raw, int archive) =>
        raw < 0 ? ValidationResult.Error("--raw-retention-days must be 0 (keep) or a number of days")
        : archive < 0 ? ValidationResult.Error("--archive-retention-days must be 0 (keep) or a number of days")
        : archive > 0 && raw > 0 && archive < raw
            ? ValidationResult.Error($"--archive-retention-days ({archive}) must be 0 (keep) or at least --raw-retention-days ({raw}): raw messages are only deleted once their archive file is checked")
        : ValidationResult.Success();
}

/// <summary>usine serve: the platform.</summary>
internal sealed class ServeCommand : AsyncCommand<ServeSettings>
{
    public override Task<int> ExecuteAsync(CommandContext context, ServeSettings settings, CancellationToken cancellationToken) =>
        Hosting.ServeAsync(settings, cancellationToken);
}

/// <summary>usine demo: the platform plus the plant simulator.</summary>
internal sealed class DemoCommand : AsyncCommand<DemoSettings>
{
    public override Task<int> ExecuteAsync(CommandContext context, DemoSettings settings, CancellationToken cancellationToken) =>
        Hosting.DemoAsync(settings, cancellationToken);
}

/// <summary>usine bench: the reference workload.</summary>
internal sealed class BenchCommand : AsyncCommand<BenchSettings>
{
    public override Task<int> ExecuteAsync(CommandContext context, BenchSettings settings, CancellationToken cancellationToken) =>
        Hosting.BenchAsync(settings, cancellationToken);
}
