using System.Runtime.CompilerServices;
using Npgsql;
using Usine.Ingestion;
using Usine.Pipeline;

namespace Usine.Storage.Postgres;

/// <summary>The raw zone read back for a replay, and the streams it holds.</summary>
internal sealed class PostgresRawZone(PostgresDatabase db) : PostgresFacet(db), IRawZone
{
    /// <summary>
    /// Records the end of a file import: the data lines the file had and the count it declared, if any
    /// (a producer's own figure, from the import request or a <c>.count</c> file beside a dropped file).
    /// </summary>
    public Task CompleteStreamAsync(string streamId, long lines, long? declared, CancellationToken cancellationToken) =>
        Db.ExecLockedAsync(
            "UPDATE streams SET line_count = $2, declared_count = coalesce($3, declared_count), finished_at = $4 WHERE stream_id = $1", cancellationToken,
            streamId, lines, declared, Now());

    /// <summary>How many raw messages of a source were received in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    public long CountRaw(string sourceId, DateTime from, DateTime to) =>
        Count("SELECT count(*) FROM raw_messages WHERE source_id = $1 AND received_at >= $2 AND received_at < $3", sourceId, from, to);

    /// <summary>
    /// The raw messages of a source received in [<paramref name="from"/>, <paramref name="to"/>), stream by stream in
    /// position order, as they were received.
    /// </summary>
    public async IAsyncEnumerable<RawZoneMessage> ReadRawAsync(string sourceId, DateTime from, DateTime to, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var conn = await Db.Source.OpenConnectionAsync(cancellationToken);
        await using var cmd = conn.CreateCommand();

        // Streamed, not materialized: a range may hold more messages than memory (Npgsql reads rows as they come).

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
        PostgresDatabase.Bind(cmd, [sourceId, from, to]);
        await using var r = await cmd.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            var payload = r.IsDBNull(4) ? [] : (byte[])r.GetValue(4);
            var bytes = r.IsDBNull(5) ? 0 : r.GetInt64(5);
            yield return new RawZoneMessage(sourceId, r.GetString(0),
                new RawMessage(r.GetInt64(1), r.GetDateTime(2), payload, r.IsDBNull(3) ? null : r.GetString(3), bytes > payload.Length ? bytes : 0));
        }
    }

    /// <summary>The header of a CSV stream as its import recorded it; null when none was recorded.</summary>
    public IReadOnlyList<string>? CsvHeader(string streamId) =>
        Read("SELECT csv_header FROM streams WHERE stream_id = $1", r => r.IsDBNull(0) ? null : r.GetString(0), streamId)
            .FirstOrDefault() is { } header ? header.Split('\u001f') : null;

    /// <summary>Records where an import stream comes from, so that its raw lines can be read again (CSV needs its header).</summary>
    public Task RegisterStreamAsync(string streamId, string sourceId, string kind, string? name, IReadOnlyList<string>? csvHeader, CancellationToken cancellationToken) =>
        Db.ExecLockedAsync(
            "INSERT INTO streams (stream_id, source_id, kind, name, csv_header, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (stream_id) DO NOTHING", cancellationToken,
            streamId, sourceId, kind, name, csvHeader is null ? null : string.Join('\u001f', csvHeader), Now());
}
