using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Usine.Connectors.Files;
using Usine.Connectors.Http;
using Usine.Pipeline;

namespace Usine.Server;

/// <summary>The definitions the platform starts with, and the stored ones set aside because they no longer load.</summary>
public sealed record LoadedDefinitions(UsineDefinitions Definitions, IReadOnlyList<DefinitionCatalog.SetAside> SetAside)
{
    /// <summary>
    /// Loads the configuration file with the API's definitions. A mistake in the configuration file throws a
    /// <see cref="DefinitionException"/> naming its file and line, so that a bad configuration stops the start.
    /// </summary>
    public static LoadedDefinitions Load(UsineOptions options, SourceKindRegistry kinds)
    {
        options.Validate();
        var (definitions, setAside) = DefinitionCatalog.LoadAtStart(options, kinds);
        return new LoadedDefinitions(definitions, setAside);
    }
}

/// <summary>When the platform started: the uptime of the status and the silence of sources never seen.</summary>
public sealed record UsineStarted(DateTime At);

/// <summary>The alerts the status and the overview show as firing; none while no alerting is attached.</summary>
public sealed class AlertStatus
{
    /// <summary>The alerts firing now; null while alerts are not evaluated or no rule applies.</summary>
    public IAlertView? View { get; set; }
}

/// <summary>Registers Usine's platform services in a service container.</summary>
public static class UsineServiceCollectionExtensions
{
    /// <summary>
    /// Registers the platform: its definitions (loaded here, so that a bad configuration fails before anything
    /// starts), the engine, the jobs, replays, the archive service, the definition catalog, alerting with its
    /// webhooks, metrics and the running sources; and the hosted services that run them, in order: the engine
    /// (<see cref="EngineHost"/>) first, then the sources (<see cref="SourceHost"/>), then the alert evaluation and the
    /// daily archive. The host stops them in reverse order: the engine last, after every source has handed in its
    /// last batch. A store (<c>AddUsineStore</c>) must be registered as well; <see cref="Pipeline.IPipelineStep"/>s registered in
    /// the container run in the engine, in their order of registration, and a <see cref="TimeProvider"/> registered
    /// before replaces the system clock.
    /// </summary>
    public static IServiceCollection AddUsine(this IServiceCollection services, UsineOptions options)
    {
        var kinds = SourceKinds(services, options);
        return services.AddUsine(options, kinds, LoadedDefinitions.Load(options, kinds));
    }

    /// <summary>
    /// The kinds of source registered in <paramref name="services"/> so far (<c>AddMqttConnectors</c>,
    /// <c>AddFileConnectors</c>, <c>AddHttpConnectors</c>, a connector project's own), then those of the options.
    /// </summary>
    public static SourceKindRegistry SourceKinds(IServiceCollection services, UsineOptions options) => DefinitionCatalog.SourceKinds(options,
        services.Where(d => d.ServiceType == typeof(SourceKindRegistration) && d.ImplementationInstance is not null)
            .Select(d => (SourceKindRegistration)d.ImplementationInstance!));

    /// <summary>Registers the platform on definitions loaded before (see <see cref="LoadedDefinitions.Load"/>).</summary>
    public static IServiceCollection AddUsine(this IServiceCollection services, UsineOptions options, SourceKindRegistry kinds, LoadedDefinitions loaded)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loaded);
        var definitions = loaded.Definitions;
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton(kinds);
        services.AddSingleton(loaded);
        services.AddSingleton(definitions);
        services.AddSingleton(sp => new UsineStarted(sp.GetRequiredService<TimeProvider>().GetUtcNow().UtcDateTime));
        services.AddSingleton(sp => new JobRegistry(sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<JobRegistry>>()));
        foreach (var notifier in definitions.Notifiers.Where(n => n.Kind == NotifierKind.Webhook))
        {
            services.AddSingleton(sp => new WebhookNotifier(notifier, time: sp.GetRequiredService<TimeProvider>(), logger: sp.GetRequiredService<ILogger<WebhookNotifier>>()));
        }

        services.AddSingleton<UsineMetrics>();
        services.AddSingleton<IngestTracker>();
        services.AddSingleton(sp => new IngestEngine(definitions, sp.GetRequiredService<IRecordStore>(), sp.GetServices<Pipeline.IPipelineStep>(),
            sp.GetRequiredService<ILogger<IngestEngine>>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IIngestor>(sp => sp.GetRequiredService<IngestEngine>());
        services.AddSingleton<IAlertSignals, PlatformSignals>();
        services.AddSingleton<AlertRecorder>();
        services.AddSingleton(sp => new AlertEngine(definitions, sp.GetRequiredService<JobRegistry>(), sp.GetRequiredService<IAlertSignals>(),
            sp.GetServices<WebhookNotifier>(), options.Alerting, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<AlertEngine>>())
        {
            Recorder = sp.GetRequiredService<AlertRecorder>(),
        });
        services.AddSingleton(sp => new AlertStatus
        {
            View = options.EvaluateAlerts && definitions.EffectiveAlertRules.Count > 0 ? sp.GetRequiredService<AlertEngine>() : null,
        });
        services.TryAddSingleton(sp => new SourceSink(sp.GetRequiredService<IngestEngine>()));
        services.AddSingleton(sp => new FileImporter(sp.GetRequiredService<SourceSink>().Ingestor, sp.GetRequiredService<IRawZone>(), sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<JobRegistry>()));
        services.AddSingleton(sp => new HttpPush(sp.GetRequiredService<SourceSink>().Ingestor, sp.GetRequiredService<IRawZone>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new Replays(definitions, sp.GetRequiredService<IngestEngine>(), sp.GetRequiredService<IUsineStore>(), sp.GetRequiredService<JobRegistry>(),
            options.MaxReplayAttempts, sp.GetRequiredService<ILogger<Replays>>(), sp.GetRequiredService<TimeProvider>(), sp.GetService<IRawMessageLog>()));
        services.AddSingleton(sp => new ArchiveService(options, sp.GetRequiredService<IArchiveStore>(), sp.GetRequiredService<JobRegistry>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ArchiveService>>()));
        services.AddSingleton<DefinitionCatalog>();
        services.AddSingleton<SourceHost>();

        // Started in this order, stopped in the reverse one.
        services.AddHostedService<EngineHost>();
        services.AddHostedService(sp => sp.GetRequiredService<SourceHost>());
        if (options.EvaluateAlerts)
        {
            services.AddHostedService<AlertLoop>();
        }

        if (options.ArchiveTimeOfDay is not null)
        {
            services.AddHostedService<DailyArchive>();
        }

        return services;
    }
}
