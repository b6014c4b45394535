using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Usine.Tests.Operations;

/// <summary>A real HTTP listener that records every POST it receives and answers with the status codes it is told to.</summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Channel<Delivery> _received = Channel.CreateUnbounded<Delivery>();
    private readonly Queue<int> _answers = new();

    public sealed record Delivery(string Body, IReadOnlyDictionary<string, string> Headers);

    private WebhookReceiver(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hook", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            var headers = http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            int status;
            lock (receiver._answers)
            {
                status = receiver._answers.Count > 0 ? receiver._answers.Dequeue() : 200;
            }

            await receiver._received.Writer.WriteAsync(new Delivery(body, headers));
            return Results.StatusCode(status);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = new Uri(address + "/hook");
        return receiver;
    }

    /// <summary>Requests received and not read yet.</summary>
    public IReadOnlyList<Delivery> Pending
    {
        get
        {
            var list = new List<Delivery>();
            while (_received.Reader.TryRead(out var d))
            {
                list.Add(d);
            }

            return list;
        }
    }

    /// <summary>The next requests get these status codes; then 200.</summary>
    public void AnswerNext(params int[] statuses)
    {
        lock (_answers)
        {
            foreach (var s in statuses)
            {
                _answers.Enqueue(s);
            }
        }
    }

    public async Task<Delivery> NextAsync(string expected)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            return await _received.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"the webhook received nothing within 20 s; expected {expected}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
