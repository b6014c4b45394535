using Usine.Calendar;
using Usine.Models;
using static Usine.Storage.SqlRecordFilters;

namespace Usine.Storage;

/// <summary>
/// How an aggregate is planned, whatever the store: its groups, the rollup that covers it if any, the shift starts
/// over its range and the conditions on what it reads. The stores differ only in the SQL they run.
/// </summary>
public static class AggregatePlanning
{
    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>The most shift starts one request may span, all patterns together (three shifts a day for 15 plants is 16,425 a year).</summary>
    public const int MaxShiftStarts = 200_000;

    public static readonly string[] Levels = ["shop", "line", "station"];

    public enum GroupKind
    {
        Plant,
        Field,
        Level,
        Shift,
    }

    /// <summary>One <c>by</c> group: its name as requested (the name of its property in each bucket) and what it reads.</summary>
    public sealed record AggregateGroup(string Name, GroupKind Kind, string Column);

    /// <summary>Shift starts over the request's range, per pattern, and how a record's plant picks its pattern.</summary>
    public sealed record ShiftStarts(string PatternOfPlant, List<int> Pattern, List<DateTime> Start, List<string> Name);

    /// <summary>
    /// <c>plant</c>, a field or column, or a group derived from outside the record: <c>@shop</c>, <c>@line</c>,
    /// <c>@station</c> (the plant hierarchy) and <c>@shift</c>. Without the <c>@</c> these name the derived group
    /// when the model has no field of that name.
    /// </summary>
    public static AggregateGroup ParseGroup(string name, ExploreSchema schema)
    {
        if (name == "plant")
        {
            return new AggregateGroup(name, GroupKind.Plant, "plant");
        }

        var explicitly = name.StartsWith('@');
        var derived = explicitly ? name[1..] : schema.Columns.ContainsKey(name) ? null : name;
        if (derived == "shift")
        {
            return new AggregateGroup(name, GroupKind.Shift, "shift");
        }

        if (derived is not null && Levels.Contains(derived))
        {
            return new AggregateGroup(name, GroupKind.Level, derived);
        }

        if (explicitly)
        {
            throw new ArgumentException($"by: '{name}' is not one of @shop, @line, @station (levels of the plant hierarchy) or @shift");
        }

        schema.TypeOf(name, "by");
        return new AggregateGroup(name, GroupKind.Field, name);
    }

    /// <summary>The shift calendar, or the error that says how to configure it.</summary>
    public static ShiftCalendar ShiftsFor(ShiftCalendar? configured, AggregateQuery q)
    {
        var calendar = configured ?? new ShiftCalendar();
        var parameter = q.Bucket.IsShift ? "bucket" : "by";
        if (calendar.IsEmpty)
        {
            throw new ArgumentException($"{parameter}: no shifts are configured. Add a 'shifts' section to the configuration, such as "
                + "shifts: [{ timezone: Europe/Paris, shifts: [{ name: morning, start: \"06:00\" }, { name: afternoon, start: \"14:00\" }, { name: night, start: \"22:00\" }] }] "
                + "(with 'plants: [...]' for the plants it applies to; without, it applies to every plant), and restart");
        }

        if (q.Filter.Plant is { } plant && calendar.For(plant) is null)
        {
            throw new ArgumentException($"plant: '{plant}' works no shift pattern; add it to the 'plants' of one in the 'shifts' section, or add a pattern without 'plants' for every plant");
        }

        return calendar;
    }

    /// <summary>The shift starts of every pattern the request may meet, and the SQL that gives a record's plant its pattern.</summary>
    public static ShiftStarts Starts(ShiftCalendar calendar, string? plant, DateTime from, DateTime to)
    {
        var patterns = calendar.Patterns;
        var byPlant = new List<string>();
        string? fallback = null;
        for (var i = 0; i < patterns.Count; i++)
        {
            if (patterns[i].IsDefault)
            {
                fallback = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                byPlant.Add($"WHEN plant IN ({string.Join(", ", patterns[i].Plants.Select(Literal))}) THEN {i}");
            }
        }

        var patternOfPlant = byPlant.Count == 0 ? fallback ?? "NULL" : $"CASE {string.Join(" ", byPlant)} ELSE {fallback ?? "NULL"} END";
        var used = Enumerable.Range(0, patterns.Count).Where(i => plant is null || calendar.For(plant) == patterns[i]).ToList();

        // Counted before they are computed, so that a range of centuries costs nothing but the answer.
        if ((to - from).TotalDays * used.Sum(i => patterns[i].Shifts.Count) > MaxShiftStarts)
        {
            throw new ArgumentException($"from: the range holds more than {MaxShiftStarts} shifts; narrow it with from and to");
        }

        var result = new ShiftStarts(patternOfPlant, [], [], []);
        foreach (var i in used)
        {
            foreach (var s in patterns[i].Starts(from, to))
            {
                result.Pattern.Add(i);
                result.Start.Add(s.Start);
                result.Name.Add(s.Name);
            }
        }

        return result;
    }

    /// <summary>
    /// <c>h</c>: for every shop, line and station of the plant scope, the ids of the levels at and above it (from
    /// <c>avatar_levels</c>). A context key that is a plant has no row: its levels are null.
    /// </summary>
    public static IEnumerable<string> HierarchyLevels(IReadOnlySet<string>? plants, SqlArgs args)
    {
        var scope = plants is null ? "" : " WHERE " + PlantCondition("plant", plants, args);
        yield return $"h AS (SELECT context_key AS _ctx, station AS _station, line AS _line, shop AS _shop FROM avatar_levels{scope})";
    }

    /// <summary>The WHERE conditions on the records, or on a rollup (whose group columns hold text).</summary>
    public static List<string> SourceConditions(AggregateQuery q, RollupDefinition? rollup, IReadOnlySet<string>? plants, SqlArgs args)
    {
        if (rollup is null)
        {
            return Conditions(q.Filter, plants, args);
        }

        var conditions = Conditions(q.Filter with { Where = [] }, plants, args, time: "bucket");
        conditions.AddRange(q.Filter.Where.Select(w => Condition(Quote(w.Column), w with { Values = [.. w.Values.Select(v => (object)ExploreSchema.Text(v))] }, args)));
        return conditions;
    }

    /// <summary>Fixed buckets count from 2000-01-03 (a Monday), as DuckDB's time_bucket does: weeks start on Mondays and days at midnight.</summary>
    public static readonly DateTime BucketOrigin = new(2000, 1, 3, 0, 0, 0, DateTimeKind.Utc);

    /// <summary>Whether a rollup answers a filter on a hierarchy level: it keeps the level, and the filter is equality on names.</summary>
    public static bool KeepsLevel(RollupDefinition r, ColumnFilter w) =>
        r.By.Contains(w.Column) && w.Op is FilterOp.Eq or FilterOp.In && w.Values.All(v => v is string { Length: > 0 });

    public static bool Covers(RollupDefinition r, AggregateQuery q, ExploreSchema schema, List<AggregateGroup> groups)
    {
        // Shifts are checked once their starts are known; months are whole days.
        var rollupSeconds = (long)r.Bucket.TotalSeconds;
        var requested = q.Bucket.IsShift ? rollupSeconds : q.Bucket.Length is { } len ? (long)len.TotalSeconds : 86_400;
        if (rollupSeconds <= 0 || requested % rollupSeconds != 0)
        {
            return false;
        }

        bool OnEdge(DateTime? t) => t is null || (t.Value - BucketOrigin).Ticks % r.Bucket.Ticks == 0;
        if (!OnEdge(q.Filter.From) || !OnEdge(q.Filter.To) || q.Filter.Avatar is not null || q.Filter.Source is not null)
        {
            return false;
        }

        // A rollup keeps the groups and the levels of the hierarchy it names in its 'by'.
        var kept = new HashSet<string>(r.By, StringComparer.Ordinal) { "plant" };
        if (!groups.All(g => g.Kind is GroupKind.Plant or GroupKind.Shift || (g.Kind == GroupKind.Field && kept.Contains(g.Column))
            || (g.Kind == GroupKind.Level && kept.Contains("@" + g.Column))))
        {
            return false;
        }

        // A group column of a rollup holds the value as text ('' for none): only equality on text fields means
        // the same thing there as on the records.
        if (!q.Filter.Where.All(w => kept.Contains(w.Column) && w.Op is FilterOp.Eq or FilterOp.In
            && schema.Columns[w.Column] == FieldType.String && w.Values.All(v => v is string { Length: > 0 })))
        {
            return false;
        }

        return q.Measures.All(m =>
        {
            if (m.Field is null)
            {
                return true;
            }

            if (!r.Measures.TryGetValue(m.Field, out var measures))
            {
                return false;
            }

            var count = measures.Contains(Measure.Count) || measures.Contains(Measure.Avg);
            var sum = measures.Contains(Measure.Sum) || measures.Contains(Measure.Avg);
            return m.Function switch
            {
                AggregateFunction.Count => count,
                AggregateFunction.Sum => sum,
                AggregateFunction.Avg => count && sum,
                AggregateFunction.Min => measures.Contains(Measure.Min),
                AggregateFunction.Max => measures.Contains(Measure.Max),
                _ => false,
            };
        });
    }
}
