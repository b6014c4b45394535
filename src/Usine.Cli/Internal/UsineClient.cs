using System.Net;
using System.Net.Http.Json;
using System.Text;

namespace Usine.Cli.Internal;

/// <summary>A typed answer of the API, and the same answer as the server sent it.</summary>
internal sealed record ApiAnswer<T>(T Value, JsonElement Json);

/// <summary>A typed client of the Usine HTTP API (docs/api.md).</summary>
internal sealed partial class UsineClient : IDisposable
{
    /// <summary>The address used when neither --server nor USINE_SERVER is given.</summary>
    public const string DefaultServer = "http://127.0.0.1:5080";

    /// <summary>
    /// Deadline for ordinary requests. Imports have none: a multi-gigabyte upload legitimately takes long,
    /// and the user can stop it with Ctrl+C.
    /// </summary>
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromMinutes(5);

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HttpClient http;

    /// <param name="server">The server's address.</param>
    /// <param name="actor">Who runs the tool, for the audit log.</param>
    /// <param name="credential">An API key or a bearer token (USINE_API_KEY), sent as <c>Authorization: Bearer</c>.</param>
    public UsineClient(Uri server, string? actor = null, string? credential = null)
    {
        Server = server;
        http = new HttpClient { BaseAddress = server, Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("usine-cli");
        if (!string.IsNullOrWhiteSpace(credential))
        {
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", credential.Trim());
        }

        if (!string.IsNullOrWhiteSpace(actor))
        {
            // Header values are ASCII; a name with other letters travels percent-encoded and the server decodes it.
            http.DefaultRequestHeaders.TryAddWithoutValidation("X-Usine-Actor", actor.All(char.IsAscii) ? actor : Uri.EscapeDataString(actor));
        }
    }

    public Uri Server { get; }

    /// <summary>Resolves --server, then USINE_SERVER, then the default; anything but an http(s) URL is bad usage.</summary>
    public static Uri ResolveServer(string? option, Func<string, string?> environment)
    {
        var text = !string.IsNullOrWhiteSpace(option) ? option
            : environment("USINE_SERVER") is { Length: > 0 } fromEnvironment ? fromEnvironment
            : DefaultServer;
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw CliException.Usage($"'{text}' is not a server address; give one like {DefaultServer}");
        }

        // Without the trailing slash a base address with a path (http://host/usine) would lose its last segment.
        return uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
    }

    public Task<ApiAnswer<StatusInfo>> GetStatusAsync(CancellationToken cancellationToken) =>
        GetAnswerAsync<StatusInfo>("api/status", cancellationToken);

    public Task<SqlResult> QueryAsync(string sql, int? limit, CancellationToken cancellationToken) =>
        SendAsync<SqlResult>(HttpMethod.Post, "api/sql", JsonContent.Create(new SqlRequest(sql, limit), options: Json), cancellationToken);

    public Task<ApiAnswer<IReadOnlyList<ModelSummary>>> GetModelsAsync(CancellationToken cancellationToken) =>
        GetAnswerAsync<IReadOnlyList<ModelSummary>>("api/models", cancellationToken);

    public Task<ApiAnswer<ModelDetail>> GetModelAsync(string name, int? version, CancellationToken cancellationToken) =>
        GetAnswerAsync<ModelDetail>(Path("api/models", name) + Query(("version", version?.ToString(CultureInfo.InvariantCulture))), cancellationToken);

    public Task<ApiAnswer<IReadOnlyList<SourceInfo>>> GetSourcesAsync(CancellationToken cancellationToken) =>
        GetAnswerAsync<IReadOnlyList<SourceInfo>>("api/sources", cancellationToken);

    public Task<ApiAnswer<SourceInfo>> GetSourceAsync(string id, CancellationToken cancellationToken) =>
        GetAnswerAsync<SourceInfo>(Path("api/sources", id), cancellationToken);

    public Task<ApiAnswer<AvatarDetail>> GetAvatarAsync(string id, string? type, CancellationToken cancellationToken) =>
        GetAnswerAsync<AvatarDetail>(Path("api/avatars", id) + Query(("type", type)), cancellationToken);

    public Task<ApiAnswer<DeadLetter>> GetDeadLetterAsync(string id, CancellationToken cancellationToken) =>
        GetAnswerAsync<DeadLetter>(Path("api/deadletters", id), cancellationToken);

    public Task<ApiAnswer<IReadOnlyList<DeadLetter>>> GetDeadLettersAsync(DeadLetterFilter filter, int? limit, CancellationToken cancellationToken) =>
        GetAnswerAsync<IReadOnlyList<DeadLetter>>("api/deadletters" + FilterQuery(filter, limit), cancellationToken);

    public Task<ApiAnswer<IReadOnlyList<DeadLetterGroup>>> GetDeadLetterGroupsAsync(DeadLetterFilter filter, int? limit, CancellationToken cancellationToken) =>
        GetAnswerAsync<IReadOnlyList<DeadLetterGroup>>("api/deadletters/groups" + FilterQuery(filter, limit), cancellationToken);

    public Task<DeadLetterReplay> ReplayDeadLetterAsync(string id, bool force, CancellationToken cancellationToken) =>
        SendAsync<DeadLetterReplay>(HttpMethod.Post, Path("api/deadletters", id, "replay"), JsonContent.Create(new { force }, options: Json), cancellationToken, Timeout.InfiniteTimeSpan);

    public Task<DeadLettersReplay> ReplayDeadLettersAsync(DeadLetterFilter filter, bool force, CancellationToken cancellationToken) =>
        SendAsync<DeadLettersReplay>(HttpMethod.Post, "api/deadletters/replay", JsonContent.Create(new { filter, force }, options: Json), cancellationToken, Timeout.InfiniteTimeSpan);

    /// <summary>Replaces a dead letter's payload; with <paramref name="replay"/> the answer is the replay's, else the edit's.</summary>
    public Task<DeadLetterReplay> EditDeadLetterAsync(string id, string? payload, string? payloadBase64, bool replay, bool force, CancellationToken cancellationToken) =>
        SendAsync<DeadLetterReplay>(HttpMethod.Post, Path("api/deadletters", id, "edit"),
            JsonContent.Create(new EditRequest(payload, payloadBase64, replay, force), options: Json), cancellationToken, Timeout.InfiniteTimeSpan);

    public Task<DiscardResult> DiscardDeadLetterAsync(string id, string reason, CancellationToken cancellationToken) =>
        SendAsync<DiscardResult>(HttpMethod.Post, Path("api/deadletters", id, "discard"), JsonContent.Create(new { reason }, options: Json), cancellationToken);

    public Task<DiscardResult> DiscardDeadLettersAsync(DeadLetterFilter filter, string reason, CancellationToken cancellationToken) =>
        SendAsync<DiscardResult>(HttpMethod.Post, "api/deadletters/discard", JsonContent.Create(new { filter, reason }, options: Json), cancellationToken);

    public Task<RangeReplay> ReplayRangeAsync(string source, string from, string to, bool fromArchive, CancellationToken cancellationToken) =>
        SendAsync<RangeReplay>(HttpMethod.Post, "api/replay", JsonContent.Create(new { source, from, to, fromArchive }, options: Json), cancellationToken, Timeout.InfiniteTimeSpan);

    public Task<ApiAnswer<IReadOnlyList<AuditEntry>>> GetAuditAsync(string? action, string? since, int? limit, CancellationToken cancellationToken) =>
        GetAnswerAsync<IReadOnlyList<AuditEntry>>(
            "api/audit" + Query(("action", action), ("since", since), ("limit", limit?.ToString(CultureInfo.InvariantCulture))), cancellationToken);

    private static string FilterQuery(DeadLetterFilter f, int? limit) => Query(
        ("source", f.Source), ("stage", f.Stage), ("status", f.Status), ("reason", f.Reason), ("rule", f.Rule), ("from", f.From), ("to", f.To),
        ("limit", limit?.ToString(CultureInfo.InvariantCulture)));

    /// <summary>Archiving a day of a large plant takes minutes; the run is bounded, so it gets a deadline of its own.</summary>
    /// <param name="includeToday">Archive today's messages until now too, not only the days that ended.</param>
    public Task<ArchiveRun> RunArchiveAsync(bool includeToday, CancellationToken cancellationToken) =>
        SendAsync<ArchiveRun>(HttpMethod.Post, "api/archive/run" + Query(("includeToday", includeToday ? "true" : null)), content: null, cancellationToken, timeout: TimeSpan.FromHours(2));

    public Task<ApiAnswer<ArchiveSummary>> GetArchiveAsync(string? source, CancellationToken cancellationToken) =>
        GetAnswerAsync<ArchiveSummary>("api/archive" + Query(("source", source)), cancellationToken);

    public Task<ArchiveVerification> VerifyArchiveAsync(CancellationToken cancellationToken) =>
        SendAsync<ArchiveVerification>(HttpMethod.Get, "api/archive/verify", content: null, cancellationToken, timeout: TimeSpan.FromHours(2));

    public Task<ApiAnswer<IReadOnlyList<JobInfo>>> GetJobsAsync(string? kind, string? state, string? source, CancellationToken cancellationToken) =>
        GetAnswerAsync<IReadOnlyList<JobInfo>>("api/jobs" + Query(("kind", kind), ("state", state), ("source", source)), cancellationToken);

    public Task<ApiAnswer<JobDetail>> GetJobAsync(string id, CancellationToken cancellationToken) =>
        GetAnswerAsync<JobDetail>(Path("api/jobs", id), cancellationToken);

    /// <summary>Posts a file's bytes as they are; <paramref name="content"/> streams them.</summary>
    public Task<ImportResult> ImportAsync(
        string source, string name, string sha256, string? format, HttpContent content, CancellationToken cancellationToken, long? expectedCount = null) =>
        SendAsync<ImportResult>(
            HttpMethod.Post,
            Path("api/sources", source, "import") + Query(("name", name), ("sha256", sha256), ("format", format), ("expectedCount", expectedCount?.ToString(CultureInfo.InvariantCulture))),
            content,
            cancellationToken,
            timeout: Timeout.InfiniteTimeSpan);

    /// <summary>Adds a model or a model version from its YAML or JSON definition (admin).</summary>
    public Task<ModelDetail> AddModelAsync(string definition, CancellationToken cancellationToken) =>
        SendAsync<ModelDetail>(HttpMethod.Post, "api/models", new StringContent(definition, Encoding.UTF8, "application/yaml"), cancellationToken);

    /// <summary>Creates or replaces a source from its YAML or JSON definition (admin).</summary>
    public Task<SourceInfo> PutSourceAsync(string id, string definition, CancellationToken cancellationToken) =>
        SendAsync<SourceInfo>(HttpMethod.Put, Path("api/sources", id), new StringContent(definition, Encoding.UTF8, "application/yaml"), cancellationToken);

    /// <summary>Removes a source created through the API (admin).</summary>
    public Task<SourceRemoved> RemoveSourceAsync(string id, CancellationToken cancellationToken) =>
        SendAsync<SourceRemoved>(HttpMethod.Delete, Path("api/sources", id), content: null, cancellationToken);

    public void Dispose() => http.Dispose();

    private Task<T> GetAsync<T>(string path, CancellationToken cancellationToken) =>
        SendAsync<T>(HttpMethod.Get, path, content: null, cancellationToken);

    /// <summary>A GET whose answer is also kept as the server sent it, for --format csv and json.</summary>
    private async Task<ApiAnswer<T>> GetAnswerAsync<T>(string path, CancellationToken cancellationToken)
    {
        var json = await GetAsync<JsonElement>(path, cancellationToken);
        try
        {
            var value = json.Deserialize<T>(Json);
            return value is null
                ? throw CliException.Failure($"the server answered GET /{path} with null")
                : new ApiAnswer<T>(value, json);
        }
        catch (JsonException e)
        {
            throw CliException.Failure($"the server's answer to GET /{path} is not what this tool expects: {e.Message}");
        }
    }

    private async Task<T> SendAsync<T>(
        HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout ?? RequestTimeout);
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Accept.ParseAdd("application/json");
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            if (!response.IsSuccessStatusCode)
            {
                throw await ErrorFromAsync(method, path, response, deadline.Token);
            }

            var body = await response.Content.ReadFromJsonAsync<T>(Json, deadline.Token);
            return body ?? throw CliException.Failure($"the server answered {method} /{path} with an empty body");
        }
        catch (HttpRequestException e) when (e.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
        {
            throw CliException.Failure($"cannot reach the Usine server at {Display(Server)} (is `usine serve` running?)");
        }
        catch (HttpRequestException e)
        {
            throw CliException.Failure($"the exchange with the Usine server at {Display(Server)} failed: {e.Message}");
        }
        catch (JsonException e)
        {
            throw CliException.Failure($"the server's answer to {method} /{path} is not what this tool expects: {e.Message}");
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw CliException.Failure($"the Usine server at {Display(Server)} did not answer {method} /{path} within {(timeout ?? RequestTimeout).TotalMinutes:0} minutes");
        }
    }

    private static async Task<UsineApiException> ErrorFromAsync(
        HttpMethod method, string path, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        string? message = null;
        try
        {
            // The contract is {"error": "..."}; ASP.NET problem details are read too, for errors raised
            // before the API's own handlers run.
            var error = JsonSerializer.Deserialize<ApiError>(text, Json);
            message = error?.Error ?? error?.Detail ?? error?.Title;
        }
        catch (JsonException)
        {
        }

        message ??= status == (int)HttpStatusCode.NotFound
            ? $"not found: {method} /{path}"
            : $"the server answered {status} {response.ReasonPhrase} to {method} /{path}";
        return new UsineApiException(status, OneLine(message));
    }

    private static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim();

    private static string Display(Uri server) => server.AbsoluteUri.TrimEnd('/');

    private static string Path(string prefix, params string[] segments)
    {
        var builder = new StringBuilder(prefix);
        foreach (var segment in segments)
        {
            builder.Append('/').Append(Uri.EscapeDataString(segment));
        }

        return builder.ToString();
    }

    private static string Query(params (string Name, string? Value)[] parameters)
    {
        var builder = new StringBuilder();
        foreach (var (name, value) in parameters)
        {
            if (value is null)
            {
                continue;
            }

            builder.Append(builder.Length == 0 ? '?' : '&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
        }

        return builder.ToString();
    }
}
