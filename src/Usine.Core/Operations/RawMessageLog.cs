using Usine.Ingestion;

namespace Usine.Operations;

/// <summary>
/// A log of raw messages kept outside the store, which a replay by time range reads instead of the store's raw
/// zone: the JetStream stream of a cluster. It keeps a window of recent messages only; a replay of a range that
/// starts before <see cref="FirstTimeAsync"/> reads the raw zone (or the archive) instead.
/// </summary>
public interface IRawMessageLog
{
    /// <summary>The name a replay gives as its origin (<c>jetstream</c>).</summary>
    string Origin { get; }

    /// <summary>What the log is, for a message: <c>the JetStream stream USINE_RAW</c>.</summary>
    string Description { get; }

    /// <summary>The time from which the log holds every message received; null when it holds none any more.</summary>
    Task<DateTime?> FirstTimeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The messages of a source received in [<paramref name="from"/>, <paramref name="to"/>), grouped by stream in
    /// position order. The CSV header a stream's messages carry is put in <paramref name="csvHeaders"/> before the
    /// first message of that stream is returned.
    /// </summary>
    IAsyncEnumerable<RawZoneMessage> ReadAsync(string sourceId, DateTime from, DateTime to, IDictionary<string, IReadOnlyList<string>> csvHeaders, CancellationToken cancellationToken);
}
