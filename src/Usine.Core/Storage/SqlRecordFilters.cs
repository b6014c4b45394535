namespace Usine.Storage;

/// <summary>
/// The parameters of one SQL statement, numbered <c>$1</c>, <c>$2</c>... as both DuckDB and PostgreSQL take them;
/// each store binds <see cref="Values"/> with its own driver.
/// </summary>
public sealed class SqlArgs
{
    public List<object?> Values { get; } = [];

    /// <summary>Adds a value and returns its placeholder.</summary>
    public string Add(object? value)
    {
        Values.Add(value);
        return "$" + Values.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// The WHERE conditions of record reads, in the SQL the stores share: names of columns come from the model only,
/// quoted; every value travels as a parameter.
/// </summary>
public static class SqlRecordFilters
{
    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static string PlantCondition(string column, IReadOnlySet<string> plants, SqlArgs args) =>
        plants.Count == 0 ? "FALSE" : $"{column} IN ({string.Join(", ", plants.Order(StringComparer.Ordinal).Select(args.Add))})";

    /// <summary>The WHERE conditions of a record filter on a record table (alias-free).</summary>
    public static List<string> Conditions(RecordFilter f, IReadOnlySet<string>? plants, SqlArgs args, string time = "event_time")
    {
        var c = new List<string>();
        if (f.From is { } from)
        {
            c.Add($"{time} >= {args.Add(from)}");
        }

        if (f.To is { } to)
        {
            c.Add($"{time} < {args.Add(to)}");
        }

        if (f.Plant is { } plant)
        {
            c.Add($"plant = {args.Add(plant)}");
        }

        if (plants is not null)
        {
            c.Add(PlantCondition("plant", plants, args));
        }

        if (f.Avatar is { } avatar)
        {
            c.Add($"avatar_id = {args.Add(avatar)}");
        }

        if (f.Source is { } source)
        {
            c.Add($"source_id = {args.Add(source)}");
        }

        foreach (var w in f.Where)
        {
            if (w.Column.StartsWith('@'))
            {
                throw new ArgumentException($"where: {w.Column} is derived from the shift calendar or the plant hierarchy, which aggregates read (GET /api/models/MODEL/aggregate); records and exports are filtered by their own fields");
            }

            c.Add(Condition(Quote(w.Column), w, args));
        }

        return c;
    }

    public static string Condition(string column, ColumnFilter w, SqlArgs args) => w.Op switch
    {
        FilterOp.Eq => $"{column} = {args.Add(w.Values[0])}",
        FilterOp.Ne => $"{column} <> {args.Add(w.Values[0])}",
        FilterOp.Lt => $"{column} < {args.Add(w.Values[0])}",
        FilterOp.Le => $"{column} <= {args.Add(w.Values[0])}",
        FilterOp.Gt => $"{column} > {args.Add(w.Values[0])}",
        FilterOp.Ge => $"{column} >= {args.Add(w.Values[0])}",
        FilterOp.In => $"{column} IN ({string.Join(", ", w.Values.Select(args.Add))})",
        _ => $"{column} LIKE {args.Add(w.Values[0])}",
    };

    public static string WhereClause(List<string> conditions) => conditions.Count == 0 ? "" : " WHERE " + string.Join(" AND ", conditions);

    public static void CheckRange(RecordFilter f)
    {
        if (f.From is { } from && f.To is { } to && from >= to)
        {
            throw new ArgumentException($"from: {ExploreSchema.Text(from)} is not before to ({ExploreSchema.Text(to)})");
        }
    }

    /// <summary>A WHERE clause keeping rows to the plants; nothing for every plant.</summary>
    public static string InPlants(IReadOnlySet<string>? plants) => plants is null
        ? ""
        : plants.Count == 0 ? " WHERE FALSE" : $" WHERE plant IN ({string.Join(", ", plants.Order(StringComparer.Ordinal).Select(Literal))})";

    /// <summary>Text for a LIKE pattern that matches it literally, with <c>\</c> as the escape character.</summary>
    public static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    /// <summary>
    /// The WHERE clause of the dead letters a filter selects, its values appended to <paramref name="args"/> (which may
    /// hold values before, numbered first); <c>dead_letter_rule(stage, reason)</c> is each store's SQL function.
    /// </summary>
    public static string DeadLetterWhere(DeadLetterFilter f, List<object?> args)
    {
        var where = new List<string>();
        void Add(string condition, object? value)
        {
            if (value is not null)
            {
                args.Add(value);
                where.Add(string.Format(System.Globalization.CultureInfo.InvariantCulture, condition, "$" + args.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
        }

        Add("source_id = {0}", f.Source);
        Add("stage = {0}", f.Stage?.ToLowerInvariant());
        Add("status = {0}", f.Status?.ToLowerInvariant());
        Add("strpos(lower(reason), lower({0})) > 0", f.Reason);
        Add("dead_letter_rule(stage, reason) = {0}", f.Rule);
        Add("received_at >= {0}", f.From);
        Add("received_at < {0}", f.To);
        if (f.Ids is { } ids)
        {
            where.Add(ids.Count == 0 ? "FALSE" : $"id IN ({string.Join(", ", ids.Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)))})");
        }

        var inSources = f.Sources is { } sources
            ? (sources.Count == 0 ? "FALSE" : $"source_id IN ({string.Join(", ", sources.Order(StringComparer.Ordinal).Select(Literal))})")
            : null;
        if (f.Plants is { } plants)
        {
            // A letter whose plant is known belongs to it; one that could not be read belongs to its source's fixed plant.
            var inPlants = plants.Count == 0 ? "FALSE" : $"plant IN ({string.Join(", ", plants.Order(StringComparer.Ordinal).Select(Literal))})";
            where.Add($"({inPlants} OR (plant IS NULL AND {inSources ?? "FALSE"}))");
        }
        else if (inSources is not null)
        {
            where.Add(inSources);
        }

        return where.Count > 0 ? " WHERE " + string.Join(" AND ", where) : "";
    }
}
