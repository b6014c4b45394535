using System.Globalization;
using System.Text.Json;

namespace Usine.Server.Ui;

/// <summary>Formatting and small lookups shared by the pages.</summary>
internal static class Ui
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string AvatarHref(string type, string id) => $"/avatars/{Uri.EscapeDataString(type)}/{Uri.EscapeDataString(id)}";

    public static string SourceHref(string id) => "/sources/" + Uri.EscapeDataString(id);

    public static string Time(DateTime? t) => t is { } v ? v.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z" : "—";

    public static string Number(double v) => v.ToString(Math.Abs(v) >= 100 || v == Math.Floor(v) ? "#,0" : "#,0.###", CultureInfo.InvariantCulture);

    public static string Number(long v) => v.ToString("#,0", CultureInfo.InvariantCulture);

    /// <summary>A cell value as text: numbers and times invariant, null as a dash.</summary>
    public static string Value(object? v) => v switch
    {
        null => "—",
        DateTime t => Time(t),
        double d => d.ToString("0.###", CultureInfo.InvariantCulture),
        float f => f.ToString("0.###", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    /// <summary>How long ago, in words a plant engineer reads at a glance.</summary>
    public static string Ago(DateTime? t, DateTime now)
    {
        if (t is not { } v)
        {
            return "never";
        }

        var d = now - v;
        return d.TotalSeconds < 1 ? "just now"
            : d.TotalSeconds < 60 ? $"{d.TotalSeconds:0}s ago"
            : d.TotalMinutes < 60 ? $"{d.TotalMinutes:0} min ago"
            : d.TotalHours < 48 ? $"{d.TotalHours:0} h ago"
            : $"{d.TotalDays:0} days ago";
    }

    /// <summary>A duration to the minute or second, as a link or a silence lasts: 45s, 12 min, 3 h 20 min, 2 d 4 h.</summary>
    public static string Duration(TimeSpan d) =>
        d < TimeSpan.Zero ? "—"
        : d.TotalSeconds < 60 ? $"{Math.Floor(d.TotalSeconds):0}s"
        : d.TotalMinutes < 60 ? $"{Math.Floor(d.TotalMinutes):0} min"
        : d.TotalHours < 48 ? $"{Math.Floor(d.TotalHours):0} h{(d.Minutes > 0 ? $" {d.Minutes} min" : "")}"
        : $"{Math.Floor(d.TotalDays):0} d{(d.Hours > 0 ? $" {d.Hours} h" : "")}";

    /// <summary>The payload indented when it is JSON, else as received (null when it is not text).</summary>
    public static string? Pretty(string? text)
    {
        if (text is null)
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(text);
            return JsonSerializer.Serialize(doc.RootElement, Indented);
        }
        catch (JsonException)
        {
            return text;
        }
    }

    /// <summary>The health of one source as the overview and the source page show it.</summary>
    public static SourceHealth Health(IngestEngine engine, SourceHost sourceHost, IngestTracker tracker, SourceDefinition s, IReadOnlyDictionary<string, DateTime> pending, DateTime now)
    {
        var stats = engine.Stats.GetValueOrDefault(s.Id);
        var (state, error) = sourceHost.SourceState(s);
        var activity = tracker.For(s.Id);
        return new SourceHealth(
            s.Id, PlantText(s), s.Kind, s.ModelVersion is { } v ? $"{s.Model}@{v}" : s.Model,
            state, error, stats?.Received ?? 0, stats?.Stored ?? 0, stats?.DeadLetters ?? 0, stats?.LastSeen,
            activity?.RatePerSecond(now) ?? 0, activity?.DeadLettersLastHour(now) ?? 0,
            pending.TryGetValue(s.Id, out var oldest) ? Math.Max(0, (now - oldest).TotalSeconds) : 0);
    }

    /// <summary>The source's plant, or where each message names it (<c>{topic.1}</c> → "per message: {topic.1}").</summary>
    public static string PlantText(SourceDefinition s) => s.Plant.Constant ?? "per message: " + s.Plant.Text;

    /// <summary>A CSS class for a state: ok, warn or bad.</summary>
    public static string StateClass(string state) => state switch
    {
        "running" or "ready" or "listening" or "connected" => "ok",
        "failed" or "stopped" => "bad",
        _ => "warn",
    };
}

/// <summary>One source's health at a moment.</summary>
internal sealed record SourceHealth(
    string Id, string Plant, string Kind, string Model, string State, string? LastError, long Received, long Stored, long DeadLetters,
    DateTime? LastSeen, double RatePerSecond, long DeadLettersLastHour, double LagSeconds);
