using Usine.Models;

namespace Usine.Storage.DuckDb.Internal;

/// <summary>A record table: the union of the columns of every version, and per version where its fields go.</summary>
internal sealed class ModelTable
{
    public required string Name { get; init; }
    public required IReadOnlyList<FieldDefinition> Columns { get; init; }
    public required Dictionary<int, int[]> ColumnToField { get; init; }
    public required DataModel Latest { get; init; }
    public required string DedupSql { get; init; }
    public required string InsertSql { get; init; }
    public required List<string> RollupSql { get; init; }

    /// <summary>Each rollup with its table and the statement that adds records to it, where they come from as <c>{0}</c>.</summary>
    public required List<(RollupDefinition Definition, string Table, string Sql)> Rollups { get; init; }
}
