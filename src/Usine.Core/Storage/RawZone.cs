using Usine.Ingestion;

namespace Usine.Storage;

/// <summary>
/// The raw zone read back, for replays, and the streams it holds: an import or a CSV push registers its stream
/// (with the CSV header its lines need to be read again) and, for a file, completes it with its line counts.
/// </summary>
public interface IRawZone
{
    /// <summary>Records where a stream comes from; registering it again changes nothing.</summary>
    Task RegisterStreamAsync(string streamId, string sourceId, string kind, string? name, IReadOnlyList<string>? csvHeader, CancellationToken cancellationToken);

    /// <summary>Records the end of a file import: the data lines the file had and the count it declared, if any.</summary>
    Task CompleteStreamAsync(string streamId, long lines, long? declared, CancellationToken cancellationToken);

    /// <summary>The header of a CSV stream as its import recorded it; null when none was recorded.</summary>
    IReadOnlyList<string>? CsvHeader(string streamId);

    /// <summary>Raw messages of a source received within [from, to).</summary>
    long CountRaw(string sourceId, DateTime from, DateTime to);

    /// <summary>The raw messages of a source received within [from, to), grouped by stream in position order.</summary>
    IAsyncEnumerable<RawZoneMessage> ReadRawAsync(string sourceId, DateTime from, DateTime to, CancellationToken cancellationToken);
}
