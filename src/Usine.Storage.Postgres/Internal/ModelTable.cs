using Usine.Models;

namespace Usine.Storage.Postgres.Internal;

/// <summary>A record table: the union of the columns of every version, and per version where its fields go.</summary>
internal sealed class ModelTable
{
    public required string Name { get; init; }
    public required IReadOnlyList<FieldDefinition> Columns { get; init; }
    public required Dictionary<int, int[]> ColumnToField { get; init; }
    public required DataModel Latest { get; init; }

    /// <summary>Whether the event time is part of the natural key, so that a record id always lands in the same partition.</summary>
    public required bool TimeInKey { get; init; }

    /// <summary>The staging table's columns in COPY order.</summary>
    public required string StageColumns { get; init; }

    /// <summary>
    /// One statement that moves the staged batch into the record table, skipping records stored already, and adds
    /// what it inserted to every rollup; it returns the number of records inserted. $1..$4: model version, source,
    /// stream, storage time.
    /// </summary>
    public required string InsertSql { get; init; }

    /// <summary>Each rollup with its table and the statement that adds records to it, where they come from as <c>{0}</c>.</summary>
    public required List<(RollupDefinition Definition, string Table, string Sql)> Rollups { get; init; }
}
