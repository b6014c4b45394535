using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using System.Text.Json;
using Usine.Transport.Nats;

namespace Usine.Server;

/// <summary>Where the sources of this process hand their batches: the engine, or JetStream on a capture role of a cluster.</summary>
public sealed record SourceSink(IIngestor Ingestor);

/// <summary>The roles a process of a cluster plays (<c>--role capture,process,api</c>); one process of the embedded default plays them all.</summary>
[Flags]
public enum UsineRoles
{
    None = 0,

    /// <summary>Runs the sources' connectors and HTTP push, and hands what they receive to JetStream.</summary>
    Capture = 1,

    /// <summary>Takes raw messages from JetStream, runs the pipeline and commits to the store.</summary>
    Process = 2,

    /// <summary>Serves the HTTP API, SQL, exports and the web UI from the store.</summary>
    Api = 4,

    All = Capture | Process | Api,
}

/// <summary>Reads the roles and composes the cluster's transport: NATS JetStream between capture and process roles.</summary>
public static class UsineCluster
{
    /// <summary>The roles in <paramref name="text"/> (<c>all</c>, or names joined by commas), or an error naming the valid ones.</summary>
    public static UsineRoles ParseRoles(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return UsineRoles.All;
        }

        var roles = UsineRoles.None;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            roles |= part.ToLowerInvariant() switch
            {
                "all" => UsineRoles.All,
                "capture" => UsineRoles.Capture,
                "process" => UsineRoles.Process,
                "api" => UsineRoles.Api,
                _ => throw new ArgumentException($"Usine:Role: '{part}' is not a role; write capture, process, api or all, several joined by commas (--role capture,api)"),
            };
        }

        return roles == UsineRoles.None ? throw new ArgumentException("Usine:Role is empty; write capture, process, api or all") : roles;
    }

    /// <summary>This process among the cluster's: host, process id and a random part, in the characters a key may have.</summary>
    public static string MemberId() => $"{UsineCluster.KeyToken(Environment.MachineName)}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    private static string KeyToken(string value) => new([.. value.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_')]);

    /// <summary>The roles as they are written: <c>capture,process,api</c>.</summary>
    public static string Describe(UsineRoles roles) =>
        string.Join(",", new[] { (UsineRoles.Capture, "capture"), (UsineRoles.Process, "process"), (UsineRoles.Api, "api") }.Where(r => roles.HasFlag(r.Item1)).Select(r => r.Item2));

    /// <summary>
    /// Registers the transport when <c>Usine:Nats:Urls</c> is set: sources hand their batches to JetStream (a
    /// capture role), and a process role runs a processor on the shared consumer. Without NATS a process plays
    /// every role itself, as the embedded default does; a role other than all then is an error saying so.
    /// </summary>
    public static IServiceCollection AddUsineCluster(this IServiceCollection services, IConfiguration configuration, UsineRoles roles)
    {
        var nats = UsineConfiguration.Bind(configuration, NatsTransportOptions.Section, new NatsTransportOptions(), strict: true);
        services.AddSingleton(new ClusterInfo(roles, nats.Urls.Length > 0 ? nats : null));
        if (nats.Urls.Length == 0)
        {
            if (roles != UsineRoles.All)
            {
                throw new ArgumentException($"Usine:Role is {Describe(roles)}, which needs NATS JetStream between the roles: set --nats nats://HOST:4222[,...] (Usine:Nats:Urls), or run every role in one process (--role all)");
            }

            return services;
        }

        try
        {
            nats.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException(ex.Message.StartsWith(NatsTransportOptions.Section, StringComparison.Ordinal) ? ex.Message : $"{NatsTransportOptions.Section}: {ex.Message}", ex);
        }

        services.AddSingleton(nats);
        services.AddSingleton(sp => new NatsConnection(nats.Secure(new NatsOpts
        {
            Url = string.Join(",", nats.ParseUrls()),
            Name = $"usine-{Describe(roles).Replace(',', '-')}-{Environment.MachineName}",
            LoggerFactory = sp.GetRequiredService<ILoggerFactory>(),
            MaxReconnectRetry = -1,
        })));
        services.AddHostedService<NatsConnectionCheck>();
        services.AddSingleton<INatsJSContext>(sp => new NatsJSContext(sp.GetRequiredService<NatsConnection>()));
        services.AddSingleton(sp => new RawStream(sp.GetRequiredService<INatsJSContext>(), nats));

        // A replay by time range reads the raw messages back from the stream while it holds them.
        services.AddSingleton<IRawMessageLog>(sp => new JetStreamRawLog(sp.GetRequiredService<RawStream>()));
        services.AddSingleton(sp => new JetStreamPublisher(sp.GetRequiredService<RawStream>(), sp.GetRequiredService<UsineDefinitions>(), sp.GetRequiredService<ILogger<JetStreamPublisher>>()));
        services.Replace(ServiceDescriptor.Singleton(sp => new SourceSink(sp.GetRequiredService<JetStreamPublisher>())));
        services.AddSingleton<ClusterMonitor>();
        services.AddHostedService(sp => sp.GetRequiredService<ClusterMonitor>());
        if (roles.HasFlag(UsineRoles.Process))
        {
            services.AddSingleton(sp => new JetStreamProcessor(sp.GetRequiredService<RawStream>(), sp.GetRequiredService<IngestEngine>(), sp.GetRequiredService<ILogger<JetStreamProcessor>>(),
                sp.GetRequiredService<TimeProvider>()));
            services.AddHostedService<ProcessorHost>();
        }

        return services;
    }
}

/// <summary>What the status says about the cluster: this process's roles and the transport, when there is one.</summary>
public sealed record ClusterInfo(UsineRoles Roles, NatsTransportOptions? Nats);

/// <summary>
/// Connects to NATS once at start-up. Servers that refuse this process (wrong credentials, a certificate they do
/// not trust) stop the start with a message saying what to check: that does not mend by waiting. Servers that do
/// not answer are only warned about: the connection keeps trying, and the roles wait for it.
/// </summary>
internal sealed partial class NatsConnectionCheck(NatsConnection connection, NatsTransportOptions options, ILogger<NatsConnectionCheck> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await connection.ConnectAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        }
        catch (Exception ex) when (Refusal(ex) is { } why)
        {
            var auth = options.User.Length > 0 ? "Usine:Nats:User and Password"
                : options.Token.Length > 0 ? "Usine:Nats:Token"
                : options.CredentialsFile.Length > 0 ? "Usine:Nats:CredentialsFile"
                : options.NkeySeedFile.Length > 0 ? "Usine:Nats:NkeySeedFile"
                : "the credentials (Usine:Nats:User and Password, Token, CredentialsFile or NkeySeedFile; none is set)";
            throw new ArgumentException(why is "tls"
                ? $"{NatsTransportOptions.Section}: the TLS handshake with {options.ShownUrls} failed ({Innermost(ex).Message}): check Usine:Nats:TlsCaFile (the authority that signed the servers' certificates), TlsCertFile and TlsKeyFile"
                : $"{NatsTransportOptions.Section}: the NATS servers at {options.ShownUrls} refused this process ({Innermost(ex).Message}): check {auth}", ex);
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException)
        {
            LogUnreachable(options.ShownUrls, Innermost(ex).Message);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary><c>auth</c> or <c>tls</c> when the servers answered and refused; null when they could not be reached.</summary>
    private static string? Refusal(Exception ex)
    {
        var chain = new List<Exception>();
        for (var e = (Exception?)ex; e is not null; e = e.InnerException)
        {
            chain.Add(e);
        }

        // A certificate refused says "authentication" too (AuthenticationException): TLS is looked for first.
        return chain.Any(e => e is System.Security.Authentication.AuthenticationException) ? "tls"
            : chain.Any(e => e.Message.Contains("authorization", StringComparison.OrdinalIgnoreCase) || e.Message.Contains("authentication", StringComparison.OrdinalIgnoreCase)) ? "auth"
            : null;
    }

    private static Exception Innermost(Exception ex) => ex.InnerException is { } inner ? Innermost(inner) : ex;

    [LoggerMessage(EventId = 3121, Level = LogLevel.Warning, Message = "the NATS servers at {Urls} do not answer yet ({Reason}); the roles wait for them")]
    private partial void LogUnreachable(string urls, string reason);
}

/// <summary>Runs the processor of a process role after the engine has started, and stops it before.</summary>
internal sealed class ProcessorHost(JetStreamProcessor processor) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => processor.RunAsync(stoppingToken);
}

/// <summary>
/// Watches the transport every few seconds for the status page, the metrics and the alerts: the stream's size and
/// the processors' lag (messages not yet delivered, and delivered but not acknowledged), with this process's counts.
/// </summary>
public sealed partial class ClusterMonitor(RawStream stream, ClusterInfo info, IServiceProvider services, UsineHttpOptions http, ILogger<ClusterMonitor> logger, TimeProvider time) : BackgroundService
{
    private readonly string _member = UsineCluster.MemberId();
    private readonly DateTime _startedAt = time.GetUtcNow().UtcDateTime;
    private INatsKVStore? _members;
    private bool _looked;

    /// <summary>How often the transport is looked at.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    /// <summary>The last look, or null before the first one answered.</summary>
    public ClusterSnapshot? Last { get; private set; }

    /// <summary>Why the last look failed, or null.</summary>
    public string? Error { get; private set; }

    /// <summary>Every process of the cluster seen in the last half minute, as each says itself: its roles and counts.</summary>
    public IReadOnlyList<JsonElement> Members { get; private set; } = [];

    /// <summary>The cluster as the status shows it.</summary>
    public object Describe()
    {
        var processor = services.GetService<JetStreamProcessor>();
        var publisher = services.GetService<JetStreamPublisher>();
        return new
        {
            roles = UsineCluster.Describe(info.Roles),
            transport = "nats",
            stream = stream.Options.Stream,
            consumer = stream.Options.Consumer,
            replicas = stream.Options.Replicas,
            messages = Last?.Messages,
            bytes = Last?.Bytes,
            lag = Last?.Pending,
            unacknowledged = Last?.Unacknowledged,
            lookedAt = Last?.At,
            error = Error,
            published = publisher?.Published,
            publishedAgain = publisher?.Duplicates,
            processed = processor?.Processed,
            givenUp = processor?.GivenUp,
            processorError = processor?.LastError?.Message,
            members = Members,
        };
    }

    /// <summary>Says who this process is in the members bucket (entries older than 30 s expire), then reads everyone's.</summary>
    private async Task AnnounceAsync(CancellationToken ct)
    {
        if (_members is null)
        {
            var kv = new NatsKVContext(stream.JetStream);
            _members = await kv.CreateOrUpdateStoreAsync(new NatsKVConfig(stream.Options.Stream + "-members")
            {
                History = 1,
                MaxAge = TimeSpan.FromSeconds(30),
                NumberOfReplicas = stream.Options.Replicas,
                Storage = NatsKVStorageType.Memory,
            }, ct);
        }

        var processor = services.GetService<JetStreamProcessor>();
        var publisher = services.GetService<JetStreamPublisher>();
        var me = JsonSerializer.SerializeToUtf8Bytes(new
        {
            id = _member,
            roles = UsineCluster.Describe(info.Roles),
            urls = http.Urls,
            host = Environment.MachineName,
            pid = Environment.ProcessId,
            startedAt = _startedAt,
            seenAt = time.GetUtcNow().UtcDateTime,
            published = publisher?.Published,
            processed = processor?.Processed,
            givenUp = processor?.GivenUp,
            error = processor?.LastError?.Message,
        });
        await _members.PutAsync(_member, me, cancellationToken: ct);
        var members = new List<JsonElement>();
        await foreach (var key in _members.GetKeysAsync(cancellationToken: ct))
        {
            try
            {
                var entry = await _members.GetEntryAsync<byte[]>(key, cancellationToken: ct);
                if (entry.Value is { Length: > 0 } value)
                {
                    members.Add(JsonDocument.Parse(value).RootElement.Clone());
                }
            }
            catch (NatsKVKeyNotFoundException)
            {
                // Expired between the list and the read: gone.
            }
            catch (NatsKVKeyDeletedException)
            {
                // Said goodbye.
            }
        }

        Members = [.. members.OrderBy(m => m.GetProperty("id").GetString(), StringComparer.Ordinal)];
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_members is not null)
        {
            try
            {
                await _members.DeleteAsync(_member, cancellationToken: cancellationToken);
            }
            catch (Exception ex) when (ex is NatsException or OperationCanceledException)
            {
                // It expires by itself.
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // The stream is made (or brought to the settings) once; after that it is only looked at.
                var s = _looked ? await stream.JetStream.GetStreamAsync(stream.Options.Stream, cancellationToken: stoppingToken) : await stream.EnsureStreamAsync(stoppingToken);
                _looked = true;
                var (pending, unacknowledged) = await stream.LagAsync(stoppingToken);
                Last = new ClusterSnapshot(time.GetUtcNow().UtcDateTime, (long)s.Info.State.Messages, (long)s.Info.State.Bytes, (long)pending, unacknowledged);
                await AnnounceAsync(stoppingToken);
                Error = null;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                if (Error != ex.Message)
                {
                    LogLookFailed(ex);
                }

                Error = ex.Message;
            }

            try
            {
                await Task.Delay(Interval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(EventId = 3120, Level = LogLevel.Warning, Message = "looking at the JetStream stream and its consumer failed")]
    private partial void LogLookFailed(Exception ex);
}

/// <summary>One look at the transport.</summary>
public sealed record ClusterSnapshot(DateTime At, long Messages, long Bytes, long Pending, long Unacknowledged);
