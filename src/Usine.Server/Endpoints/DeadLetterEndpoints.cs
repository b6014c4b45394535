using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Usine.Pipeline;

namespace Usine.Server.Endpoints;

internal static class DeadLetterEndpoints
{
    public static IEndpointRouteBuilder MapDeadLetters(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/deadletters");

        // A plant-scoped caller sees and touches only the dead letters of the sources of its plants.
        group.AddEndpointFilter(async (ctx, next) =>
        {
            if (ctx.HttpContext.Request.RouteValues.TryGetValue("id", out var raw) && long.TryParse(raw?.ToString(), CultureInfo.InvariantCulture, out var id))
            {
                var services = ctx.HttpContext.RequestServices;
                Explore.EnsureDeadLetter(ctx.HttpContext, services.GetRequiredService<IDeadLetterStore>(), services.GetRequiredService<UsineDefinitions>(), id);
            }

            return await next(ctx);
        });
        group.MapGet("/", IResult (string? source, string? stage, string? status, string? reason, string? rule, string? from, string? to, int? limit, IDeadLetterStore deadLetters, UsineDefinitions definitions, HttpContext http) =>
        {
            if (Filter(http, deadLetters, definitions, new FilterRequest(source, stage, status, reason, from, to, null, rule), out var filter) is { } error)
            {
                return error;
            }

            if (limit is < 1 or > 100_000)
            {
                return Errors.BadRequest("limit must be between 1 and 100000");
            }

            return TypedResults.Ok(deadLetters.List(filter, limit ?? 100).Select(View));
        }).WithSummary("Dead letters matching a filter, newest first");

        group.MapGet("/groups", IResult (string? source, string? stage, string? status, string? reason, string? rule, string? from, string? to, int? limit, IDeadLetterStore deadLetters, UsineDefinitions definitions, HttpContext http) =>
        {
            if (Filter(http, deadLetters, definitions, new FilterRequest(source, stage, status, reason, from, to, null, rule), out var filter) is { } error)
            {
                return error;
            }

            if (limit is < 1 or > 100_000)
            {
                return Errors.BadRequest("limit must be between 1 and 100000");
            }

            return TypedResults.Ok(deadLetters.Groups(filter, limit ?? 100));
        }).WithSummary("Dead letters counted per source, stage and rule broken, with example values");

        group.MapGet("/{id:long}", IResult (long id, IDeadLetterStore deadLetters) =>
        {
            if (deadLetters.Get(id) is not { } found)
            {
                return Errors.NotFound($"no dead letter with id {id}");
            }

            var (d, original, editedAt, discardReason) = found;
            var payload = d.Payload ?? [];
            var text = Payloads.Text(payload);
            var originalText = original is null ? null : Payloads.Text(original);
            return TypedResults.Ok(View(d) with
            {
                ErrorType = d.ErrorType,
                Topic = d.Topic,
                PayloadBytes = d.PayloadBytes,
                Payload = text,
                PayloadBase64 = text is null ? Convert.ToBase64String(payload) : null,
                OriginalPayload = originalText,
                OriginalPayloadBase64 = original is not null && originalText is null ? Convert.ToBase64String(original) : null,
                EditedAt = editedAt,
                DiscardReason = discardReason,
            });
        }).WithSummary("One dead letter with its payload, original payload and discard reason");

        group.MapPost("/{id:long}/replay", async Task<IResult> (long id, HttpContext http, IDeadLetterStore deadLetters, UsineDefinitions definitions, Replays replays, CancellationToken ct) =>
        {
            var body = await Body<ReplayOneRequest>(http, ct) ?? new ReplayOneRequest(false);
            return await ReplayOneAsync(deadLetters, definitions, replays, id, body.Force, UsineAuth.Actor(http), ct);
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Replay one open dead letter through the current pipeline");

        group.MapPost("/{id:long}/edit", async Task<IResult> (long id, HttpContext http, IDeadLetterStore deadLetters, UsineDefinitions definitions, UsineHttpOptions httpOptions, UsineOptions options, Replays replays, CancellationToken ct) =>
        {
            var body = await Body<EditRequest>(http, ct);
            if (body is null || (body.Payload is null) == (body.PayloadBase64 is null))
            {
                return Errors.BadRequest("give the new payload as \"payload\" (text) or \"payloadBase64\" (bytes), one of the two");
            }

            byte[] payload;
            try
            {
                payload = body.Payload is not null ? System.Text.Encoding.UTF8.GetBytes(body.Payload) : Convert.FromBase64String(body.PayloadBase64!);
            }
            catch (FormatException)
            {
                return Errors.BadRequest("payloadBase64 is not valid base64");
            }

            if (payload.Length > httpOptions.MaxPushBytes)
            {
                return Errors.Status(StatusCodes.Status413PayloadTooLarge, $"the new payload is {payload.Length} bytes; at most {httpOptions.MaxPushBytes}");
            }

            if (Open(deadLetters, id, out _) is { } refused)
            {
                return refused;
            }

            var actor = UsineAuth.Actor(http);
            var detail = Replays.Json(new { bytes = payload.Length, replay = body.Replay });
            if (!await deadLetters.EditAsync(id, payload, new AuditRecord(actor, "deadletter.edit", Target(id), detail, "ok"), ct))
            {
                return Errors.Status(StatusCodes.Status409Conflict, $"dead letter {id} is no longer open");
            }

            replays.Log.DeadLetterEdited(id, actor, payload.Length);
            if (body.Replay)
            {
                return await ReplayOneAsync(deadLetters, definitions, replays, id, body.Force, actor, ct);
            }

            var (letter, _, editedAt, _) = deadLetters.Get(id)!;
            return TypedResults.Ok(new { id, status = letter.Status, edited = true, editedAt, payloadBytes = payload.Length });
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Replace the payload of an open dead letter, keeping the original, and optionally replay it");

        group.MapPost("/{id:long}/discard", async Task<IResult> (long id, HttpContext http, IDeadLetterStore deadLetters, Replays replays, CancellationToken ct) =>
        {
            var body = await Body<DiscardOneRequest>(http, ct);
            if (string.IsNullOrWhiteSpace(body?.Reason))
            {
                return Errors.BadRequest("a reason is required to discard a dead letter: {\"reason\": \"why it is dropped\"}");
            }

            if (Open(deadLetters, id, out _) is { } refused)
            {
                return refused;
            }

            var actor = UsineAuth.Actor(http);
            var reason = body.Reason.Trim();
            var n = await deadLetters.DiscardAsync(new DeadLetterFilter { Ids = [id] }, reason,
                count => new AuditRecord(actor, "deadletter.discard", Target(id), Replays.Json(new { reason }), count == 1 ? "ok" : "refused: not open"), ct);
            if (n == 0)
            {
                return Errors.Status(StatusCodes.Status409Conflict, $"dead letter {id} is no longer open");
            }

            replays.Log.DeadLettersDiscarded(Target(id), actor, n, reason);
            return TypedResults.Ok(new { id, status = "discarded", reason });
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Discard an open dead letter, with a reason");

        group.MapPost("/replay", async Task<IResult> (HttpContext http, IDeadLetterStore deadLetters, UsineDefinitions definitions, Replays replays, CancellationToken ct) =>
        {
            var body = await Body<ReplayManyRequest>(http, ct);
            if (Filter(http, deadLetters, definitions, body?.Filter, out var filter) is { } error)
            {
                return error;
            }

            if (filter.IsEmpty)
            {
                return Errors.BadRequest("say which dead letters to replay: a filter with at least one of source, stage, reason, rule, from, to or ids");
            }

            if (filter.Status is not (null or "open"))
            {
                return Errors.BadRequest($"only open dead letters are replayed; leave status out or set it to open, not {filter.Status}");
            }

            var target = "deadletters:" + Replays.Json(filter);
            try
            {
                return TypedResults.Ok(await replays.ReplayDeadLettersAsync(filter, body!.Force, UsineAuth.Actor(http), target, ct));
            }
            catch (UsineException ex) when (!ex.IsTransient)
            {
                return Errors.Status(StatusCodes.Status409Conflict, ex.Message);
            }
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Replay every open dead letter a filter matches");

        group.MapPost("/discard", async Task<IResult> (HttpContext http, IDeadLetterStore deadLetters, UsineDefinitions definitions, Replays replays, CancellationToken ct) =>
        {
            var body = await Body<DiscardManyRequest>(http, ct);
            if (Filter(http, deadLetters, definitions, body?.Filter, out var filter) is { } error)
            {
                return error;
            }

            if (filter.IsEmpty)
            {
                return Errors.BadRequest("say which dead letters to discard: a filter with at least one of source, stage, reason, rule, from, to or ids");
            }

            if (string.IsNullOrWhiteSpace(body!.Reason))
            {
                return Errors.BadRequest("a reason is required to discard dead letters: {\"filter\": {...}, \"reason\": \"why they are dropped\"}");
            }

            var actor = UsineAuth.Actor(http);
            var reason = body.Reason.Trim();
            var target = "deadletters:" + Replays.Json(filter);
            var n = await deadLetters.DiscardAsync(filter, reason,
                count => new AuditRecord(actor, "deadletters.discard", target, Replays.Json(new { filter, reason, discarded = count }), "ok"), ct);
            replays.Log.DeadLettersDiscarded(target, actor, n, reason);
            return TypedResults.Ok(new { discarded = n, reason });
        }).RequireAuthorization(UsineAuth.OperatorPolicy).WithSummary("Discard every open dead letter a filter matches, with a reason");

        return app;
    }

    private static async Task<IResult> ReplayOneAsync(IDeadLetterStore deadLetters, UsineDefinitions definitions, Replays replays, long id, bool force, string actor, CancellationToken ct)
    {
        if (Open(deadLetters, id, out var letter) is { } refused)
        {
            return refused;
        }

        if (!definitions.Sources.ContainsKey(letter!.Source))
        {
            return Errors.Status(StatusCodes.Status409Conflict, $"dead letter {id} belongs to source '{letter.Source}', which is no longer defined; discard it or define the source again");
        }

        var max = replays.MaxAttempts;
        if (letter.Attempts >= max && !force)
        {
            return Errors.Status(StatusCodes.Status409Conflict,
                $"dead letter {id} has failed {letter.Attempts} times, the limit of {max} attempts, and is not replayed again unless forced: send {{\"force\": true}} (usine deadletters replay {id} --force)");
        }

        DeadLetterReplayResult r;
        try
        {
            r = await replays.ReplayDeadLettersAsync(new DeadLetterFilter { Ids = [id] }, force, actor, Target(id), ct);
        }
        catch (UsineException ex) when (!ex.IsTransient)
        {
            return Errors.Status(StatusCodes.Status409Conflict, ex.Message);
        }

        var after = deadLetters.Get(id)!.Letter;
        return TypedResults.Ok(new
        {
            id,
            outcome = after.Status == "replayed" ? "replayed" : "failed again",
            status = after.Status,
            stage = after.Stage,
            reason = after.Reason,
            attempts = after.Attempts,
            stored = r.Stored,
            duplicates = r.Duplicates,
        });
    }

    /// <summary>Null when dead letter <paramref name="id"/> exists and is open; else the answer saying why not.</summary>
    private static IResult? Open(IDeadLetterStore deadLetters, long id, out DeadLetterRow? letter)
    {
        letter = deadLetters.Get(id)?.Letter;
        if (letter is null)
        {
            return Errors.NotFound($"no dead letter with id {id}");
        }

        return letter.Status == "open" ? null
            : Errors.Status(StatusCodes.Status409Conflict, $"dead letter {id} is {letter.Status}; only open dead letters can be replayed, edited or discarded");
    }

    private static string Target(long id) => "deadletter:" + id.ToString(CultureInfo.InvariantCulture);

    /// <summary>The JSON body, or null when there is none; malformed JSON is the caller's mistake (400 by the exception handler).</summary>
    internal static async Task<T?> Body<T>(HttpContext http, CancellationToken ct)
        where T : class
    {
        using var ms = new MemoryStream();
        await http.Request.Body.CopyToAsync(ms, ct);
        if (ms.Length == 0)
        {
            return null;
        }

        ms.Position = 0;
        return await JsonSerializer.DeserializeAsync<T>(ms, BodyJson, ct);
    }

    private static readonly JsonSerializerOptions BodyJson = new(JsonSerializerDefaults.Web);

    /// <summary>Checks and converts a filter; the answer to send back when it is wrong, else null.</summary>
    private static IResult? Filter(HttpContext http, IDeadLetterStore deadLetters, UsineDefinitions definitions, FilterRequest? request, out DeadLetterFilter filter)
    {
        filter = Explore.Scoped(http, definitions, new DeadLetterFilter());
        if (request is null)
        {
            return null;
        }

        if (request.Stage is not null && !Enum.TryParse<DeadLetterStage>(request.Stage, true, out _))
        {
            return Errors.BadRequest($"stage '{request.Stage}' is not one of {string.Join(", ", Enum.GetNames<DeadLetterStage>().Select(n => n.ToLowerInvariant()))}");
        }

        if (request.Status is not null && !Enum.TryParse<DeadLetterStatus>(request.Status, true, out _))
        {
            return Errors.BadRequest($"status '{request.Status}' is not one of {string.Join(", ", Enum.GetNames<DeadLetterStatus>().Select(n => n.ToLowerInvariant()))}");
        }

        if (request.Source is not null)
        {
            Explore.EnsureSourceInScope(http, definitions, request.Source);
        }

        if (request.Source is not null && !definitions.Sources.ContainsKey(request.Source) && deadLetters.Count(new DeadLetterFilter { Source = request.Source }).Total == 0)
        {
            return SourceEndpoints.UnknownSource(definitions, request.Source, http);
        }

        if (Times.Parse("from", request.From, out var from) is { } fromError)
        {
            return Errors.BadRequest(fromError);
        }

        if (Times.Parse("to", request.To, out var to) is { } toError)
        {
            return Errors.BadRequest(toError);
        }

        if (from is not null && to is not null && from >= to)
        {
            return Errors.BadRequest($"from ({Replays.Iso(from.Value)}) must be before to ({Replays.Iso(to.Value)})");
        }

        filter = new DeadLetterFilter
        {
            Source = request.Source,
            Stage = request.Stage?.ToLowerInvariant(),
            Status = request.Status?.ToLowerInvariant(),
            Reason = string.IsNullOrEmpty(request.Reason) ? null : request.Reason,
            Rule = string.IsNullOrEmpty(request.Rule) ? null : request.Rule,
            From = from,
            To = to,
            Ids = request.Ids,
        };
        filter = Explore.Scoped(http, definitions, filter);
        return null;
    }

    private static DeadLetterView View(DeadLetterRow d) => new(
        d.Id, d.Source, d.Stream, d.Position, d.Stage, d.Reason, d.Status, d.Attempts, d.Model, d.ModelVersion, d.ReceivedAt, d.CreatedAt);

    /// <summary>
    /// Which dead letters: every field given must match; <c>reason</c> is text the reason contains, ignoring case,
    /// <c>rule</c> the rule of a group exactly (<see cref="DeadLetterGroup.Rule"/>).
    /// </summary>
    internal sealed record FilterRequest(string? Source, string? Stage, string? Status, string? Reason, string? From, string? To, long[]? Ids, string? Rule = null);

    internal sealed record ReplayOneRequest(bool Force);

    internal sealed record EditRequest(string? Payload, string? PayloadBase64, bool Replay, bool Force);

    internal sealed record DiscardOneRequest(string? Reason);

    internal sealed record ReplayManyRequest(FilterRequest? Filter, bool Force);

    internal sealed record DiscardManyRequest(FilterRequest? Filter, string? Reason);

    /// <summary>A dead letter as the API shows it; the fields after <see cref="CreatedAt"/> only in the detail.</summary>
    internal sealed record DeadLetterView(
        long Id, string Source, string Stream, long Position, string Stage, string Reason, string Status, int Attempts,
        string? Model, int? ModelVersion, DateTime ReceivedAt, DateTime CreatedAt)
    {
        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? ErrorType { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Topic { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public long? PayloadBytes { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? Payload { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? PayloadBase64 { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? OriginalPayload { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? OriginalPayloadBase64 { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public DateTime? EditedAt { get; init; }

        [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        public string? DiscardReason { get; init; }
    }
}

/// <summary>Times in requests: ISO 8601, read as UTC when they carry no offset.</summary>
internal static class Times
{
    /// <summary>Null when <paramref name="text"/> is empty or a time; else the error line to answer.</summary>
    public static string? Parse(string name, string? text, out DateTime? utc)
    {
        utc = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
        {
            return $"{name} '{text}' is not a time: use ISO 8601, for example 2026-11-26T08:00:00Z";
        }

        utc = t.UtcDateTime;
        return null;
    }
}
