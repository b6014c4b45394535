using Usine.Ingestion;
using Usine.Sources;

namespace Usine.Storage;

/// <summary>
/// The raw zone read back, for replays, and the streams it holds: an import or a CSV push registers its stream
/// (with the CSV header its lines need to be read again) and, for a file, completes it with its line counts.
/// </summary>
/// <remarks>Registering a stream again changes nothing (<see cref="ISourceStreams"/>, which the connectors see).</remarks>
public interface IRawZone : ISourceStreams
{
    /// <summary>The header of a CSV stream as its import recorded it; null when none was recorded.</summary>
    IReadOnlyList<string>? CsvHeader(string streamId);

    /// <summary>Raw messages of a source received within [from, to).</summary>
    long CountRaw(string sourceId, DateTime from, DateTime to);

    /// <summary>The raw messages of a source received within [from, to), grouped by stream in position order.</summary>
    IAsyncEnumerable<RawZoneMessage> ReadRawAsync(string sourceId, DateTime from, DateTime to, CancellationToken cancellationToken);
}
