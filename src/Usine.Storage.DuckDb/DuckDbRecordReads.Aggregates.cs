using Usine.Calendar;
using Usine.Models;
using Usine.Storage.DuckDb.Internal;
using static Usine.Storage.AggregatePlanning;

namespace Usine.Storage.DuckDb;

/// <summary>
/// Aggregates per time bucket (or shift) and group, from a rollup when one covers the request, from the records
/// otherwise, with the same arithmetic so that both give the same answer.
/// </summary>
/// <remarks>
/// Groups derived from outside the record are joined in: the plant hierarchy through the record's
/// <c>context_key</c> (a small table of the shops, lines and stations), the shift calendar through an ASOF join
/// on a list of shift starts computed for the range. Derived columns are named with a leading underscore, which
/// no field name may have, so that they never clash with a model's fields.
/// </remarks>
internal sealed partial class DuckDbRecordReads
{
    /// <summary>
    /// Aggregates per time bucket and group. A rollup serves the request when its buckets nest in the requested
    /// ones, the time range falls on its bucket edges, it keeps the groups and measures asked for, and no filter
    /// needs a column it lacks; with shifts, every shift start must fall on its bucket edges too. Otherwise the
    /// records do, with the same arithmetic, so both give the same answer.
    /// </summary>
    public Task<AggregateResult> AggregateAsync(AggregateQuery q, IReadOnlySet<string>? plants, CancellationToken cancellationToken)
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
            var calendar = ShiftsFor(Db.Definitions?.Shifts, q);
            if (ShiftRange(q, t, rollup, plants, cancellationToken) is not { } range)
            {
                // Nothing matches: there is no shift to compute.
                return Task.FromResult(new AggregateResult(rollup is null ? "records" : "rollup:" + rollup.Name, []));
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
            ctes.Add($"s AS (SELECT unnest({args.Add(shifts.Pattern)}) AS _pattern, unnest({args.Add(shifts.Start)}) AS _start, unnest({args.Add(shifts.Name)}) AS _shift)");
            from += $" ASOF JOIN s ON r._pattern = s._pattern AND r.{time} >= s._start";
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
                _ when rollup is null => $"coalesce(CAST(r.{Sql.Quote(g.Column)} AS VARCHAR), '')",
                _ => "r." + Sql.Quote(g.Column),
            };
            select.Add($"{expression} AS {Sql.Quote(g.Name)}");
            order.Add(Sql.Quote(g.Name));
        }

        select.AddRange(q.Measures.Select(m => (rollup is null ? RecordMeasure(m) : RollupMeasure(m)) + " AS " + Sql.Quote(m.Name)));
        var with = ctes.Count == 0 ? "" : "WITH " + string.Join(", ", ctes) + " ";
        var sql = $"{with}SELECT {string.Join(", ", select)} FROM {from}{WhereClause(outer)} GROUP BY ALL ORDER BY {string.Join(", ", order.Distinct())}";
        var rows = ReadRows(sql, args, cancellationToken);
        return Task.FromResult(new AggregateResult(rollup is null ? "records" : "rollup:" + rollup.Name, rows));
    }

    /// <summary>
    /// The time range the shift starts must cover: the request's, completed by the earliest and latest time of
    /// the data it reads where it is open. Null when the request matches nothing.
    /// </summary>
    private (DateTime From, DateTime To)? ShiftRange(AggregateQuery q, ModelTable t, RollupDefinition? rollup, IReadOnlySet<string>? plants, CancellationToken cancellationToken)
    {
        if (q.Filter.From is { } from && q.Filter.To is { } to)
        {
            return (from, to);
        }

        var args = new SqlArgs();
        var time = rollup is null ? "event_time" : "bucket";
        var table = rollup is null ? Sql.RecordTable(t.Name) : Sql.RollupTable(t.Name, rollup);
        var row = ReadRows($"SELECT min({time}) AS lo, max({time}) AS hi FROM {table}{WhereClause(SourceConditions(q, rollup, plants, args))}", args, cancellationToken)[0];
        if (row["lo"] is not DateTime lo || row["hi"] is not DateTime hi)
        {
            return null;
        }

        // The last record is in the range, and so is all of the last rollup bucket.
        var end = rollup is null ? hi.AddTicks(1) : hi + rollup.Bucket;
        return (q.Filter.From ?? lo, q.Filter.To ?? end);
    }

    private static string BucketExpression(AggregateBucket b, string column) => b.Length is { } len
        ? $"time_bucket(INTERVAL {(long)len.TotalSeconds} SECOND, {column})"
        : $"date_trunc('month', {column})";

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
            AggregateFunction.Sum => $"CAST(coalesce(sum({f}), 0) AS DOUBLE)",
            AggregateFunction.Avg => $"CAST(sum({f}) AS DOUBLE) / nullif(count({f}), 0)",
            AggregateFunction.Min => $"CAST(min({f}) AS DOUBLE)",
            AggregateFunction.Max => $"CAST(max({f}) AS DOUBLE)",
            AggregateFunction.P50 => $"quantile_cont({f}, 0.5)",
            AggregateFunction.P90 => $"quantile_cont({f}, 0.9)",
            AggregateFunction.P95 => $"quantile_cont({f}, 0.95)",
            _ => $"quantile_cont({f}, 0.99)",
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
            AggregateFunction.Sum => $"CAST(sum({C("_sum")}) AS DOUBLE)",
            AggregateFunction.Avg => $"CAST(sum({C("_sum")}) AS DOUBLE) / nullif(sum({C("_count")}), 0)",
            AggregateFunction.Min => $"min({C("_min")})",
            _ => $"max({C("_max")})",
        };
    }
}
