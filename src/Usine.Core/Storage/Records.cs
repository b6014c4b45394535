using System.Globalization;
using Usine.Models;

namespace Usine.Storage;

/// <summary>
/// Reads of records: pages, aggregates (from rollups when they answer), exports and counts. Names of columns come
/// from the model only; every value travels as a parameter.
/// </summary>
public interface IRecordReads
{
    /// <summary>The columns and rollups a model offers to queries; null for an unknown model.</summary>
    ExploreSchema? Schema(string model);

    Task<RecordPage> QueryRecordsAsync(RecordQuery query, IReadOnlySet<string>? plants, CancellationToken cancellationToken);

    Task<AggregateResult> AggregateAsync(AggregateQuery query, IReadOnlySet<string>? plants, CancellationToken cancellationToken);

    /// <summary>Writes every record of <paramref name="model"/> that matches the filter to <paramref name="output"/>, streamed.</summary>
    Task ExportAsync(string model, RecordFilter filter, ExportFormat format, IReadOnlySet<string>? plants, Stream output, CancellationToken cancellationToken);

    /// <summary>Records stored per model.</summary>
    IReadOnlyDictionary<string, long> RecordCounts(IReadOnlySet<string>? plants = null);

    /// <summary>The latest records a source stored in a model, newest first.</summary>
    IReadOnlyList<SourceRecord> SourceRecords(string sourceId, string model, int limit);
}

/// <summary>Comparison operators of a <c>where=FIELD:OP:VALUE</c> filter.</summary>
public enum FilterOp
{
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Like,
}

/// <summary>One filter on a column, its values already parsed by the column's type.</summary>
public sealed record ColumnFilter(string Column, FilterOp Op, IReadOnlyList<object> Values)
{
    /// <summary>A canonical text, so that two equal filters pin the same cursor.</summary>
    public string Canonical => Column + ":" + Op.ToString().ToLowerInvariant() + ":" + string.Join("|", Values.Select(ExploreSchema.Text));
}

/// <summary>Which records a read is about; every part is optional.</summary>
public sealed record RecordFilter
{
    public DateTime? From { get; init; }
    public DateTime? To { get; init; }
    public string? Plant { get; init; }

    /// <summary>The avatar id the records name (a VIN, a machine id).</summary>
    public string? Avatar { get; init; }

    public string? Source { get; init; }
    public IReadOnlyList<ColumnFilter> Where { get; init; } = [];

    public string Canonical => string.Join('\u001f',
        From is { } f ? ExploreSchema.Text(f) : "", To is { } t ? ExploreSchema.Text(t) : "",
        Plant ?? "", Avatar ?? "", Source ?? "", string.Join('\u001e', Where.Select(w => w.Canonical)));
}

public sealed record RecordSort(string Column, bool Descending)
{
    public override string ToString() => (Descending ? "-" : "") + Column;
}

/// <summary>A page of records of one model, in the order of the sort then the record id.</summary>
public sealed record RecordQuery
{
    public required string Model { get; init; }
    public RecordFilter Filter { get; init; } = new();
    public RecordSort Sort { get; init; } = new("event_time", true);
    public int Limit { get; init; } = 100;

    /// <summary>An opaque cursor from a previous page, or null for the first page.</summary>
    public string? Cursor { get; init; }
}

public sealed record RecordPage(IReadOnlyList<IReadOnlyDictionary<string, object?>> Records, string? Next);

/// <summary>Time buckets of an aggregate: a fixed length, calendar months, or the shifts of each plant.</summary>
public sealed record AggregateBucket(string Name, TimeSpan? Length)
{
    /// <summary>One bucket per shift worked: its start, its name and its plant, by the plant's shift pattern.</summary>
    public static readonly AggregateBucket Shift = new("shift", null);

    public static readonly IReadOnlyList<AggregateBucket> All =
    [
        new("1m", TimeSpan.FromMinutes(1)), new("5m", TimeSpan.FromMinutes(5)), new("15m", TimeSpan.FromMinutes(15)),
        new("1h", TimeSpan.FromHours(1)), new("1d", TimeSpan.FromDays(1)), new("1w", TimeSpan.FromDays(7)), new("1mo", null), Shift,
    ];

    public bool IsShift => Name == Shift.Name;

    public bool IsMonth => Length is null && !IsShift;
}

public enum AggregateFunction
{
    Count,
    Sum,
    Avg,
    Min,
    Max,
    P50,
    P90,
    P95,
    P99,
}

/// <summary>One measure: <c>count</c> (of records, <see cref="Field"/> null) or a function of a numeric field.</summary>
public sealed record AggregateMeasure(string? Field, AggregateFunction Function)
{
    public string Name => Field is null ? "count" : Field + "_" + Function.ToString().ToLowerInvariant();

    public bool IsPercentile => Function is AggregateFunction.P50 or AggregateFunction.P90 or AggregateFunction.P95 or AggregateFunction.P99;
}

public enum AggregateSource
{
    /// <summary>From a rollup when one covers the request, from records otherwise.</summary>
    Auto,
    Records,
    Rollup,
}

public sealed record AggregateQuery
{
    public required string Model { get; init; }
    public required AggregateBucket Bucket { get; init; }
    public required IReadOnlyList<AggregateMeasure> Measures { get; init; }
    public IReadOnlyList<string> By { get; init; } = [];
    public RecordFilter Filter { get; init; } = new();
    public AggregateSource Source { get; init; } = AggregateSource.Auto;
}

/// <summary>Buckets in time order (then by group); <see cref="Source"/> is <c>rollup:NAME</c> or <c>records</c>.</summary>
public sealed record AggregateResult(string Source, IReadOnlyList<IReadOnlyDictionary<string, object?>> Buckets);

public enum ExportFormat
{
    Csv,
    Ndjson,
    Parquet,
}

/// <summary>What a model's records table offers to queries: its columns and their types, and its rollups.</summary>
public sealed class ExploreSchema
{
    /// <summary>The columns every record table has, besides the model's fields.</summary>
    public static readonly IReadOnlyList<(string Name, FieldType Type)> SystemColumns =
    [
        ("record_id", FieldType.String), ("plant", FieldType.String), ("avatar_key", FieldType.Int), ("avatar_id", FieldType.String),
        ("context_key", FieldType.Int), ("event_time", FieldType.Timestamp), ("model_version", FieldType.Int), ("source_id", FieldType.String),
        ("stream_id", FieldType.String), ("raw_position", FieldType.Int), ("raw_index", FieldType.Int), ("stored_at", FieldType.Timestamp),
    ];

    public ExploreSchema(string model, IReadOnlyList<FieldDefinition> fields, IReadOnlyList<RollupDefinition> rollups)
    {
        Model = model;
        Fields = fields;
        Rollups = rollups;
        var columns = new Dictionary<string, FieldType>(StringComparer.Ordinal);
        foreach (var (name, type) in SystemColumns)
        {
            columns[name] = type;
        }

        foreach (var f in fields)
        {
            columns.TryAdd(f.Name, f.Type);
        }

        Columns = columns;
    }

    public string Model { get; }

    /// <summary>Every column in table order: the system columns, then the fields of every version.</summary>
    public IReadOnlyDictionary<string, FieldType> Columns { get; }

    public IReadOnlyList<FieldDefinition> Fields { get; }

    public IReadOnlyList<RollupDefinition> Rollups { get; }

    /// <summary>The type of a column, or an <see cref="ArgumentException"/> that names the parameter and the known columns.</summary>
    public FieldType TypeOf(string column, string parameter)
    {
        // record_id is a UUID: it orders pages but is not a useful filter, and comparing it as text would be wrong.
        if (column != "record_id" && Columns.TryGetValue(column, out var type))
        {
            return type;
        }

        throw new ArgumentException($"{parameter}: model '{Model}' has no field '{column}' (fields: {string.Join(", ", Fields.Select(f => f.Name))}; "
            + $"columns: {string.Join(", ", SystemColumns.Skip(1).Select(c => c.Name))})");
    }

    /// <summary>Groups that aggregates derive from outside the record, which a <c>where</c> of an aggregate may also name.</summary>
    public static readonly string[] DerivedColumns = ["@shift", "@shop", "@line", "@station"];

    private static FieldType DerivedType(string column) => DerivedColumns.Contains(column)
        ? FieldType.String
        : throw new ArgumentException($"where: '{column}' is not one of {string.Join(", ", DerivedColumns)}");

    /// <summary>Parses <c>FIELD:OP:VALUE</c>; <c>in</c> takes values separated by <c>|</c>.</summary>
    public ColumnFilter ParseWhere(string spec)
    {
        var first = spec.IndexOf(':', StringComparison.Ordinal);
        var second = first < 0 ? -1 : spec.IndexOf(':', first + 1);
        if (second < 0)
        {
            throw new ArgumentException($"where: '{spec}' is not FIELD:OP:VALUE (for example torque:gt:10 or station:in:ST010|ST020)");
        }

        var column = spec[..first];
        var type = column.StartsWith('@') ? DerivedType(column) : TypeOf(column, "where");
        var opText = spec[(first + 1)..second];
        if (!Enum.TryParse<FilterOp>(opText, ignoreCase: true, out var op) || !opText.All(char.IsAsciiLetter))
        {
            throw new ArgumentException($"where: operator '{opText}' in '{spec}' is not one of eq, ne, lt, le, gt, ge, in, like");
        }

        var text = spec[(second + 1)..];
        if (op == FilterOp.Like && type != FieldType.String)
        {
            throw new ArgumentException($"where: like applies to text fields, and '{column}' is {type.ToString().ToLowerInvariant()}");
        }

        var values = op == FilterOp.In ? text.Split('|') : [text];
        return new ColumnFilter(column, op, [.. values.Select(v => ParseValue(column, type, v, "where"))]);
    }

    public RecordSort ParseSort(string? spec)
    {
        if (string.IsNullOrEmpty(spec))
        {
            return new RecordSort("event_time", true);
        }

        var descending = spec.StartsWith('-');
        var column = descending ? spec[1..] : spec;
        TypeOf(column, "sort");
        return new RecordSort(column, descending);
    }

    /// <summary>A value of a column's type from its text form, or an error naming the parameter.</summary>
    public static object ParseValue(string column, FieldType type, string text, string parameter)
    {
        object? value = type switch
        {
            FieldType.String => text,
            FieldType.Int => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : null,
            FieldType.Double => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null,
            FieldType.Bool => bool.TryParse(text, out var b) ? b : null,
            _ => ParseTime(text),
        };
        return value ?? throw new ArgumentException($"{parameter}: '{text}' is not a valid {type.ToString().ToLowerInvariant()} for '{column}'"
            + (type == FieldType.Timestamp ? " (use ISO 8601, such as 2026-11-26T08:00:00Z)" : ""));
    }

    /// <summary>An ISO 8601 time; without an offset it is UTC.</summary>
    public static DateTime? ParseTime(string text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t.UtcDateTime
            : null;

    public static string Text(object v) => v switch
    {
        DateTime t => t.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };
}

/// <summary>One record about an avatar, from any model.</summary>
public sealed record HistoryRecord(string Model, DateTime Time, string RecordId, IReadOnlyDictionary<string, object?> Values);

/// <summary>One point of a measure of an avatar over time.</summary>
public sealed record MeasurePoint(DateTime Time, double Value);

/// <summary>
/// The points of one series of a measure, oldest first: the records of one avatar that share the values of the
/// model's key fields other than the time and the avatar's own id (the zone of an oven, the station of a
/// vehicle). <see cref="Name"/> is those values ("zone 2"), empty when the key has no such field.
/// </summary>
public sealed record MeasureSeries(string Name, IReadOnlyList<MeasurePoint> Points);

/// <summary>A record as the web UI lists it: its model, times, lineage and values.</summary>
public sealed record SourceRecord(string Model, DateTime Time, DateTime StoredAt, string? AvatarId, long RawPosition, IReadOnlyDictionary<string, object?> Values);

/// <summary>What a rollup rebuild did to one rollup: the whole buckets it recomputed, and the rows it holds for them now.</summary>
public sealed record RollupRebuild(string Rollup, string Table, DateTime From, DateTime To, long RowsBefore, long RowsAfter);

public sealed record RecentRecord(string Model, DateTime Time, IReadOnlyDictionary<string, object?> Values);
