using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Scalar.AspNetCore;
using Usine.Server.Endpoints;
using Usine.Server.Internal;
using Usine.Server.Security;
using Usine.Server.Ui;

namespace Usine.Server;

/// <summary>The HTTP face of a platform: builds and runs the web application.</summary>
public static class UsineServer
{
    /// <summary>Builds the web application around a started platform (it disposes the platform when it stops).</summary>
    public static WebApplication Build(UsinePlatform platform, string urls, Action<ILoggingBuilder>? logging = null)
    {
        UsineAuth.EnsureSafeToListen(urls, platform.Definitions.Auth);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Usine" });
        builder.WebHost.UseUrls(urls);
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

        builder.Services.AddSingleton(platform);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
            o.SerializerOptions.NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals;
        });
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi(o => o.AddOperationTransformer(OpenApiTags.TagByResource).AddDocumentTransformer(OpenApiTags.DeclareUsedTags));
        builder.AddUsineMetrics();
        builder.Services.AddUsineUi();
        builder.Services.AddUsineAuth(platform.Definitions.Auth, platform.Options.DataDirectory);

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
        app.Lifetime.ApplicationStopped.Register(() => platform.DisposeAsync().AsTask().GetAwaiter().GetResult());
        app.Lifetime.ApplicationStarted.Register(() => app.Logger.Listening(urls, Path.GetFullPath(platform.Options.DataDirectory)));
        return app;
    }

    /// <summary>The log format of every command that runs the platform: one line an event, with the time.</summary>
    public static void ConsoleLogging(ILoggingBuilder logging) => logging.AddSimpleConsole(o =>
    {
        o.SingleLine = true;
        o.TimestampFormat = "HH:mm:ss ";
    }).SetMinimumLevel(LogLevel.Information);

    /// <summary><c>usine serve</c>: starts the platform and serves until cancelled or stopped by a signal.</summary>
    public static async Task RunAsync(UsineServerOptions options, CancellationToken ct)
    {
        using var loggers = LoggerFactory.Create(ConsoleLogging);
        var platform = await UsinePlatform.StartAsync(options, loggers, ct: ct);
        var app = Build(platform, options.Urls);
        await app.RunAsync();
    }
}
