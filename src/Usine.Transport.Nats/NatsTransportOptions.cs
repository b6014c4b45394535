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

    /// <summary>
    /// How much the stream may hold on disk, in bytes; 0: no limit but the server's <c>max_file_store</c>. At a
    /// plant's edge server this is the buffer for a lost link to the centre.
    /// </summary>
    public long MaxBytes { get; init; }

    /// <summary>
    /// What the stream does once full (<see cref="MaxBytes"/>, <see cref="MaxAge"/> or the server's limit):
    /// <c>old</c> drops its oldest messages, <c>new</c> refuses new ones — then capture stops acknowledging its
    /// peers, which keep their data (an MQTT broker's queue), and nothing already stored is lost. <c>new</c> at
    /// the edge; <c>old</c> at the centre, where the Parquet archive keeps what ages out.
    /// </summary>
    public string Discard { get; init; } = "old";

    /// <summary>
    /// The JetStream domains of the plants' edge servers (leaf nodes) whose streams the central stream sources
    /// from, comma-separated (<c>flins,douai</c>): each plant's capture role writes to its own edge server, which
    /// buffers while the link to the centre is down and forwards when it returns.
    /// </summary>
    public string EdgeDomains { get; init; } = "";

    /// <summary>The stream's name on the edge servers (the <see cref="Stream"/> a plant's capture role is given).</summary>
    public string EdgeStream { get; init; } = "USINE_EDGE";

    /// <summary>The edge domains as a list.</summary>
    public IReadOnlyList<string> ParseEdgeDomains() => EdgeDomains.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

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

        if (Discard is not ("old" or "new"))
        {
            throw new ArgumentException($"Usine:Nats:Discard is '{Discard}': write old (drop the oldest messages when full) or new (refuse new ones, at the edge)");
        }

        if (MaxBytes < 0)
        {
            throw new ArgumentException($"Usine:Nats:MaxBytes is {MaxBytes}: write a size in bytes, or 0 for the server's limit");
        }

        foreach (var domain in ParseEdgeDomains())
        {
            if (!domain.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                throw new ArgumentException($"Usine:Nats:EdgeDomains: '{domain}' is not a JetStream domain name (letters, digits, '-' and '_')");
            }
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
