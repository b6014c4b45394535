namespace Usine.Transport.Nats;

/// <summary>
/// How Usine uses NATS JetStream in cluster mode (section <c>Usine:Nats</c>): where the servers are, the stream
/// that keeps every raw message, and the durable consumer the processors share.
/// </summary>
public sealed record NatsTransportOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Usine:Nats";

    /// <summary>The servers, comma-separated (<c>nats://10.0.0.1:4222,nats://10.0.0.2:4222</c>); the client fails over between them.</summary>
    public string Urls { get; init; } = "";

    /// <summary>The JetStream stream of raw messages.</summary>
    public string Stream { get; init; } = "USINE_RAW";

    /// <summary>The first token of the raw messages' subjects: <c>{prefix}.{plant}.{source}.{stream key}</c>.</summary>
    public string SubjectPrefix { get; init; } = "usine.raw";

    /// <summary>Copies of each raw message JetStream keeps (1, 3 or 5); 3 in production, across failure domains.</summary>
    public int Replicas { get; init; } = 1;

    /// <summary>How long the stream keeps raw messages: replay by time range reads them back within it.</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long JetStream remembers message ids to drop a message sent again: a capture role that restarts resends
    /// what it had not seen acknowledged, within this window.
    /// </summary>
    public TimeSpan DuplicateWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The durable consumer the processors share.</summary>
    public string Consumer { get; init; } = "usine-process";

    /// <summary>Deliveries of a message before a processor gives it up and stores it as a dead letter.</summary>
    public int MaxDeliver { get; init; } = 5;

    /// <summary>How long a processor may hold a message before JetStream hands it to another (a processor that died).</summary>
    public TimeSpan AckWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts a processor makes at committing a batch before it hands the batch back to JetStream.</summary>
    public int CommitAttempts { get; init; } = 5;

    /// <summary>Messages a processor takes from the consumer at a time.</summary>
    public int FetchSize { get; init; } = 2000;

    /// <summary>The endpoints as a list, or an error naming what to fix.</summary>
    public IReadOnlyList<string> ParseUrls()
    {
        var urls = Urls.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0)
        {
            throw new ArgumentException("no NATS server is given: set Usine:Nats:Urls (or --nats) to nats://HOST:PORT[,nats://HOST:PORT...]");
        }

        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("nats" or "tls" or "ws" or "wss"))
            {
                throw new ArgumentException($"'{url}' is not a NATS server URL: write nats://HOST:PORT (or tls://HOST:PORT)");
            }
        }

        return urls;
    }

    /// <summary>Checks the options, saying which one to fix.</summary>
    public void Validate()
    {
        _ = ParseUrls();
        if (Replicas is < 1 or > 5)
        {
            throw new ArgumentException($"Usine:Nats:Replicas is {Replicas}: JetStream keeps 1 to 5 copies (3 in production)");
        }

        if (MaxDeliver < 2)
        {
            throw new ArgumentException($"Usine:Nats:MaxDeliver is {MaxDeliver}: a message needs at least 2 deliveries (one to try, one to give up)");
        }

        if (CommitAttempts < 1)
        {
            throw new ArgumentException($"Usine:Nats:CommitAttempts is {CommitAttempts}: a batch is tried at least once");
        }

        if (FetchSize < 1)
        {
            throw new ArgumentException($"Usine:Nats:FetchSize is {FetchSize}: take at least 1 message at a time");
        }

        if (AckWait < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentException($"Usine:Nats:AckWait is {AckWait}: give a processor at least 1 s to commit a batch");
        }
    }
}
