using Usine.Calendar;

namespace Usine.Tests.Pipeline;

public sealed class ShiftTests
{
    private const string ThreeShifts = """
        shifts:
          - plants: [flins, douai]
            timezone: Europe/Paris
            shifts:
              - { name: morning, start: "06:00" }
              - { name: afternoon, start: "14:00" }
              - { name: night, start: "22:00" }
          - timezone: America/Detroit
            shifts:
              - { name: day, start: "07:00" }
              - { name: swing, start: "15:30" }
        """;

    private static DateTime Utc(string text) => DateTime.SpecifyKind(DateTime.Parse(text, System.Globalization.CultureInfo.InvariantCulture), DateTimeKind.Utc);

    private static List<string> Text(IEnumerable<ShiftStart> starts) =>
        [.. starts.Select(s => s.Start.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture) + " " + s.Name)];

    [Theory]
    [InlineData("shifts:\n  - timezone: Europe/Paris\n    shifts:\n      - { name: day, strat: \"06:00\" }\n", 4, "unknown key 'strat' in a shift (expected one of: name, start)")]
    [InlineData("shifts:\n  - timezone: Europe/Paris\n    shift: []\n", 3, "unknown key 'shift' in a shift pattern (expected one of: plants, timezone, shifts)")]
    [InlineData("shifts:\n  - timezone: Europe/Pariss\n    shifts:\n      - { name: day, start: \"06:00\" }\n", 2, "timezone 'Europe/Pariss' is not a known time zone; use an IANA name such as Europe/Paris")]
    [InlineData("shifts:\n  - shifts:\n      - { name: day, start: \"06:00\" }\n", 2, "a shift pattern needs 'timezone' (an IANA time zone such as Europe/Paris)")]
    [InlineData("shifts:\n  - timezone: UTC\n    shifts:\n      - { name: day, start: \"25:00\" }\n", 4, "start '25:00' of shift 'day' is not a time of day such as 06:00 or 22:30")]
    [InlineData("shifts:\n  - timezone: UTC\n    shifts:\n      - { name: day, start: \"06:00\" }\n      - { name: day, start: \"18:00\" }\n", 5, "two shifts of this pattern are named 'day'")]
    [InlineData("shifts:\n  - timezone: UTC\n    shifts:\n      - { name: early, start: \"06:00\" }\n      - { name: day, start: \"6:00\" }\n", 5, "shifts 'early' and 'day' both start at 06:00")]
    [InlineData("shifts:\n  - timezone: UTC\n    shifts: []\n", 3, "a shift pattern needs at least one shift")]
    [InlineData("shifts:\n  - timezone: UTC\n    plants: []\n    shifts:\n      - { name: day, start: \"06:00\" }\n", 3, "plants is empty")]
    [InlineData("shifts:\n  - timezone: UTC\n    shifts:\n      - { name: \"day shift\", start: \"06:00\" }\n", 4, "shift name 'day shift' may hold letters, digits and _ . -")]
    [InlineData("shifts:\n  - { plants: [flins], timezone: UTC, shifts: [{ name: a, start: \"06:00\" }] }\n  - { plants: [douai, flins], timezone: UTC, shifts: [{ name: b, start: \"06:00\" }] }\n", 3,
        "plant 'flins' already has a shift pattern (at shifts.yaml:2)")]
    [InlineData("shifts:\n  - { timezone: UTC, shifts: [{ name: a, start: \"06:00\" }] }\n  - { timezone: UTC, shifts: [{ name: b, start: \"06:00\" }] }\n", 3,
        "a second shift pattern without 'plants' (the first is at shifts.yaml:2)")]
    [InlineData("shifts:\n  timezone: UTC\n", 2, "shifts must be a list")]
    public void A_bad_shift_definition_fails_naming_the_file_and_line(string yaml, int line, string problem)
    {
        var ex = Assert.Throws<DefinitionException>(() => DefinitionLoader.LoadText(yaml, "shifts.yaml"));

        Assert.Equal("shifts.yaml", ex.File);
        Assert.Equal(line, ex.Line);
        Assert.Contains(problem, ex.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void A_plant_works_the_pattern_that_names_it_and_the_others_the_default_one()
    {
        var shifts = DefinitionLoader.LoadText(ThreeShifts, "usine.yaml").Shifts;

        Assert.Equal(2, shifts.Patterns.Count);
        Assert.Equal("Europe/Paris", shifts.For("douai")!.TimeZone.Id);
        Assert.Equal(["morning", "afternoon", "night"], shifts.For("flins")!.Shifts.Select(s => s.Name));
        Assert.Equal("America/Detroit", shifts.For("warren")!.TimeZone.Id);
        Assert.Same(shifts.Default, shifts.For("warren"));
        Assert.Equal("usine.yaml:2", shifts.For("flins")!.Origin);
        Assert.True(DefinitionLoader.LoadText("models: []", "x.yaml").Shifts.IsEmpty);
    }

    [Fact]
    public void Shifts_follow_the_local_clock_so_the_night_shift_is_shorter_in_spring_and_longer_in_autumn()
    {
        var paris = DefinitionLoader.LoadText(ThreeShifts, "usine.yaml").Shifts.For("flins")!;

        // Clocks go forward on 29 March 2026 at 02:00 and back on 25 October at 03:00: 06:00 local is 05:00 UTC in
        // winter and 04:00 UTC in summer.
        Assert.Equal(
            ["2026-03-28 13:00 afternoon", "2026-03-28 21:00 night", "2026-03-29 04:00 morning", "2026-03-29 12:00 afternoon"],
            Text(paris.Starts(Utc("2026-03-28 15:00"), Utc("2026-03-29 13:00"))));
        Assert.Equal(
            ["2026-10-24 20:00 night", "2026-10-25 05:00 morning", "2026-10-25 13:00 afternoon"],
            Text(paris.Starts(Utc("2026-10-24 20:00"), Utc("2026-10-25 14:00"))));
    }

    [Fact]
    public void A_start_in_the_skipped_hour_begins_at_the_jump_and_one_in_the_repeated_hour_at_its_first_occurrence()
    {
        var defs = DefinitionLoader.LoadText("""
            shifts:
              - timezone: Europe/Paris
                shifts:
                  - { name: early, start: "02:00" }
                  - { name: a, start: "02:30" }
                  - { name: b, start: "12:00" }
            """);
        var pattern = defs.Shifts.Default!;

        // 02:00 and 02:30 do not exist on 29 March: both would begin at 03:00 local (01:00 UTC), and the earlier one
        // then lasts no time, so only 'a' remains.
        Assert.Equal(["2026-03-28 11:00 b", "2026-03-29 01:00 a", "2026-03-29 10:00 b"], Text(pattern.Starts(Utc("2026-03-28 12:00"), Utc("2026-03-29 11:00"))));

        // 02:00 and 02:30 happen twice on 25 October; each begins the first time, under summer time (UTC+2).
        Assert.Equal(["2026-10-25 00:00 early", "2026-10-25 00:30 a", "2026-10-25 11:00 b"], Text(pattern.Starts(Utc("2026-10-25 00:00"), Utc("2026-10-25 12:00"))));
    }

    [Fact]
    public void The_starts_of_a_range_begin_with_the_shift_in_progress_and_stop_before_its_end()
    {
        var detroit = DefinitionLoader.LoadText(ThreeShifts, "usine.yaml").Shifts.Default!;

        // Detroit is UTC-5 in January: the swing shift of 15:30 local starts at 20:30 UTC and runs to 07:00 local.
        Assert.Equal(
            ["2026-01-14 20:30 swing", "2026-01-15 12:00 day"],
            Text(detroit.Starts(Utc("2026-01-15 03:00"), Utc("2026-01-15 20:30"))));
        Assert.Equal(["2026-01-15 12:00 day"], Text(detroit.Starts(Utc("2026-01-15 12:00"), Utc("2026-01-15 12:01"))));
    }
}
