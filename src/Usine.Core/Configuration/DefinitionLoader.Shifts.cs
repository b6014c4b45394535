using System.Globalization;
using System.Text.RegularExpressions;
using Usine.Calendar;
using YamlDotNet.RepresentationModel;

namespace Usine.Configuration;

public static partial class DefinitionLoader
{
    private static readonly string[] ShiftPatternKeys = ["plants", "timezone", "shifts"];
    private static readonly string[] ShiftKeys = ["name", "start"];

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    private static partial Regex ShiftName();

    /// <summary>Reads the <c>shifts</c> section: a list of patterns, each for some plants or (without plants) for every other one.</summary>
    private static void ReadShifts(Ctx ctx, YamlNode node, UsineDefinitions defs)
    {
        foreach (var p in ctx.Seq(node, "shifts"))
        {
            var pattern = ReadShiftPattern(ctx, p);
            if (pattern.IsDefault && defs.Shifts.Default is { } other)
            {
                throw ctx.Error(p, $"a second shift pattern without 'plants' (the first is at {other.Origin}): only one pattern may apply to every other plant");
            }

            foreach (var plant in pattern.Plants)
            {
                if (defs.Shifts.Patterns.FirstOrDefault(x => x.Plants.Contains(plant, StringComparer.Ordinal)) is { } taken)
                {
                    throw ctx.Error(p, $"plant '{plant}' already has a shift pattern (at {taken.Origin}); a plant works one pattern");
                }
            }

            defs.Shifts.Add(pattern);
        }
    }

    private static ShiftPattern ReadShiftPattern(Ctx ctx, YamlNode node)
    {
        var map = ctx.Map(node, "a shift pattern");
        ctx.OnlyKeys(map, ShiftPatternKeys, "a shift pattern");
        var plants = new List<string>();
        if (ctx.Opt(map, "plants") is { } pn)
        {
            foreach (var item in ctx.Seq(pn, "plants"))
            {
                var plant = ctx.Str(item, "a plant");
                if (plants.Contains(plant, StringComparer.Ordinal))
                {
                    throw ctx.Error(item, $"plant '{plant}' is listed twice");
                }

                plants.Add(plant);
            }

            if (plants.Count == 0)
            {
                throw ctx.Error(pn, "plants is empty: list the plants that work these shifts, or leave the key out to make them every plant's default");
            }
        }

        var zoneNode = ctx.Opt(map, "timezone") ?? throw ctx.Error(map, "a shift pattern needs 'timezone' (an IANA time zone such as Europe/Paris)");
        var zoneName = ctx.Str(zoneNode, "timezone");
        TimeZoneInfo zone;
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(zoneName);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw ctx.Error(zoneNode, $"timezone '{zoneName}' is not a known time zone; use an IANA name such as Europe/Paris, America/Detroit or UTC");
        }

        var listNode = ctx.Opt(map, "shifts") ?? throw ctx.Error(map, "a shift pattern needs 'shifts', such as [{ name: day, start: \"06:00\" }]");
        var shifts = new List<Shift>();
        foreach (var s in ctx.Seq(listNode, "shifts of a pattern"))
        {
            var shift = ReadShift(ctx, s);
            if (shifts.FirstOrDefault(x => x.Name == shift.Name) is not null)
            {
                throw ctx.Error(s, $"two shifts of this pattern are named '{shift.Name}'");
            }

            if (shifts.FirstOrDefault(x => x.Start == shift.Start) is { } same)
            {
                throw ctx.Error(s, $"shifts '{same.Name}' and '{shift.Name}' both start at {shift.Start:HH\\:mm}");
            }

            shifts.Add(shift);
        }

        if (shifts.Count == 0)
        {
            throw ctx.Error(listNode, "a shift pattern needs at least one shift, such as { name: day, start: \"06:00\" }");
        }

        return new ShiftPattern
        {
            Plants = plants,
            TimeZone = zone,
            Shifts = [.. shifts.OrderBy(x => x.Start)],
            Origin = ctx.Where(node),
        };
    }

    private static Shift ReadShift(Ctx ctx, YamlNode node)
    {
        var map = ctx.Map(node, "a shift");
        ctx.OnlyKeys(map, ShiftKeys, "a shift");
        var nameNode = ctx.Req(map, "name", "a shift");
        var name = ctx.Str(nameNode, "name");
        if (!ShiftName().IsMatch(name))
        {
            throw ctx.Error(nameNode, $"shift name '{name}' may hold letters, digits and _ . - (up to 63), starting with a letter or digit");
        }

        var startNode = ctx.Opt(map, "start") ?? throw ctx.Error(map, $"shift '{name}' needs 'start' (a local time of day such as \"06:00\")");
        var text = ctx.Str(startNode, "start");
        if (!TimeOnly.TryParseExact(text, ["HH:mm", "H:mm"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var start))
        {
            throw ctx.Error(startNode, $"start '{text}' of shift '{name}' is not a time of day such as 06:00 or 22:30");
        }

        return new Shift(name, start);
    }
}
