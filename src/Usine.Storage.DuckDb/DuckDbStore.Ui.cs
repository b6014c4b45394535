using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>One point of a measure of an avatar over time.</summary>
public sealed record MeasurePoint(DateTime Time, double Value);

/// <summary>A record as the web UI lists it: its model, times, lineage and values.</summary>
public sealed record SourceRecord(string Model, DateTime Time, DateTime StoredAt, string? AvatarId, long RawPosition, IReadOnlyDictionary<string, object?> Values);

/// <summary>Small read queries the web UI needs, with bounded results so a page never scans without a limit.</summary>
public sealed partial class DuckDbStore
{
    /// <summary>
    /// Avatars whose id, or the last part of a path-like id (<c>flins/assembly/L1/ST040</c>), starts with
    /// <paramref name="prefix"/>, ignoring case; exact matches first.
    /// </summary>
    public List<AvatarRow> SearchAvatars(string prefix, int limit, IReadOnlySet<string>? plants = null)
    {
        var args = new SqlArgs();
        var like = args.Add(EscapeLike(prefix));
        var exact = args.Add(prefix);
        var scope = plants is null ? "" : " AND " + PlantCondition("plant", plants, args);
        return Read(
            $"""
            SELECT avatar_key, type, id, plant, parent_key, first_seen FROM avatars
            WHERE (lower(id) LIKE lower({like}) || '%' ESCAPE '\' OR lower(id) LIKE '%/' || lower({like}) || '%' ESCAPE '\'){scope}
            ORDER BY lower(id) <> lower({exact}) AND NOT lower(id) LIKE '%/' || lower({like}) ESCAPE '\', length(id), id, type LIMIT {Math.Clamp(limit, 1, 1000)}
            """,
            MapAvatar, [.. args.Values]);
    }

    /// <summary>The avatars linked to this one (vehicles at a station), latest first.</summary>
    public List<AvatarLinkRow> LinksTo(long key, int limit, IReadOnlySet<string>? plants = null)
    {
        var args = new SqlArgs();
        var to = args.Add(key);
        var scope = plants is null ? "" : " AND " + PlantCondition("a.plant", plants, args);
        return Read(
            $"""
            SELECT l.kind, a.type, a.id, l.valid_from, l.valid_to FROM avatar_links l JOIN avatars a ON a.avatar_key = l.from_key
            WHERE l.to_key = {to}{scope} ORDER BY l.valid_from DESC LIMIT {Math.Clamp(limit, 1, 10_000)}
            """,
            r => new AvatarLinkRow(r.GetString(0), r.GetString(1), r.GetString(2), Utc(r.GetDateTime(3)), r.IsDBNull(4) ? null : Utc(r.GetDateTime(4))), [.. args.Values]);
    }

    /// <summary>The avatar's ancestors, from the plant down to its parent.</summary>
    public List<AvatarRow> Ancestors(AvatarRow avatar)
    {
        var chain = new List<AvatarRow>();
        var seen = new HashSet<long> { avatar.Key };
        var parent = avatar.ParentKey;

        // The hierarchy is shallow (plant, shop, line, station); the guard only stops a corrupt cycle.
        while (seen.Add(parent) && chain.Count < 32 && AvatarByKey(parent) is { } p)
        {
            chain.Add(p);
            parent = p.ParentKey;
        }

        chain.Reverse();
        return chain;
    }

    /// <summary>The values of numeric <paramref name="field"/> of <paramref name="model"/> about one avatar, oldest first.</summary>
    public List<MeasurePoint> AvatarSeries(long key, string model, string field, int limit, IReadOnlySet<string>? plants = null)
    {
        if (!_tables.TryGetValue(model, out var table) || !table.Columns.Any(c => c.Name == field))
        {
            throw new ArgumentException($"model '{model}' has no field '{field}'");
        }

        var args = new SqlArgs();
        var avatar = args.Add(key);
        var scope = plants is null ? "" : " AND " + PlantCondition("plant", plants, args);
        var points = Read(
            $"""
            SELECT event_time, CAST({Sql.Quote(field)} AS DOUBLE) FROM {Sql.RecordTable(model)}
            WHERE avatar_key = {avatar} AND {Sql.Quote(field)} IS NOT NULL{scope} ORDER BY event_time DESC LIMIT {Math.Clamp(limit, 1, 100_000)}
            """,
            r => new MeasurePoint(Utc(r.GetDateTime(0)), r.GetDouble(1)), [.. args.Values]);
        points.Reverse();
        return points;
    }

    /// <summary>The latest records stored from one source, newest first.</summary>
    public List<SourceRecord> SourceRecords(string sourceId, string model, int limit)
    {
        if (!_tables.TryGetValue(model, out var table))
        {
            return [];
        }

        var cols = table.Columns.Select(c => c.Name).ToList();
        return Read(
            $"""
            SELECT event_time, stored_at, avatar_id, raw_position, {string.Join(", ", cols.Select(Sql.Quote))} FROM {Sql.RecordTable(model)}
            WHERE source_id = $1 ORDER BY stored_at DESC, raw_position DESC LIMIT {Math.Clamp(limit, 1, 10_000)}
            """,
            r =>
            {
                var values = new Dictionary<string, object?>(StringComparer.Ordinal);
                for (var i = 0; i < cols.Count; i++)
                {
                    values[cols[i]] = r.IsDBNull(i + 4) ? null : Plain(r.GetValue(i + 4));
                }

                return new SourceRecord(model, Utc(r.GetDateTime(0)), Utc(r.GetDateTime(1)), r.IsDBNull(2) ? null : r.GetString(2), r.GetInt64(3), values);
            },
            sourceId);
    }

    private static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);
}
