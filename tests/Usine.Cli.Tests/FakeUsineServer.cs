using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Usine.Cli.Tests;

/// <summary>One request as the server received it, body included.</summary>
internal sealed record RecordedRequest(
    string Method,
    string Path,
    IReadOnlyDictionary<string, string> Query,
    IReadOnlyDictionary<string, string> Headers,
    byte[] Body);

/// <summary>
/// A real HTTP server on 127.0.0.1 and a free port, answering the routes a test maps with canned JSON
/// shaped like docs/api.md, and recording every request so a test can check what the tool sent.
/// </summary>
internal sealed class FakeUsineServer : IAsyncDisposable
{
    private readonly WebApplication app;

    private FakeUsineServer(WebApplication app, string url)
    {
        this.app = app;
        Url = url;
    }

    public string Url { get; }

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public static async Task<FakeUsineServer> StartAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        FakeUsineServer? server = null;
        app.Use(async (context, next) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            server!.Requests.Enqueue(new RecordedRequest(
                context.Request.Method,
                context.Request.Path.Value ?? "",
                context.Request.Query.ToDictionary(pair => pair.Key, pair => pair.Value.ToString()),
                context.Request.Headers.ToDictionary(pair => pair.Key, pair => pair.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                body.ToArray()));
            context.Request.Body = new MemoryStream(body.ToArray());
            await next(context);
        });
        map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new FakeUsineServer(app, address);
        return server;
    }

    /// <summary>An address where nothing listens: a port the system just handed out and that was closed again.</summary>
    public static string UnusedAddress()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }

    /// <summary>A JSON answer written verbatim, so the test controls the exact bytes on the wire.</summary>
    public static IResult Json(string json, int status = StatusCodes.Status200OK) =>
        Results.Content(json, "application/json", statusCode: status);

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
