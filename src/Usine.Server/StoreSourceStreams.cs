using Usine.Sources;
using Usine.Storage.DuckDb;

namespace Usine.Server;

/// <summary>The streams of files and CSV pushes, kept by the DuckDB store (until the store offers them as a facet of its own).</summary>
public sealed class StoreSourceStreams(DuckDbStore store) : ISourceStreams
{
    public Task RegisterStreamAsync(string streamId, string sourceId, string kind, string? name, IReadOnlyList<string>? csvHeader, CancellationToken cancellationToken) =>
        store.RegisterStreamAsync(streamId, sourceId, kind, name, csvHeader, cancellationToken);

    public Task CompleteStreamAsync(string streamId, long lines, long? declared, CancellationToken cancellationToken) =>
        store.CompleteStreamAsync(streamId, lines, declared, cancellationToken);
}
