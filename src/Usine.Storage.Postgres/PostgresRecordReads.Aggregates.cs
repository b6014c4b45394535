using Usine.Calendar;
using Usine.Models;
using Usine.Storage.Postgres.Internal;

namespace Usine.Storage.Postgres;

/// <summary>
/// Aggregates per time bucket (or shift) and group, from a rollup when one covers the request, from the records
/// otherwise, with the same arithmetic so that both give the same answer.
/// </summary>
/// <remarks>
/// Groups derived from outside the record are joined in: the plant hierarchy through the record's
/// <c>context_key</c> (a small table of the shops, lines and stations), the shift calendar through a lateral join
/// on a list of shift starts computed for the range. Derived columns are named with a leading underscore, which
/// no field name may have, so that they never clash with a model's fields.
/// </remarks>
internal sealed partial class PostgresRecordReads
{
    private const int MaxShiftStarts = 200_000;

    private static readonly string[] Levels = ["shop", "line", "station"];

    private enum GroupKind
    {
        Plant,
        Field,
        Level,
        Shift,
    }

    /// <summary>One <c>by</c> group: its name as requested (the name of its property in each bucket) and what it reads.</summary>
    private sealed record AggregateGroup(string Name, GroupKind Kind, string Column);

    /// <summary>Shift starts over the request's range, per pattern, and how a record's plant picks its pattern.</summary>
    private sealed record ShiftStarts(string PatternOfPlant, List<int> Pattern, List<DateTime> Start, List<string> Name);

    /// <summary>
    /// Aggregates per time bucket and group. A rollup serves the request when its buckets nest in the requested
    /// ones, the time range falls on its bucket edges, it keeps the groups and measures asked for, and no filter
    /// needs a column it lacks; with shifts, every shift start must fall on its bucket edges too. Otherwise the
    /// records do, with the same arithmetic, so both give the same answer.
    /// </summary>
    public async Task<AggregateResult> AggregateAsync(AggregateQuery q, IReadOnlySet<string>? plants, CancellationToken cancellationToken)
    {
        CheckRange(q.Filter);
        var t = Table(q.Model);
        var schema = Schema(q.Model)!;
        if (q.Measures.Count == 0)
        {
            throw new ArgumentException("measures: name at least one, such as count or torque:avg");
        }

        foreach (var m in q.Measures.Where(m => m.Field is not null))
        {
            var type = schema.TypeOf(m.Field!, "measures");
            if (type is not (FieldType.Int or FieldType.Double))
            {
                throw new ArgumentException($"measures: '{m.Field}' is {type.ToString().ToLowerInvariant()}; {m.Function.ToString().ToLowerInvariant()} needs a number field");
            }
        }

        // Filters on derived groups (@shift, @line...) apply after the shift calendar and the hierarchy are joined;
        // the others go to the table read.
        var derived = q.Filter.Where.Where(w => w.Column.StartsWith('@')).ToList();
        q = q with { Filter = q.Filter with { Where = [.. q.Filter.Where.Where(w => !w.Column.StartsWith('@'))] } };
        var groups = q.By.Select(b => ParseGroup(b, schema)).ToList();
        var levelFilter = derived.Any(w => w.Column != "@shift");
        var shiftFilter = derived.Any(w => w.Column == "@shift");
        if (q.Bucket.IsShift && groups.FirstOrDefault(g => g.Kind == GroupKind.Field && g.Name == "shift") is not null)
        {
            throw new ArgumentException("by: 'shift' is a field of model '" + q.Model + "', and with bucket=shift every bucket has a 'shift' already (the shift's name); group by another field");
        }

        // A filter on a hierarchy level needs a rollup that keeps that level, or the records.
        var rollup = q.Source == AggregateSource.Records ? null
            : t.Latest.Rollups.FirstOrDefault(r => Covers(r, q, schema, groups) && derived.All(w => w.Column == "@shift" || KeepsLevel(r, w)));
        ShiftStarts? shifts = null;
        if (q.Bucket.IsShift || shiftFilter || groups.Any(g => g.Kind == GroupKind.Shift))
        {
            var calendar = ShiftsFor(q);
            if (await ShiftRangeAsync(q, t, rollup, plants, cancellationToken) is not { } range)
            {
                // Nothing matches: there is no shift to compute.
                return new AggregateResult(rollup is null ? "records" : "rollup:" + rollup.Name, []);
            }

            shifts = Starts(calendar, q.Filter.Plant, range.From, range.To);
            if (rollup is not null && !shifts.Start.All(s => (s - BucketOrigin).Ticks % rollup.Bucket.Ticks == 0))
            {
                rollup = null;
            }
        }

        if (q.Source == AggregateSource.Rollup && rollup is null)
        {
            throw new ArgumentException("source: no rollup of model '" + q.Model + "' covers this request (bucket, by, measures, filters, a range on its bucket edges, "
                + "and shift starts on its bucket edges); use source=auto or source=records");
        }

        var args = new SqlArgs();
        var time = rollup is null ? "event_time" : "bucket";
        var table = rollup is null ? Sql.RecordTable(t.Name) : Sql.RollupTable(t.Name, rollup);
        var inner = $"SELECT *{(shifts is null ? "" : $", {shifts.PatternOfPlant} AS _pattern")} FROM {table}{WhereClause(SourceConditions(q, rollup, plants, args))}";
        var ctes = new List<string>();
        var from = $"({inner}) r";
        if (shifts is not null)
        {
            ctes.Add($"s AS (SELECT * FROM unnest({args.Add(shifts.Pattern.ToArray())}::integer[], {args.Add(shifts.Start.ToArray())}::timestamptz[], {args.Add(shifts.Name.ToArray())}::text[]) AS u(_pattern, _start, _shift))");

            // The shift a record falls in is the latest start of its plant's pattern at or before its time.
            from += $" CROSS JOIN LATERAL (SELECT x._start, x._shift FROM s x WHERE x._pattern = r._pattern AND x._start <= r.{time} ORDER BY x._start DESC LIMIT 1) s";
        }

        // From the records, levels come from the hierarchy; a rollup keeps them as text, '' for none.
        if (rollup is null && (levelFilter || groups.Any(g => g.Kind == GroupKind.Level)))
        {
            ctes.AddRange(HierarchyLevels(plants, args));
            from += " LEFT JOIN h ON h._ctx = r.context_key";
        }

        var outer = derived.Select(w => Condition(w.Column == "@shift" ? "s._shift" : rollup is null ? "h._" + w.Column[1..] : "r." + Sql.Quote(w.Column), w, args)).ToList();

        var select = new List<string>();
        var order = new List<string> { "bucket" };
        if (q.Bucket.IsShift)
        {
            select.Add("s._start AS bucket");
            select.Add("s._shift AS shift");
            if (groups.All(g => g.Kind != GroupKind.Plant))
            {
                select.Add("r.plant AS plant");
            }

            order.AddRange(["plant", "shift"]);
        }
        else
        {
            select.Add(BucketExpression(q.Bucket, "r." + time) + " AS bucket");
        }

        foreach (var g in groups)
        {
            var expression = g.Kind switch
            {
                GroupKind.Plant => "r.plant",
                GroupKind.Level when rollup is null => "h._" + g.Column,
                GroupKind.Level => $"nullif(r.{Sql.Quote("@" + g.Column)}, '')",
                GroupKind.Shift => "s._shift",
                _ when rollup is null => $"coalesce(CAST(r.{Sql.Quote(g.Column)} AS text), '')",
                _ => "r." + Sql.Quote(g.Column),
            };
            select.Add($"{expression} AS {Sql.Quote(g.Name)}");
            order.Add(Sql.Quote(g.Name));
        }

        var groupBy = string.Join(", ", Enumerable.Range(1, select.Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        select.AddRange(q.Measures.Select(m => (rollup is null ? RecordMeasure(m) : RollupMeasure(m)) + " AS " + Sql.Quote(m.Name)));
        var with = ctes.Count == 0 ? "" : "WITH " + string.Join(", ", ctes) + " ";
        var sql = $"{with}SELECT {string.Join(", ", select)} FROM {from}{WhereClause(outer)} GROUP BY {groupBy} ORDER BY {string.Join(", ", order.Distinct())}";
        var rows = await ReadRowsAsync(sql, args, cancellationToken);
        return new AggregateResult(rollup is null ? "records" : "rollup:" + rollup.Name, rows);
    }

    /// <summary>
    /// <c>plant</c>, a field or column, or a group derived from outside the record: <c>@shop</c>, <c>@line</c>,
    /// <c>@station</c> (the plant hierarchy) and <c>@shift</c>. Without the <c>@</c> these name the derived group
    /// when the model has no field of that name.
    /// </summary>
    private static AggregateGroup ParseGroup(string name, ExploreSchema schema)
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
    private ShiftCalendar ShiftsFor(AggregateQuery q)
    {
        var calendar = Db.Definitions?.Shifts ?? new ShiftCalendar();
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

    /// <summary>
    /// The time range the shift starts must cover: the request's, completed by the earliest and latest time of
    /// the data it reads where it is open. Null when the request matches nothing.
    /// </summary>
    private async Task<(DateTime From, DateTime To)?> ShiftRangeAsync(AggregateQuery q, ModelTable t, RollupDefinition? rollup, IReadOnlySet<string>? plants, CancellationToken cancellationToken)
    {
        if (q.Filter.From is { } from && q.Filter.To is { } to)
        {
            return (from, to);
        }

        var args = new SqlArgs();
        var time = rollup is null ? "event_time" : "bucket";
        var table = rollup is null ? Sql.RecordTable(t.Name) : Sql.RollupTable(t.Name, rollup);
        var row = (await ReadRowsAsync($"SELECT min({time}) AS lo, max({time}) AS hi FROM {table}{WhereClause(SourceConditions(q, rollup, plants, args))}", args, cancellationToken))[0];
        if (row["lo"] is not DateTime lo || row["hi"] is not DateTime hi)
        {
            return null;
        }

        // The last record is in the range, and so is all of the last rollup bucket.
        var end = rollup is null ? hi.AddTicks(1) : hi + rollup.Bucket;
        return (q.Filter.From ?? lo, q.Filter.To ?? end);
    }

    /// <summary>The shift starts of every pattern the request may meet, and the SQL that gives a record's plant its pattern.</summary>
    private static ShiftStarts Starts(ShiftCalendar calendar, string? plant, DateTime from, DateTime to)
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
                byPlant.Add($"WHEN plant IN ({string.Join(", ", patterns[i].Plants.Select(Sql.Literal))}) THEN {i}");
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
    private static IEnumerable<string> HierarchyLevels(IReadOnlySet<string>? plants, SqlArgs args)
    {
        var scope = plants is null ? "" : " WHERE " + PlantCondition("plant", plants, args);
        yield return $"h AS (SELECT context_key AS _ctx, station AS _station, line AS _line, shop AS _shop FROM avatar_levels{scope})";
    }

    /// <summary>The WHERE conditions on the records, or on a rollup (whose group columns hold text).</summary>
    private static List<string> SourceConditions(AggregateQuery q, RollupDefinition? rollup, IReadOnlySet<string>? plants, SqlArgs args)
    {
        if (rollup is null)
        {
            return Conditions(q.Filter, plants, args);
        }

        var conditions = Conditions(q.Filter with { Where = [] }, plants, args, time: "bucket");
        conditions.AddRange(q.Filter.Where.Select(w => Condition(Sql.Quote(w.Column), w with { Values = [.. w.Values.Select(v => (object)ExploreSchema.Text(v))] }, args)));
        return conditions;
    }

    // Fixed buckets count from 2000-01-03 (a Monday): weeks start on Mondays and days at midnight.
    private static readonly DateTime BucketOrigin = new(2000, 1, 3, 0, 0, 0, DateTimeKind.Utc);

    private static string BucketExpression(AggregateBucket b, string column) => b.Length is { } len
        ? Sql.Bucket(len, column)
        : $"date_trunc('month', {column}, 'UTC')";

    /// <summary>Whether a rollup answers a filter on a hierarchy level: it keeps the level, and the filter is equality on names.</summary>
    private static bool KeepsLevel(RollupDefinition r, ColumnFilter w) =>
        r.By.Contains(w.Column) && w.Op is FilterOp.Eq or FilterOp.In && w.Values.All(v => v is string { Length: > 0 });

    private static bool Covers(RollupDefinition r, AggregateQuery q, ExploreSchema schema, List<AggregateGroup> groups)
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

    // Rollups keep sums and counts and divide at read time; the records path does the same arithmetic
    // (sum / count rather than avg) so that both paths give the same figures.
    private static string RecordMeasure(AggregateMeasure m)
    {
        if (m.Field is null)
        {
            return "count(*)";
        }

        var f = Sql.Quote(m.Field);
        return m.Function switch
        {
            AggregateFunction.Count => $"count({f})",
            AggregateFunction.Sum => $"CAST(coalesce(sum({f}), 0) AS double precision)",
            AggregateFunction.Avg => $"CAST(sum({f}) AS double precision) / nullif(count({f}), 0)",
            AggregateFunction.Min => $"CAST(min({f}) AS double precision)",
            AggregateFunction.Max => $"CAST(max({f}) AS double precision)",
            AggregateFunction.P50 => $"percentile_cont(0.5) WITHIN GROUP (ORDER BY {f})",
            AggregateFunction.P90 => $"percentile_cont(0.9) WITHIN GROUP (ORDER BY {f})",
            AggregateFunction.P95 => $"percentile_cont(0.95) WITHIN GROUP (ORDER BY {f})",
            _ => $"percentile_cont(0.99) WITHIN GROUP (ORDER BY {f})",
        };
    }

    private static string RollupMeasure(AggregateMeasure m)
    {
        if (m.Field is null)
        {
            return "CAST(sum(n) AS BIGINT)";
        }

        string C(string suffix) => Sql.Quote(m.Field + suffix);
        return m.Function switch
        {
            AggregateFunction.Count => $"CAST(sum({C("_count")}) AS BIGINT)",
            AggregateFunction.Sum => $"CAST(sum({C("_sum")}) AS double precision)",
            AggregateFunction.Avg => $"CAST(sum({C("_sum")}) AS double precision) / nullif(sum({C("_count")}), 0)",
            AggregateFunction.Min => $"min({C("_min")})",
            _ => $"max({C("_max")})",
        };
    }
}
