using System.Text;
using Microsoft.AspNetCore.Http.Features;
using Usine.Pipeline;
using Usine.Connectors.Files;
using Usine.Connectors.Http;

namespace Usine.Server.Endpoints;

internal static class SourceEndpoints
{
    /// <param name="pending">The engine's <see cref="IngestEngine.OldestPending"/>, when the caller already has it (a page of many sources).</param>
    public static object Summary(TimeProvider time, IngestEngine engine, JobRegistry jobRegistry, DefinitionCatalog catalog, SourceHost sourceHost, IngestTracker tracker, SourceDefinition s, IReadOnlyDictionary<string, DateTime>? pending = null)
    {
        var stats = engine.Stats.GetValueOrDefault(s.Id);
        var (state, error) = sourceHost.SourceState(s);
        var now = time.GetUtcNow().UtcDateTime;
        var activity = tracker.For(s.Id);
        var job = jobRegistry.Get("stream:" + s.Id);
        pending ??= engine.OldestPending();
        return new
        {
            id = s.Id,
            plant = s.Plant.Text,
            kind = s.Kind,
            format = s.Format.ToString().ToLowerInvariant(),
            model = s.ModelVersion is { } v ? $"{s.Model}@{v}" : s.Model,
            topic = s.Settings.GetValueOrDefault("topic"),
            path = s.Settings.GetValueOrDefault("path"),
            expectEvery = s.ExpectEvery?.ToString(),
            description = s.Description,
            origin = s.Origin,
            definedBy = catalog.IsManaged(s.Origin) ? "api" : "configuration",
            state,
            lastError = error,
            received = stats?.Received ?? 0,
            stored = stats?.Stored ?? 0,
            duplicates = stats?.Duplicates ?? 0,
            deadLetters = stats?.DeadLetters ?? 0,
            bytes = stats?.Bytes ?? 0,
            lastSeen = stats?.LastSeen,
            job = job?.Id,
            jobState = job?.State.ToString().ToLowerInvariant(),
            jobReason = job?.History is [.., var last] ? last.Reason : null,
            ratePerSecond = Math.Round(activity?.RatePerSecond(now) ?? 0, 3),
            deadLettersLastHour = activity?.DeadLettersLastHour(now) ?? 0,
            lagSeconds = pending.TryGetValue(s.Id, out var oldest) ? Math.Round(Math.Max(0, (now - oldest).TotalSeconds), 3) : 0,
        };
    }

    /// <summary>The summary, and the rest of the definition: how fields are mapped and the connector's settings.</summary>
    private static System.Text.Json.Nodes.JsonObject Detail(TimeProvider time, IngestEngine engine, JobRegistry jobRegistry, DefinitionCatalog catalog, SourceHost sourceHost, IngestTracker tracker, SourceDefinition s)
    {
        var detail = System.Text.Json.JsonSerializer.SerializeToNode(Summary(time, engine, jobRegistry, catalog, sourceHost, tracker, s), System.Text.Json.JsonSerializerOptions.Web)!.AsObject();
        var map = new System.Text.Json.Nodes.JsonObject();
        foreach (var (field, mapping) in s.Map.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            map[field] = mapping.FromUnit is { } unit ? $"{mapping.Describe()} (in {unit})" : mapping.Describe();
        }

        var settings = new System.Text.Json.Nodes.JsonObject();
        foreach (var (key, value) in s.Settings.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            settings[key] = Shown(key, value);
        }

        detail["map"] = map;
        detail["settings"] = settings;
        return detail;
    }

    /// <summary>A setting as the API shows it: a password, secret or token as "***", a password inside a URL too.</summary>
    internal static string Shown(string key, string value)
    {
        string[] secret = ["password", "secret", "token"];
        if (secret.Any(word => key.Contains(word, StringComparison.OrdinalIgnoreCase)))
        {
            return "***";
        }

        return Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.UserInfo.Contains(':', StringComparison.Ordinal)
            ? value.Replace(uri.UserInfo, uri.UserInfo.Split(':')[0] + ":***", StringComparison.Ordinal)
            : value;
    }

    public static IEndpointRouteBuilder MapSources(this IEndpointRouteBuilder app)
    {
        var sources = app.MapGroup("/api/sources");
        // A plant-scoped caller sees the sources of its plants only. A source whose plant comes from each message
        // spans plants (its counters and errors mix them), so only a caller of every plant sees it, as its jobs and
        // alerts; so do sources whose stored definition no longer loads, whose plant is not known.
        sources.MapGet("/", (UsineDefinitions definitions, TimeProvider time, UsineOptions options, IngestEngine engine, JobRegistry jobRegistry, DefinitionCatalog catalog, SourceHost sourceHost, IngestTracker tracker, HttpContext http) =>
        {
            var scope = Explore.Plants(http);
            var pending = engine.OldestPending();
            var defined = definitions.Sources.Values.Where(s => PlantScopes.MayRead(scope, s)).Select(s => (s.Id, Summary: Summary(time, engine, jobRegistry, catalog, sourceHost, tracker, s, pending)));
            var setAside = scope is not null ? [] : sourceHost.FailedSources.Where(f => !definitions.Sources.ContainsKey(f.Key)).Select(f => (Id: f.Key, Summary: SetAsideSummary(options, jobRegistry, f.Key, f.Value)));
            return TypedResults.Ok(defined.Concat(setAside).OrderBy(s => s.Id, StringComparer.Ordinal).Select(s => s.Summary));
        }).WithSummary("Every source with its counters (within the caller's plants)");

        sources.MapGet("/{id}", IResult (string id, UsineDefinitions definitions, TimeProvider time, UsineOptions options, IngestEngine engine, JobRegistry jobRegistry, DefinitionCatalog catalog, SourceHost sourceHost, IngestTracker tracker, HttpContext http) =>
        {
            if (!definitions.Sources.TryGetValue(id, out var s))
            {
                return Explore.Plants(http) is null && sourceHost.FailedSources.TryGetValue(id, out var reason) ? TypedResults.Ok(SetAsideSummary(options, jobRegistry, id, reason)) : UnknownSource(definitions, id, http);
            }

            if (!PlantScopes.MayRead(Explore.Plants(http), s))
            {
                return Errors.Status(StatusCodes.Status403Forbidden, s.Plant.Constant is null
                    ? $"source '{id}' takes its plant from each message, so what it shows spans plants; it needs a key or token of every plant"
                    : $"source '{id}' is outside the plants this key or token may read");
            }

            return TypedResults.Ok(Detail(time, engine, jobRegistry, catalog, sourceHost, tracker, s));
        }).WithSummary("One source with its definition (mapping and connector settings, secrets hidden) and counters");

        sources.MapPut("/{id}", async Task<IResult> (string id, HttpContext http, TimeProvider time, IngestEngine engine, JobRegistry jobRegistry, DefinitionCatalog catalog, SourceHost sourceHost, IngestTracker tracker, CancellationToken ct) =>
        {
            var body = await DefinitionBody.ReadAsync(http, ct);
            var (source, created) = await catalog.PutSourceAsync(id, body, UsineAuth.Actor(http), ct);
            return created ? TypedResults.Created($"/api/sources/{source.Id}", Summary(time, engine, jobRegistry, catalog, sourceHost, tracker, source)) : TypedResults.Ok(Summary(time, engine, jobRegistry, catalog, sourceHost, tracker, source));
        }).RequireAuthorization(UsineAuth.AdminPolicy)
            .WithSummary("Create or replace a source: the body is its definition in YAML or JSON, as in the configuration file; it runs at once");

        sources.MapDelete("/{id}", async Task<IResult> (string id, HttpContext http, DefinitionCatalog catalog, CancellationToken ct) =>
        {
            await catalog.RemoveSourceAsync(id, UsineAuth.Actor(http), ct);
            return TypedResults.Ok(new { removed = id });
        }).RequireAuthorization(UsineAuth.AdminPolicy)
            .WithSummary("Remove a source created through the API; its records, dead letters and raw messages stay");

        sources.MapPost("/{id}/import", async Task<IResult> (string id, string? name, string? sha256, string? format, long? expectedCount, HttpContext http, UsineDefinitions definitions, FileImporter importer, CancellationToken ct) =>
        {
            if (!definitions.Sources.TryGetValue(id, out var source))
            {
                return UnknownSource(definitions, id, http);
            }

            Explore.EnsureSource(http, definitions, id);

            var reads = source.Format.ToString().ToLowerInvariant();
            if (format is not null && !string.Equals(format, reads, StringComparison.OrdinalIgnoreCase)
                && !(source.Format == PayloadFormat.Json && format.ToLowerInvariant() is "ndjson" or "jsonl"))
            {
                return Errors.BadRequest($"source '{id}' reads {reads}, not {format}: import the file into a {format} source, or leave the format out");
            }

            if (sha256 is not null && (sha256.Length != 64 || !sha256.All(Uri.IsHexDigit)))
            {
                return Errors.BadRequest("sha256 must be the 64 hexadecimal digits of the file's SHA-256");
            }

            if (expectedCount is < 0)
            {
                return Errors.BadRequest("expectedCount must be the number of lines (records) the file declares, 0 or more");
            }

            // An import streams: its size is bounded by the disk, not by memory.
            http.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = null;
            string? spool = null;
            try
            {
                var body = http.Request.Body;
                if (sha256 is null)
                {
                    spool = Path.Combine(Path.GetTempPath(), "usine-import-" + Guid.NewGuid().ToString("N"));
                    await using (var f = File.Create(spool))
                    {
                        await body.CopyToAsync(f, ct);
                    }

                    return TypedResults.Ok(await importer.ImportFileAsync(source, spool, ct, expectedCount, name) with { Name = name });
                }

                return TypedResults.Ok(await importer.ImportAsync(source, body, name, sha256, ct, expectedCount));
            }
            catch (InvalidDataException ex)
            {
                return Errors.Status(StatusCodes.Status422UnprocessableEntity, ex.Message);
            }
            catch (System.Text.Json.JsonException ex)
            {
                return Errors.Status(StatusCodes.Status422UnprocessableEntity, "the JSON array is malformed: " + ex.Message + " (the elements before it were imported)");
            }
            finally
            {
                if (spool is not null)
                {
                    File.Delete(spool);
                }
            }
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Import a CSV, NDJSON or JSON-array file into a source");

        sources.MapPost("/{id}/messages", async Task<IResult> (string id, HttpContext http, UsineDefinitions definitions, TimeProvider time, UsineHttpOptions httpOptions, JobRegistry jobRegistry, HttpPush push, CancellationToken ct) =>
        {
            if (!definitions.Sources.TryGetValue(id, out var source))
            {
                return UnknownSource(definitions, id, http);
            }

            Explore.EnsureSource(http, definitions, id);

            if (http.Request.ContentLength > httpOptions.MaxPushBytes)
            {
                return Errors.Status(StatusCodes.Status413PayloadTooLarge, $"the body is {http.Request.ContentLength} bytes; a push takes at most {httpOptions.MaxPushBytes} (send several, or use import)");
            }

            http.Features.Get<IHttpMaxRequestBodySizeFeature>()!.MaxRequestBodySize = httpOptions.MaxPushBytes;
            byte[] body;
            try
            {
                using var ms = new MemoryStream();
                await http.Request.Body.CopyToAsync(ms, ct);
                body = ms.ToArray();
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                return Errors.Status(StatusCodes.Status413PayloadTooLarge, $"a push takes at most {httpOptions.MaxPushBytes} bytes (send several, or use import)");
            }

            var r = await push.PushAsync(source, body, jobRegistry.Stream(source.Id), ct);
            return r.Error is { } error
                ? Errors.BadRequest(error)
                : TypedResults.Ok(new { received = r.Received, stored = r.Stored, duplicates = r.Duplicates, deadLetters = r.DeadLetters });
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("HTTP push: a JSON array or NDJSON, answered once durable");

        return app;
    }

    /// <summary>404 for a source id that is not defined, naming the sources the caller may see.</summary>
    public static IResult UnknownSource(UsineDefinitions definitions, string id, HttpContext http) =>
        Errors.NotFound($"no source with id '{id}' (sources: {string.Join(", ", definitions.Sources.Values.Where(s => PlantScopes.MayRead(Explore.Plants(http), s)).Select(s => s.Id).Order(StringComparer.Ordinal))})");

    /// <summary>A source whose stored definition no longer loads: failed, with why and how to repair it.</summary>
    private static object SetAsideSummary(UsineOptions options, JobRegistry jobRegistry, string id, string reason)
    {
        var job = jobRegistry.Get("stream:" + id);
        return new
        {
            id,
            plant = (string?)null,
            kind = (string?)null,
            origin = Path.Combine(Operations.DefinitionCatalog.DirectoryOf(options), "sources", id + ".yaml"),
            definedBy = "api",
            state = "failed",
            lastError = reason,
            job = job?.Id,
            jobState = job?.State.ToString().ToLowerInvariant(),
        };
    }
}
