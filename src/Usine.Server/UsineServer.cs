using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Scalar.AspNetCore;
using Usine.Connectors.Files;
using Usine.Connectors.Http;
using Usine.Connectors.Mqtt;
using Usine.Connectors.OpcUa;
using Usine.Server.Endpoints;
using Usine.Server.Ui;

namespace Usine.Server;

/// <summary>
/// <c>usine serve</c>: builds the web application of the platform from its settings, composed by dependency
/// injection (<see cref="UsineServiceCollectionExtensions.AddUsine(IServiceCollection, UsineOptions)"/>,
/// <see cref="UsineStoreComposition.AddUsineStore"/>), and runs it.
/// </summary>
public static class UsineServer
{
    /// <summary>The section of the configuration the MQTT connectors' settings are read from.</summary>
    public const string MqttSection = "Usine:Mqtt";

    /// <summary>
    /// Builds the web application with every setting read from the configuration: appsettings.json in the current
    /// directory, environment variables (<c>Usine__Store__MemoryLimit</c>), then <paramref name="settings"/> (the
    /// command line's flags, as configuration keys such as <c>Usine:DataDirectory</c>) over them.
    /// </summary>
    public static WebApplication Build(IEnumerable<KeyValuePair<string, string?>>? settings = null, Action<IServiceCollection>? services = null, Action<ILoggingBuilder>? logging = null) =>
        Build(null, settings, services, logging);

    /// <summary>
    /// Builds the web application on the platform's settings <paramref name="options"/> (the <c>Usine</c> section is not
    /// read), the other components' settings read from the configuration as <see cref="Build(IEnumerable{KeyValuePair{string, string}}?, Action{IServiceCollection}?, Action{ILoggingBuilder}?)"/>
    /// does. <paramref name="services"/> registers services first: a <see cref="TimeProvider"/>, pipeline steps.
    /// The definitions are loaded here, so that a bad configuration fails before anything starts.
    /// </summary>
    public static WebApplication Build(UsineOptions? options, IEnumerable<KeyValuePair<string, string?>>? settings = null, Action<IServiceCollection>? services = null,
        Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Usine" });
        if (settings is not null)
        {
            // A key given twice takes its last value, as a later configuration source overrides an earlier one.
            var last = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var (key, value) in settings)
            {
                last[key] = value;
            }

            builder.Configuration.AddInMemoryCollection(last);
        }

        options ??= UsineConfiguration.Bind(builder.Configuration, UsineOptions.Section, new UsineOptions(), strict: false);
        var http = UsineConfiguration.Bind(builder.Configuration, UsineHttpOptions.Section, new UsineHttpOptions(), strict: true);
        http.Validate();
        var mqtt = UsineConfiguration.Bind(builder.Configuration, MqttSection, new MqttConnectorOptions(), strict: true);
        try
        {
            mqtt.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{MqttSection}: {ex.Message}", ex);
        }

        // The kinds of source this server runs: each connector project registers its own; a test or an extension
        // adds more through `services`.
        builder.Services.AddSingleton(mqtt).AddMqttConnectors(mqtt).AddFileConnectors(new FileConnectorOptions { PollInterval = options.DropPollInterval }).AddHttpConnectors().AddOpcUaConnectors();
        services?.Invoke(builder.Services);
        var kinds = UsineServiceCollectionExtensions.SourceKinds(builder.Services, options);
        var loaded = LoadedDefinitions.Load(options, kinds);
        UsineAuth.EnsureSafeToListen(http.Urls, loaded.Definitions.Auth);
        builder.WebHost.UseUrls(http.Urls);
        builder.Logging.ClearProviders();
        if (logging is null)
        {
            ConsoleLogging(builder.Logging);
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }
        else
        {
            logging(builder.Logging);
        }

        builder.Services.AddUsine(options, kinds, loaded);
        builder.Services.AddUsineStore(builder.Configuration, options);
        builder.Services.AddSingleton(http);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
            o.SerializerOptions.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi(o => o.AddOperationTransformer(OpenApiTags.TagByResource).AddDocumentTransformer(OpenApiTags.DeclareUsedTags));
        builder.AddUsineMetrics();
        builder.Services.AddUsineUi();
        builder.Services.AddUsineAuth(loaded.Definitions.Auth, options.DataDirectory);

        var app = builder.Build();
        app.UseExceptionHandler(e => e.Run(async http =>
        {
            var ex = http.Features.Get<IExceptionHandlerFeature>()?.Error;
            var (status, message) = ex switch
            {
                BadHttpRequestException b => (b.StatusCode, b.Message),
                JsonException j => (StatusCodes.Status400BadRequest, "the body is not valid JSON: " + j.Message),
                ArgumentException a => (StatusCodes.Status400BadRequest, a.Message),
                OutOfScopeException o => (StatusCodes.Status403Forbidden, o.Message),
                Operations.DefinitionRejectedException d => (d.Status, d.Message),
                OperationCanceledException => (499, "the request was cancelled"),
                UsineException { IsTransient: true } u => (StatusCodes.Status503ServiceUnavailable, u.Message + " (retry)"),
                _ => (StatusCodes.Status500InternalServerError, "internal error: " + ex?.Message),
            };
            if (status >= 500 && ex is not null)
            {
                app.Logger.RequestFailed(ex, http.Request.Method, http.Request.Path);
            }

            http.Response.StatusCode = status;
            await http.Response.WriteAsJsonAsync(new ApiError(message));
        }));
        app.UseStatusCodePages(async ctx =>
        {
            if (!ctx.HttpContext.Response.HasStarted && ctx.HttpContext.Response.ContentLength is null)
            {
                var r = ctx.HttpContext.Response;
                if (r.StatusCode == StatusCodes.Status404NotFound && UiHost.WantsPage(ctx.HttpContext.Request))
                {
                    await UiHost.WriteNotFoundPageAsync(ctx.HttpContext);
                    return;
                }

                var message = r.StatusCode == StatusCodes.Status404NotFound
                    ? $"no such endpoint: {ctx.HttpContext.Request.Method} {ctx.HttpContext.Request.Path} (see docs/api.md)"
                    : $"HTTP {r.StatusCode}";
                await r.WriteAsJsonAsync(new ApiError(message));
            }
        });

        app.UseUsineAuth();
        app.MapLogin();
        app.MapStatus();
        app.MapModels();
        app.MapSources();
        app.MapAvatars();
        app.MapDeadLetters();
        app.MapOperations();
        app.MapArchive();
        app.MapAlerts();
        app.MapRollups();
        app.MapJobs();
        app.MapUsineMetrics();
        app.MapRecords();
        app.MapAggregates();
        app.MapExports();
        app.MapOpenApi().AllowAnonymous();
        // The reference page shows Usine's API and nothing else: no schema list beside the Models resource (it
        // would read "Models" twice), no buttons to the vendor's own services, no calls home.
        app.MapScalarApiReference(o => o.WithTitle("Usine API").WithFavicon("/favicon.ico").HideModels().HideClientButton()
            .HideDeveloperTools().DisableAgent().DisableMcp().DisableTelemetry()).AllowAnonymous();
        app.MapUsineUi();
        app.Lifetime.ApplicationStarted.Register(() => app.Logger.Listening(http.Urls, Path.GetFullPath(options.DataDirectory)));
        return app;
    }

    /// <summary>The log format of every command that runs the platform: one line an event, with the time.</summary>
    public static void ConsoleLogging(ILoggingBuilder logging) => logging.AddSimpleConsole(o =>
    {
        o.SingleLine = true;
        o.TimestampFormat = "HH:mm:ss ";
    }).SetMinimumLevel(LogLevel.Information);

    /// <summary><c>usine serve</c>: builds the platform on the configuration and <paramref name="settings"/>, and serves until stopped by a signal.</summary>
    public static async Task RunAsync(IEnumerable<KeyValuePair<string, string?>> settings)
    {
        var app = Build(settings);
        await app.RunAsync();
    }
}
