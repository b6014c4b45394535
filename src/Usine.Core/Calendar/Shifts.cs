namespace Usine.Calendar;

/// <summary>One shift of a pattern: its name and the local time of day it starts; it ends where the next one starts.</summary>
public sealed record Shift(string Name, TimeOnly Start);

/// <summary>One occurrence of a shift: the instant it starts (UTC) and its name.</summary>
public readonly record struct ShiftStart(DateTime Start, string Name);

/// <summary>
/// The shifts of some plants (or, with no plants, of every plant no other pattern names), in a time zone.
/// Shifts follow the local clock: a night shift that spans a change of daylight saving time lasts an hour more
/// or less. A start that falls in the hour skipped in spring begins when the clock jumps; a start that falls in
/// the hour repeated in autumn begins at its first occurrence.
/// </summary>
public sealed record ShiftPattern
{
    /// <summary>The plants that work these shifts; empty for the default pattern.</summary>
    public required IReadOnlyList<string> Plants { get; init; }

    public required TimeZoneInfo TimeZone { get; init; }

    /// <summary>The shifts of a day, by start time; the last one runs past midnight into the first of the next day.</summary>
    public required IReadOnlyList<Shift> Shifts { get; init; }

    /// <summary>Where the definition came from (file:line), for messages.</summary>
    public string? Origin { get; init; }

    public bool IsDefault => Plants.Count == 0;

    /// <summary>
    /// The shift in progress at <paramref name="from"/> (UTC), then every shift that starts before
    /// <paramref name="to"/>, in time order. Every instant of [from, to) falls in exactly one of them: the
    /// latest that starts at or before it.
    /// </summary>
    public List<ShiftStart> Starts(DateTime from, DateTime to)
    {
        var localFrom = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(from, DateTimeKind.Utc), TimeZone);
        var localTo = TimeZoneInfo.ConvertTimeFromUtc(DateTime.SpecifyKind(to, DateTimeKind.Utc), TimeZone);

        // The day before holds the shift that runs into the first day; one more day covers a start moved by a jump.
        var all = new List<ShiftStart>();
        for (var day = localFrom.Date.AddDays(-1); day <= localTo.Date.AddDays(1); day = day.AddDays(1))
        {
            foreach (var s in Shifts)
            {
                var utc = ToUtc(day + s.Start.ToTimeSpan());

                // Two starts in the same skipped hour begin at the same instant: the earlier lasts no time at all.
                if (all.Count > 0 && all[^1].Start >= utc)
                {
                    all.RemoveAt(all.Count - 1);
                }

                all.Add(new ShiftStart(utc, s.Name));
            }
        }

        var first = all.FindLastIndex(s => s.Start <= from);
        return [.. all.Skip(Math.Max(first, 0)).TakeWhile(s => s.Start < to)];
    }

    /// <summary>The instant a local time of day names, by the rules in the summary of this type.</summary>
    public DateTime ToUtc(DateTime local)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (TimeZone.IsAmbiguousTime(local))
        {
            // The first occurrence is the one under the larger offset (daylight time, before the clock goes back).
            var offset = TimeZone.GetAmbiguousTimeOffsets(local).Max();
            return DateTime.SpecifyKind(local - offset, DateTimeKind.Utc);
        }

        // Skipped local times come in whole minutes in every zone in use; the first valid minute after one is
        // the jump itself.
        var guard = 0;
        while (TimeZone.IsInvalidTime(local) && guard++ < 24 * 60)
        {
            local = local.AddMinutes(1);
            local = local.AddTicks(-(local.Ticks % TimeSpan.TicksPerMinute));
        }

        return DateTime.SpecifyKind(local - TimeZone.GetUtcOffset(local), DateTimeKind.Utc);
    }
}

/// <summary>Every shift pattern of the configuration, and which one a plant works.</summary>
public sealed class ShiftCalendar
{
    private readonly List<ShiftPattern> _patterns = [];

    public IReadOnlyList<ShiftPattern> Patterns => _patterns;

    public bool IsEmpty => _patterns.Count == 0;

    public ShiftPattern? Default => _patterns.FirstOrDefault(p => p.IsDefault);

    public void Add(ShiftPattern pattern) => _patterns.Add(pattern);

    /// <summary>The pattern that names the plant, else the default one, else null.</summary>
    public ShiftPattern? For(string plant) => _patterns.FirstOrDefault(p => p.Plants.Contains(plant, StringComparer.Ordinal)) ?? Default;
}
