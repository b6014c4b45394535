namespace Usine.Storage.DuckDb;

/// <summary>
/// Lineage below the raw message: a payload may decode to several messages, so records and dead letters keep the
/// index of theirs beside the raw position, and the hourly counters keep how many messages the raw ones decoded to.
/// </summary>
public sealed partial class DuckDbStore
{
    /// <summary>The columns lineage needs, added to stores written before payloads could hold several messages.</summary>
    private void InitializeLineage()
    {
        // A letter of a payload that could not be decoded at all has no index; so has every letter written before.
        // The counters of hours written before count one message per raw message.
        Exec("""
            ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS raw_index INTEGER;
            ALTER TABLE source_hours ADD COLUMN IF NOT EXISTS decoded BIGINT;
            UPDATE source_hours SET decoded = landed WHERE decoded IS NULL;
            """);
    }

    /// <summary>Adds <c>raw_index</c> to a record table written before records kept it: each was the only message of its raw message.</summary>
    private void AddRawIndex(string table, Dictionary<string, string> existing)
    {
        if (!existing.ContainsKey("raw_index"))
        {
            Exec($"ALTER TABLE {table} ADD COLUMN raw_index INTEGER DEFAULT 0");
            Exec($"ALTER TABLE {table} ALTER COLUMN raw_index SET NOT NULL");
        }
    }
}
