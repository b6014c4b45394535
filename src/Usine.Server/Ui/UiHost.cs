using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;

namespace Usine.Server.Ui;

/// <summary>Wires the web UI (Blazor, interactive on the server) into the platform's web application.</summary>
internal static class UiHost
{
    /// <summary>Interactive on the server without prerendering: a page shows once its circuit is live, so every button works when it appears.</summary>
    public static readonly InteractiveServerRenderMode Interactive = new(prerender: false);

    public static IServiceCollection AddUsineUi(this IServiceCollection services)
    {
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddScoped<UiSession>();
        services.AddScoped<DeadLetterTriage>();
        return services;
    }

    public static WebApplication MapUsineUi(this WebApplication app)
    {
        app.UseAntiforgery();
        MapAsset(app, "/_framework/blazor.web.js", "ui/blazor.web.js", "text/javascript");
        MapAsset(app, "/ui/app.css", "ui/app.css", "text/css");

        // Browsers ask for it on every page whatever the page links; without it each page logs a 404.
        MapAsset(app, "/favicon.ico", "ui/favicon.ico", "image/x-icon");
        // Every page and the circuit behind it need a signed-in viewer (always true on a loopback server without authentication).
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode().RequireAuthorization(Security.UsineAuth.ViewerPolicy);
        return app;
    }

    /// <summary>Whether a request comes from a person browsing the UI (a page outside the API), who should get a page and not JSON.</summary>
    public static bool WantsPage(HttpRequest request) =>
        HttpMethods.IsGet(request.Method)
        && !request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase)
        && request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);

    /// <summary>A plain page for an address the UI does not have, with the way back.</summary>
    public static async Task WriteNotFoundPageAsync(HttpContext http)
    {
        var path = System.Net.WebUtility.HtmlEncode(http.Request.Path.Value ?? "/");
        http.Response.ContentType = "text/html; charset=utf-8";
        await http.Response.WriteAsync($"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8" /><title>Usine · Not found</title><link rel="icon" href="/favicon.ico" /><link rel="stylesheet" href="/ui/app.css" /></head>
            <body><header class="topbar"><a class="brand" href="/">Usine</a></header>
            <main><h1>Not found</h1><p>There is no page at <code>{path}</code>. Go to the <a href="/">overview</a>, or search a vehicle, machine or station from there.</p></main>
            </body></html>
            """);
    }

    private static void MapAsset(IEndpointRouteBuilder app, string path, string resource, string contentType)
    {
        var bytes = Read(resource);
        var etag = "\"" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes))[..16] + "\"";
        app.MapGet(path, (HttpContext http) =>
        {
            http.Response.Headers.ETag = etag;
            http.Response.Headers.CacheControl = "no-cache";
            return http.Request.Headers.IfNoneMatch == etag
                ? Results.StatusCode(StatusCodes.Status304NotModified)
                : Results.Bytes(bytes, contentType);
        }).AllowAnonymous().ExcludeFromDescription();
    }

    private static byte[] Read(string resource)
    {
        using var stream = typeof(UiHost).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"the web UI asset {resource} is missing from the build of Usine.Server");
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return ms.ToArray();
    }
}
