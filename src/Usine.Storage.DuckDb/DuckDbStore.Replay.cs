using System.Runtime.CompilerServices;
using Usine.Avatars;
using Usine.Ingestion;
using Usine.Pipeline;

namespace Usine.Storage.DuckDb;

/// <summary>Reading the raw zone back for a replay, and the link events a replay may add.</summary>
public sealed partial class DuckDbStore
{
    /// <summary>How many raw messages of a source were received in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public long CountRaw(string sourceId, DateTime from, DateTime to) =>
        Count("SELECT count(*) FROM raw_messages WHERE source_id = $1 AND received_at >= $2 AND received_at < $3", sourceId, from, to);

    /// <summary>
    /// The raw messages of a source received in [<paramref name="from"/>, <paramref name="to"/>), stream by stream in
    /// position order, as they were received.
    /// </summary>
    public async IAsyncEnumerable<RawZoneMessage> ReadRawAsync(string sourceId, DateTime from, DateTime to, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var conn = OpenReader();
        using var cmd = conn.CreateCommand();

        // Streamed, not materialized: a range may hold more messages than memory.
        cmd.UseStreamingMode = true;

        // The raw zone keeps a payload far over the size limit cut short; its dead letter knows the size it had,
        // and the pipeline needs it to fail the message for the same reason as the first time.
        cmd.CommandText = """
            SELECT r.stream_id, r.position, r.received_at, r.topic, r.payload, d.bytes
            FROM raw_messages r
            LEFT JOIN (SELECT stream_id, position, max(payload_bytes) AS bytes FROM dead_letters WHERE source_id = $1 GROUP BY stream_id, position) d
              ON d.stream_id = r.stream_id AND d.position = r.position
            WHERE r.source_id = $1 AND r.received_at >= $2 AND r.received_at < $3
            ORDER BY r.stream_id, r.position
            """;
        cmd.Parameters.Add(new DuckDB.NET.Data.DuckDBParameter(sourceId));
        cmd.Parameters.Add(new DuckDB.NET.Data.DuckDBParameter(from));
        cmd.Parameters.Add(new DuckDB.NET.Data.DuckDBParameter(to));
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var payload = r.IsDBNull(4) ? [] : ReadBlob(r, 4);
            var bytes = r.IsDBNull(5) ? 0 : r.GetInt64(5);
            yield return new RawZoneMessage(sourceId, r.GetString(0),
                new RawMessage(r.GetInt64(1), Utc(r.GetDateTime(2)), payload, r.IsDBNull(3) ? null : r.GetString(3), bytes > payload.Length ? bytes : 0));
        }

        await Task.CompletedTask;
    }

    /// <summary>The header of a CSV stream as its import recorded it; null when none was recorded.</summary>
    public IReadOnlyList<string>? CsvHeader(string streamId) =>
        Read("SELECT csv_header FROM streams WHERE stream_id = $1", r => r.IsDBNull(0) ? null : r.GetString(0), streamId)
            .FirstOrDefault() is { } header ? header.Split('\u001f') : null;

    /// <summary>
    /// Adds the link events of a replay that change something: an event is left out when the link in effect just
    /// before it (stored, or earlier in the batch) already points to the same avatar. An event stored already is
    /// such a case, and so is one the first run did not record because the link did not change then.
    /// </summary>
    private void InsertNewLinks(IReadOnlyList<AvatarLinkEvent> links)
    {
        Exec("DELETE FROM replay_links");
        using (var app = Writer.CreateAppender("replay_links"))
        {
            foreach (var l in links)
            {
                app.CreateRow().AppendValue(l.FromKey).AppendValue(l.Kind).AppendValue(l.ToKey).AppendValue(l.At).AppendValue(l.SourceId).EndRow();
            }
        }

        Exec("""
            INSERT INTO avatar_link_events
            SELECT from_key, kind, to_key, linked_at, source_id FROM (
                SELECT *, lag(to_key) OVER (PARTITION BY from_key, kind ORDER BY linked_at, is_new, to_key) AS previous
                FROM (
                    SELECT from_key, kind, to_key, linked_at, source_id, 0 AS is_new FROM avatar_link_events
                    WHERE from_key IN (SELECT from_key FROM replay_links)
                    UNION ALL
                    SELECT DISTINCT from_key, kind, to_key, linked_at, source_id, 1 AS is_new FROM replay_links))
            WHERE is_new = 1 AND previous IS DISTINCT FROM to_key
            """);
    }
}
