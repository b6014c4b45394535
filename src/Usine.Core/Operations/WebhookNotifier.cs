using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Usine.Internal;

namespace Usine.Operations;

/// <summary>
/// Delivers alert events to a webhook: one JSON POST per event, signed with HMAC-SHA256 when a secret is set
/// (header <c>X-Usine-Signature: sha256=HEX</c> over the exact body), retried with exponential backoff on
/// network errors, timeouts, 408, 429 and 5xx. Events wait in a bounded queue served by its own loop, so a
/// webhook that is down never blocks the alert engine or ingestion; when the queue is full the oldest
/// event is dropped, counted and logged.
/// </summary>
public sealed class WebhookNotifier : IAlertNotifier, IAsyncDisposable
{
    private const int QueueLimit = 1000;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly NotifierDefinition _definition;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<AlertEvent> _queue = Channel.CreateBounded<AlertEvent>(new BoundedChannelOptions(QueueLimit) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private long _delivered;
    private long _failed;
    private long _retries;
    private long _dropped;

    public WebhookNotifier(NotifierDefinition definition, HttpClient? http = null, TimeProvider? time = null, ILogger<WebhookNotifier>? logger = null)
    {
        if (definition.Kind != NotifierKind.Webhook || definition.Url is null)
        {
            throw new ArgumentException($"notifier '{definition.Name}' is not a webhook with a url", nameof(definition));
        }

        _definition = definition;
        _http = http ?? new HttpClient();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _loop = Task.Run(DeliverLoopAsync);
    }

    public string Name => _definition.Name;

    /// <summary>Events delivered (a 2xx answer), events given up after every attempt, retries made, events dropped from a full queue.</summary>
    public (long Delivered, long Failed, long Retries, long Dropped) Counters =>
        (Interlocked.Read(ref _delivered), Interlocked.Read(ref _failed), Interlocked.Read(ref _retries), Interlocked.Read(ref _dropped));

    /// <summary>Events waiting for delivery.</summary>
    public int Queued => _queue.Reader.Count;

    public void Enqueue(AlertEvent alert)
    {
        while (!_queue.Writer.TryWrite(alert))
        {
            if (_queue.Reader.TryRead(out var old))
            {
                Interlocked.Increment(ref _dropped);
                _logger.WebhookDropped(Name, old.Rule, old.Status);
            }
        }
    }

    /// <summary>The body of the POST for an event.</summary>
    public static byte[] Body(AlertEvent e) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        id = e.Id,
        status = e.Status,
        rule = e.Rule,
        signal = e.Signal,
        severity = e.Severity,
        source = e.Source,
        summary = e.Summary,
        since = e.Since,
        at = e.At,
    }, Json);

    /// <summary>The signature header value for a body: <c>sha256=</c> and the lower-case hex HMAC-SHA256.</summary>
    public static string Signature(string secret, ReadOnlySpan<byte> body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    private async Task DeliverLoopAsync()
    {
        try
        {
            await foreach (var e in _queue.Reader.ReadAllAsync(_stopping.Token))
            {
                await DeliverAsync(e, _stopping.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down: what is queued is lost with the process, as the log says at dispose.
        }
    }

    private async Task DeliverAsync(AlertEvent e, CancellationToken ct)
    {
        var body = Body(e);
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 1; ; attempt++)
        {
            string problem;
            try
            {
                // The time limit of an attempt is real elapsed time on the network, whatever clock drives the backoff.
                using var timeout = new CancellationTokenSource(_definition.Timeout);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
                using var request = new HttpRequestMessage(HttpMethod.Post, _definition.Url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Add("X-Usine-Event", e.Status);
                request.Headers.Add("X-Usine-Delivery", $"{e.Id}-{attempt}");
                if (_definition.Secret is { } secret)
                {
                    request.Headers.Add("X-Usine-Signature", Signature(secret, body));
                }

                using var response = await _http.SendAsync(request, linked.Token);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref _delivered);
                    return;
                }

                problem = $"HTTP {(int)response.StatusCode}";
                if (!Retryable(response.StatusCode))
                {
                    Give(e, attempt, problem + " (not retried)");
                    return;
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                problem = $"no answer within {_definition.Timeout.TotalSeconds:0.#}s";
            }
            catch (HttpRequestException ex)
            {
                problem = ex.Message;
            }

            if (attempt >= _definition.Attempts)
            {
                Give(e, attempt, problem);
                return;
            }

            _logger.WebhookRetry(Name, e.Rule, e.Status, attempt, problem, delay);

            // The wait starts before the retry is counted, so whoever sees the count can move the clock past it.
            var wait = Task.Delay(delay, _time, ct);
            Interlocked.Increment(ref _retries);
            await wait;
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMinutes(5).Ticks));
        }
    }

    private void Give(AlertEvent e, int attempts, string problem)
    {
        Interlocked.Increment(ref _failed);
        _logger.WebhookFailed(Name, e.Rule, e.Status, attempts, problem);
    }

    private static bool Retryable(HttpStatusCode code) =>
        code is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)code >= 500;

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stopping.CancelAsync();
        await _loop;
        _stopping.Dispose();
        _http.Dispose();
    }
}
