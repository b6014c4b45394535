using System.Reflection;
using Usine.Cli.Commands;

namespace Usine.Cli;

/// <summary>The <c>usine</c> command-line tool.</summary>
public static class UsineCli
{
    /// <summary>Runs the tool on the process's console and returns its exit code (0 ok, 1 failure, 2 bad usage).</summary>
    public static Task<int> RunAsync(IEnumerable<string> args, CancellationToken cancellationToken) =>
        RunAsync(args, CliEnvironment.FromProcess(), cancellationToken);

    internal static async Task<int> RunAsync(IEnumerable<string> args, CliEnvironment environment, CancellationToken cancellationToken)
    {
        var line = new CommandLine();
        var app = new CommandApp();
        app.Configure(config => Configure(config, environment, line));
        var arguments = args.ToList();
        if (arguments is ["--version"])
        {
            await environment.Out.WriteLineAsync(Version);
            return ExitCodes.Ok;
        }

        if (line.MoveGlobalOptions(arguments) is { } misplaced)
        {
            await environment.Error.WriteLineAsync($"error: {misplaced} (see usine --help)");
            return ExitCodes.Usage;
        }

        try
        {
            // Spectre answers a missing command with its help and exit code 0 or 1; DESIGN calls it bad usage.
            if (arguments.Count == 0 || (arguments.Count == 1 && line.Branches.ContainsKey(arguments[0])))
            {
                await app.RunAsync([.. arguments, "--help"], cancellationToken);
                await environment.Error.WriteLineAsync(arguments.Count == 0
                    ? "error: name a command, for example usine status"
                    : $"error: usine {arguments[0]} needs a command: {string.Join(" or ", line.Branches[arguments[0]])}");
                return ExitCodes.Usage;
            }

            if (line.PathOf(arguments) is { } path && line.UnknownOption(path, arguments) is { } unknown)
            {
                await environment.Error.WriteLineAsync($"error: {unknown} (see usine {path} --help)");
                return ExitCodes.Usage;
            }

            return await app.RunAsync(arguments, cancellationToken);
        }
        catch (Exception e) when (e is CommandParseException or CommandRuntimeException)
        {
            // Spectre's own rendering of these is a multi-line panel on standard output; DESIGN wants one
            // line on standard error and exit code 2.
            await environment.Error.WriteLineAsync($"error: {UsageMessage(e.Message)} (see {HelpCommand(line, arguments)})");
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await environment.Error.WriteLineAsync("error: cancelled");
            return ExitCodes.Failure;
        }
    }

    /// <summary>The tool's version as built: the informational version, with the source revision when the build knew it.</summary>
    internal static string Version =>
        typeof(UsineCli).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(UsineCli).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    private static ICommandConfigurator Command<TCommand>(this IConfigurator config, string name, CommandLine line)
        where TCommand : class, ICommand
    {
        line.Register(name, typeof(TCommand));
        return config.AddCommand<TCommand>(name);
    }

    /// <param name="path">The branch and the command, such as "deadletters list".</param>
    private static ICommandConfigurator Command<TCommand>(this IConfigurator<CommandSettings> branch, string path, CommandLine line)
        where TCommand : class, ICommandLimiter<CommandSettings>
    {
        line.Register(path, typeof(TCommand));
        return branch.AddCommand<TCommand>(path.Split(' ')[1]);
    }

    private static void Configure(IConfigurator config, CliEnvironment environment, CommandLine line)
    {
        config.SetApplicationName("usine");
        config.ConfigureConsole(environment.Console);
        config.Settings.Registrar.RegisterInstance(environment);
        // Exceptions come back to RunAsync, which owns the one-line error format and the exit codes.
        config.PropagateExceptions();
        // A backstop behind CommandLine.UnknownOption, which names the closest option: nothing unknown is ignored.
        config.UseStrictParsing();
        config.ValidateExamples();

        config.Command<ServeCommand>("serve", line)
            .WithDescription("Run the platform: ingestion, store, HTTP API and web UI, in this process.")
            .WithExample("serve", "--config", "usine.yaml", "--data", "/var/lib/usine")
            .WithExample("serve", "--urls", "http://0.0.0.0:5080");
        config.Command<DemoCommand>("demo", line)
            .WithDescription("Run the platform with a simulated set of plants publishing over MQTT and a file drop.")
            .WithExample("demo")
            .WithExample("demo", "--rate", "500", "--mqtt-port", "11883");
        config.Command<BenchCommand>("bench", line)
            .WithDescription("Run the reference workload end to end and print messages per second against the ceiling.")
            .WithExample("bench", "--messages", "200000");

        config.Command<ImportCommand>("import", line)
            .WithDescription("Import a CSV, NDJSON or JSON file (gzip or not) into a source; importing the same file again stores nothing twice.")
            .WithExample("import", "screwing-2026-11-26.ndjson.gz", "--source", "flins-assembly-screwing")
            .WithExample("import", "energy.csv", "--source", "douai-energy", "--format", "csv");
        config.Command<ExportCommand>("export", line)
            .WithDescription("Export a model's records, filtered, as CSV, NDJSON or Parquet; the server streams them into the file.")
            .WithExample("export", "screwing", "--out", "nok.parquet", "--where", "status:eq:NOK", "--from", "2026-11-26T00:00:00Z")
            .WithExample("export", "energy", "--out", "douai-energy.csv", "--plant", "douai");
        config.Command<AggregateCommand>("aggregate", line)
            .WithDescription("Aggregate a model's records per time bucket and group on the server, from a rollup when one covers the request.")
            .WithExample("aggregate", "screwing", "--bucket", "1d", "--by", "@line", "--measures", "count,torque:p90", "--plant", "flins")
            .WithExample("aggregate", "screwing", "--bucket", "shift", "--where", "@shift:eq:night", "--format", "csv");
        config.Command<SqlCommand>("sql", line)
            .WithDescription("Run one read-only SQL query on the server and print the rows.")
            .WithExample("sql", "\"SELECT station, count(*) AS n FROM m_screwing GROUP BY station\"")
            .WithExample("sql", "\"SELECT * FROM m_energy\"", "--format", "csv", "--limit", "50000");
        config.Command<StatusCommand>("status", line)
            .WithDescription("Show the platform at a glance: plants, records, dead letters, alerts firing, jobs and every source with its rate and lag.")
            .WithExample("status")
            .WithExample("status", "--server", "http://usine.plant.local:5080");

        config.AddBranch("models", models =>
        {
            models.SetDescription("Look at the data models: fields, key, time, avatar binding and rollups.");
            models.Command<ModelsListCommand>("models list", line)
                .WithDescription("List every model with its versions.")
                .WithExample("models", "list");
            models.Command<ModelsShowCommand>("models show", line)
                .WithDescription("Show one model version in full: its fields, key, time, avatar and rollups.")
                .WithExample("models", "show", "screwing")
                .WithExample("models", "show", "screwing", "--version", "1");
            models.Command<ModelsAddCommand>("models add", line)
                .WithDescription("Add a model, or a new version of one, to the running server from a YAML or JSON file (admin role).")
                .WithExample("models", "add", "energy.yaml");
        });
        config.AddBranch("sources", sources =>
        {
            sources.SetDescription("Look at the configured sources and their counters.");
            sources.Command<SourcesListCommand>("sources list", line)
                .WithDescription("List every source with what it received and stored.")
                .WithExample("sources", "list");
            sources.Command<SourcesShowCommand>("sources show", line)
                .WithDescription("Show one source's definition and counters.")
                .WithExample("sources", "show", "flins-assembly-screwing");
            sources.Command<SourcesPutCommand>("sources put", line)
                .WithDescription("Create or replace a source on the running server from a YAML or JSON file; it starts at once (admin role).")
                .WithExample("sources", "put", "meters.yaml");
            sources.Command<SourcesRemoveCommand>("sources remove", line)
                .WithDescription("Remove a source created through the API; its data stays (admin role).")
                .WithExample("sources", "remove", "meters");
        });
        config.AddBranch("avatars", avatars =>
        {
            avatars.SetDescription("Explore the digital twins: vehicles, parts, machines, stations, lines, plants.");
            avatars.Command<AvatarsShowCommand>("avatars show", line)
                .WithDescription("Show one avatar: its place in the plant, children, links, record counts and latest records.")
                .WithExample("avatars", "show", "VF1RFB00X12345678")
                .WithExample("avatars", "show", "station-12", "--type", "station");
        });
        config.Command<ReplayCommand>("replay", line)
            .WithDescription("Process a range of raw messages again through the current pipeline; replaying the same range twice changes nothing.")
            .WithExample("replay", "--source", "flins-assembly-screwing", "--from", "2026-11-26T06:00:00Z", "--to", "2026-11-26T14:00:00Z");

        config.AddBranch("jobs", jobs =>
        {
            jobs.SetDescription("Watch the jobs: a stream per live source, and bounded runs such as file imports.");
            jobs.Command<JobsListCommand>("jobs list", line)
                .WithDescription("List jobs, newest first, with their state and counters.")
                .WithExample("jobs", "list")
                .WithExample("jobs", "list", "--kind", "import", "--state", "failed");
            jobs.Command<JobsShowCommand>("jobs show", line)
                .WithDescription("Show one job: its counters, last error and the history of its states.")
                .WithExample("jobs", "show", "stream:flins-assembly-screwing")
                .WithExample("jobs", "show", "import-3");
        });
        config.AddBranch("alerts", alerts =>
        {
            alerts.SetDescription("Alerts: what fires now, the rules, and what fired before.");
            alerts.Command<AlertsListCommand>("alerts list", line)
                .WithDescription("List the alerts firing now; --rules adds the rules and the notifiers' delivery counters.")
                .WithExample("alerts", "list", "--rules");
            alerts.Command<AlertsHistoryCommand>("alerts history", line)
                .WithDescription("List alerts that fired and resolved, newest first.")
                .WithExample("alerts", "history", "--source", "flins-screwing", "--limit", "20");
        });
        config.AddBranch("rollups", rollups =>
        {
            rollups.SetDescription("Rollups: repair their buckets from the records.");
            rollups.Command<RollupsRebuildCommand>("rollups rebuild", line)
                .WithDescription("Recompute a model's rollup buckets between two times from its records (after records were deleted or restored).")
                .WithExample("rollups", "rebuild", "--model", "screwing", "--from", "2026-11-26T00:00:00Z", "--to", "2026-11-27T00:00:00Z");
        });
        config.Command<ReconcileCommand>("reconcile", line)
            .WithDescription("Check a source's counts per hour, its files' line counts and its sequence numbers; exit code 1 on a mismatch.")
            .WithExample("reconcile", "--source", "flins-screwing", "--from", "2026-11-26T00:00:00Z", "--to", "2026-11-27T00:00:00Z")
            .WithExample("reconcile", "--source", "douai-energy", "--from", "6h");
        config.AddBranch("deadletters", deadLetters =>
        {
            deadLetters.SetDescription("Inspect, replay, correct and discard the messages that failed a pipeline stage.");
            deadLetters.Command<DeadLettersListCommand>("deadletters list", line)
                .WithDescription("List dead letters, newest first.")
                .WithExample("deadletters", "list", "--source", "flins-assembly-screwing", "--status", "open")
                .WithExample("deadletters", "list", "--stage", "validate", "--matching", "above the maximum", "--limit", "20");
            deadLetters.Command<DeadLettersGroupsCommand>("deadletters groups", line)
                .WithDescription("Count dead letters per source, stage and reason, largest group first.")
                .WithExample("deadletters", "groups", "--status", "open");
            deadLetters.Command<DeadLettersShowCommand>("deadletters show", line)
                .WithDescription("Show one dead letter: why it failed, and its payload as received.")
                .WithExample("deadletters", "show", "42");
            deadLetters.Command<DeadLettersReplayCommand>("deadletters replay", line)
                .WithDescription("Send one dead letter, or every open one a filter matches, through the current pipeline again.")
                .WithExample("deadletters", "replay", "42")
                .WithExample("deadletters", "replay", "--source", "flins-assembly-screwing", "--matching", "above the maximum");
            deadLetters.Command<DeadLettersEditCommand>("deadletters edit", line)
                .WithDescription("Replace a dead letter's payload (the original is kept), and replay it with --replay.")
                .WithExample("deadletters", "edit", "42", "--file", "fixed.json", "--replay");
            deadLetters.Command<DeadLettersDiscardCommand>("deadletters discard", line)
                .WithDescription("Drop dead letters for good, saying why.")
                .WithExample("deadletters", "discard", "42", "--reason", "test message from commissioning")
                .WithExample("deadletters", "discard", "--source", "flins-assembly-screwing", "--stage", "decode", "--reason", "firmware bug, resent");
        });
        config.AddBranch("audit", audit =>
        {
            audit.SetDescription("Read the audit log: who replayed, edited or discarded what.");
            audit.Command<AuditListCommand>("audit list", line)
                .WithDescription("List audit entries, newest first.")
                .WithExample("audit", "list", "--action", "replay.range", "--since", "2026-11-26T00:00:00Z");
        });
        config.AddBranch("keys", keys =>
        {
            keys.SetDescription("API keys: make one for a person, a dashboard or an edge gateway.");
            keys.Command<KeysNewCommand>("keys new", line)
                .WithDescription("Make an API key: prints the key once and the lines to add under auth.keys in the configuration.")
                .WithExample("keys", "new", "--name", "flins-dashboard", "--role", "viewer", "--plant", "flins");
        });
        config.AddBranch("archive", archive =>
        {
            archive.SetDescription("The long-term archive of the raw zone: Parquet files per plant, source and day.");
            archive.Command<ArchiveRunCommand>("archive run", line)
                .WithDescription("Archive the raw messages that are due and apply retention now, as the daily run does.")
                .WithExample("archive", "run");
            archive.Command<ArchiveListCommand>("archive list", line)
                .WithDescription("List the archive per plant, source and day: files, messages and size.")
                .WithExample("archive", "list")
                .WithExample("archive", "list", "--source", "flins-assembly-screwing");
            archive.Command<ArchiveVerifyCommand>("archive verify", line)
                .WithDescription("Re-hash every archive file and report the missing or altered ones (exit code 1 if any).")
                .WithExample("archive", "verify");
        });
    }

    private static string UsageMessage(string message)
    {
        var line = string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        // Spectre names the CLR type it failed to convert to; people typed a number.
        line = line.Replace("to Nullable`1", "to a number", StringComparison.Ordinal)
            .Replace("to Int32", "to a number", StringComparison.Ordinal);
        return line.TrimEnd('.');
    }

    /// <summary>The help of the command the user was typing, else the tool's.</summary>
    private static string HelpCommand(CommandLine line, List<string> args)
    {
        if (args.Count > 0 && line.IsCommand(args[0]))
        {
            return $"usine {args[0]} --help";
        }

        if (args.Count > 0 && line.Branches.ContainsKey(args[0]))
        {
            return args.Count > 1 && !args[1].StartsWith('-') ? $"usine {args[0]} {args[1]} --help" : $"usine {args[0]} --help";
        }

        return "usine --help";
    }
}
