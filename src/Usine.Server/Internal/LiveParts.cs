namespace Usine.Server.Internal;

/// <summary>
/// What the platform shows of the parts running sources follow (<see cref="ILiveSourceParts"/>: the edge nodes and
/// devices of a Sparkplug host): their state on their avatars, and their numbering gaps in reconciliation.
/// </summary>
internal static class LiveParts
{
    /// <summary>
    /// The report with the gaps the running source confirmed in its parts' own numbering within the report's range
    /// (by the arrival of the message after each gap), and a mismatch that sums them up.
    /// </summary>
    public static ReconcileReport WithSourceGaps(ReconcileReport report, ILiveSourceParts? parts)
    {
        var gaps = parts?.SequenceGaps.Where(g => g.BeforeTime >= report.From && g.BeforeTime < report.To).ToList();
        if (gaps is not { Count: > 0 })
        {
            return report;
        }

        var scopes = gaps.Select(g => g.Scope).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var mismatch = $"{gaps.Sum(g => g.Missing)} messages missing from the seq numbers of {string.Join(", ", scopes.Take(5))}{(scopes.Count > 5 ? $" and {scopes.Count - 5} more" : "")} in {gaps.Count} gap(s) (seen by the running source)";
        return report with { Gaps = [.. report.Gaps, .. gaps], Mismatches = [.. report.Mismatches, mismatch] };
    }

    /// <summary>
    /// The parts of running sources that are the avatar <paramref name="avatar"/>: those for which the model of their
    /// source renders this avatar's type and id, edge nodes before devices.
    /// </summary>
    public static IReadOnlyList<(string SourceId, SourcePart Part)> OfAvatar(string type, string id, string plant, UsineDefinitions definitions, SourceHost sources)
    {
        var found = new List<(string, SourcePart)>();
        foreach (var source in definitions.Sources.Values.OrderBy(s => s.Id, StringComparer.Ordinal))
        {
            if (sources.PartsOf(source.Id) is not { } live || source.Plant.Constant is { } p && !string.Equals(p, plant, StringComparison.Ordinal)
                || !definitions.Models.ContainsKey(source.Model) || definitions.ModelOf(source) is not { Avatar.Type: var avatarType } model
                || !string.Equals(avatarType, type, StringComparison.Ordinal))
            {
                continue;
            }

            foreach (var part in live.Parts)
            {
                if (SourcePartAvatars.Of(source, model, part.Fields) is { } a && string.Equals(a.Id, id, StringComparison.Ordinal))
                {
                    found.Add((source.Id, part));
                }
            }
        }

        // The edge node's own state first: its devices follow it.
        return [.. found.OrderBy(f => f.Item2.Kind == "edge node" ? 0 : 1)];
    }
}
