using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using NATS.Client.Core;

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

    /// <summary>
    /// How far apart a message's receive time (at the capture role) and its time in the stream (at the NATS server)
    /// may be: clocks that differ, and the wait before JetStream stored it. A replay by time range reads the stream
    /// from its start less this to its end plus this, and keeps the messages received in the range. Default 5 minutes;
    /// with edge domains, as long as the plants' links may be down.
    /// </summary>
    public TimeSpan ReplaySlack { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The user name, with <see cref="Password"/>, when the servers authenticate by user and password.</summary>
    public string User { get; init; } = "";

    /// <summary>The password of <see cref="User"/>; from the environment (<c>Usine__Nats__Password</c>) rather than a file.</summary>
    public string Password { get; init; } = "";

    /// <summary>The token, when the servers authenticate by token.</summary>
    public string Token { get; init; } = "";

    /// <summary>A credentials file (<c>.creds</c>: a user JWT and its NKey seed), when the servers run in operator mode.</summary>
    public string CredentialsFile { get; init; } = "";

    /// <summary>A file holding an NKey user seed (<c>SU...</c>), when the servers authenticate by NKey.</summary>
    public string NkeySeedFile { get; init; } = "";

    /// <summary>A PEM file of the certificate authorities to trust for the servers' certificates; default: the system's.</summary>
    public string TlsCaFile { get; init; } = "";

    /// <summary>The client certificate (PEM), with <see cref="TlsKeyFile"/>, when the servers verify clients (mutual TLS).</summary>
    public string TlsCertFile { get; init; } = "";

    /// <summary>The private key (PEM) of <see cref="TlsCertFile"/>.</summary>
    public string TlsKeyFile { get; init; } = "";

    /// <summary>
    /// Refuse a server that does not speak TLS. Default false: TLS is used when the servers offer it, and required
    /// anyway with <c>tls://</c> URLs, a CA file or a client certificate.
    /// </summary>
    public bool TlsRequired { get; init; }

    /// <summary>
    /// <see cref="Urls"/> as messages and logs show them: a user and password written into a URL
    /// (<c>nats://user:pass@host:4222</c>) are shown as stars.
    /// </summary>
    public string ShownUrls => string.Join(',', Urls.Split(',', StringSplitOptions.TrimEntries).Select(url =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.UserInfo.Length > 0
            ? new UriBuilder(uri) { UserName = "***", Password = "" }.Uri.ToString().TrimEnd('/')
            : url));

    /// <summary>What the options print (a log line, a debugger): the secrets as stars.</summary>
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture, $"Urls = {ShownUrls}, Stream = {Stream}, SubjectPrefix = {SubjectPrefix}, Replicas = {Replicas}, Consumer = {Consumer}, User = {User}, ");
        builder.Append(CultureInfo.InvariantCulture, $"Password = {(Password.Length > 0 ? "***" : "")}, Token = {(Token.Length > 0 ? "***" : "")}, CredentialsFile = {CredentialsFile}, NkeySeedFile = {NkeySeedFile}, ");
        builder.Append(CultureInfo.InvariantCulture, $"TlsCaFile = {TlsCaFile}, TlsCertFile = {TlsCertFile}, TlsKeyFile = {TlsKeyFile}, TlsRequired = {TlsRequired}");
        return true;
    }

    /// <summary><paramref name="opts"/> with the authentication and TLS of these options.</summary>
    public NatsOpts Secure(NatsOpts opts) => opts with
    {
        AuthOpts = opts.AuthOpts with
        {
            Username = User.Length > 0 ? User : null,
            Password = Password.Length > 0 ? Password : null,
            Token = Token.Length > 0 ? Token : null,
            CredsFile = CredentialsFile.Length > 0 ? CredentialsFile : null,
            NKeyFile = NkeySeedFile.Length > 0 ? NkeySeedFile : null,
        },
        TlsOpts = opts.TlsOpts with
        {
            CaFile = TlsCaFile.Length > 0 ? TlsCaFile : null,
            CertFile = TlsCertFile.Length > 0 ? TlsCertFile : null,
            KeyFile = TlsKeyFile.Length > 0 ? TlsKeyFile : null,
            Mode = TlsRequired ? TlsMode.Require : TlsMode.Auto,
        },
    };

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

        if (ReplaySlack < TimeSpan.Zero)
        {
            throw new ArgumentException($"Usine:Nats:ReplaySlack is {ReplaySlack}: write a duration of 0 or more (00:05:00)");
        }

        ValidateSecurity();
    }

    private void ValidateSecurity()
    {
        if (User.Length > 0 != Password.Length > 0)
        {
            throw new ArgumentException(User.Length > 0
                ? "Usine:Nats:User is set without Usine:Nats:Password: set both (the password from the environment, Usine__Nats__Password)"
                : "Usine:Nats:Password is set without Usine:Nats:User: set both");
        }

        var ways = new[] { (User.Length > 0, "User and Password"), (Token.Length > 0, "Token"), (CredentialsFile.Length > 0, "CredentialsFile"), (NkeySeedFile.Length > 0, "NkeySeedFile") }
            .Where(w => w.Item1).Select(w => w.Item2).ToArray();
        if (ways.Length > 1)
        {
            throw new ArgumentException($"Usine:Nats: {string.Join(", ", ways)} are set: the servers take one way of authenticating, keep only the one they expect");
        }

        if (CredentialsFile.Length > 0)
        {
            var text = ReadFile("CredentialsFile", CredentialsFile);
            if (!text.Contains("BEGIN NATS USER JWT", StringComparison.Ordinal) || !text.Contains("BEGIN USER NKEY SEED", StringComparison.Ordinal))
            {
                throw new ArgumentException($"Usine:Nats:CredentialsFile: {CredentialsFile} is not a NATS credentials file (it needs a user JWT and an NKey seed block, as nsc writes them)");
            }
        }

        if (NkeySeedFile.Length > 0 && !ReadFile("NkeySeedFile", NkeySeedFile).Split('\n').Any(l => l.Trim().StartsWith("SU", StringComparison.Ordinal)))
        {
            throw new ArgumentException($"Usine:Nats:NkeySeedFile: {NkeySeedFile} holds no NKey user seed (a line starting with SU, as nk -gen user writes it)");
        }

        if (TlsCaFile.Length > 0)
        {
            _ = ReadFile("TlsCaFile", TlsCaFile);
            var authorities = new X509Certificate2Collection();
            try
            {
                authorities.ImportFromPemFile(TlsCaFile);
            }
            catch (CryptographicException ex)
            {
                throw new ArgumentException($"Usine:Nats:TlsCaFile: {TlsCaFile} cannot be read as PEM certificates: {ex.Message}", ex);
            }

            if (authorities.Count == 0)
            {
                throw new ArgumentException($"Usine:Nats:TlsCaFile: {TlsCaFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
            }
        }

        if (TlsCertFile.Length > 0 != TlsKeyFile.Length > 0)
        {
            throw new ArgumentException(TlsCertFile.Length > 0
                ? "Usine:Nats:TlsCertFile is set without Usine:Nats:TlsKeyFile: a client certificate needs its private key"
                : "Usine:Nats:TlsKeyFile is set without Usine:Nats:TlsCertFile: set the client certificate too");
        }

        if (TlsCertFile.Length > 0)
        {
            _ = ReadFile("TlsCertFile", TlsCertFile);
            _ = ReadFile("TlsKeyFile", TlsKeyFile);
            try
            {
                using var certificate = X509Certificate2.CreateFromPemFile(TlsCertFile, TlsKeyFile);
            }
            catch (CryptographicException ex)
            {
                throw new ArgumentException($"Usine:Nats:TlsCertFile and TlsKeyFile: {TlsCertFile} and {TlsKeyFile} are not a PEM certificate and its private key: {ex.Message}", ex);
            }
        }
    }

    private static string ReadFile(string key, string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var why = ex is FileNotFoundException or DirectoryNotFoundException ? "does not exist" : "cannot be read: " + ex.Message;
            throw new ArgumentException($"Usine:Nats:{key}: {Path.GetFullPath(path)} {why}", ex);
        }
    }
}
