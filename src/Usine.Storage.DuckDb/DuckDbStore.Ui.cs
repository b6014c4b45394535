using Usine.Storage.DuckDb.Internal;

namespace Usine.Storage.DuckDb;

/// <summary>Small read queries the web UI needs, with bounded results so a page never scans without a limit.</summary>
public sealed partial class DuckDbStore
{
    /// <summary>
    /// Avatars whose id, or the last part of a path-like id (<c>flins/assembly/L1/ST040</c>), starts with
    /// <paramref name="prefix"/>, ignoring case; exact matches first.
    /// </summary>
    public IReadOnlyList<AvatarRow> SearchAvatars(string prefix, int limit, IReadOnlySet<string>? plants = null)
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
    public IReadOnlyList<AvatarLinkRow> LinksTo(long key, int limit, IReadOnlySet<string>? plants = null)
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


    /// <summary>
    /// The values of numeric <paramref name="field"/> of <paramref name="model"/> about one avatar, the latest
    /// <paramref name="limit"/> of them, as one series per value of the model's other key fields (see
    /// <see cref="MeasureSeries"/>), the series with the most points first.
    /// </summary>
    public IReadOnlyList<MeasureSeries> AvatarSeries(long key, string model, string field, int limit, IReadOnlySet<string>? plants = null)
    {
        if (!_tables.TryGetValue(model, out var table) || !table.Columns.Any(c => c.Name == field))
        {
            throw new ArgumentException($"model '{model}' has no field '{field}'");
        }

        // Zones of one oven are as many series: joining them into one line draws a zigzag between zones.
        var latest = Defs.Models[model].Latest;
        var own = latest.Avatar?.Id.Names.ToHashSet(StringComparer.Ordinal) ?? [];
        var by = latest.Key.Where(k => k != latest.TimeField && !own.Contains(k) && table.Columns.Any(c => c.Name == k)).ToList();
        var name = by.Count == 0 ? "''"
            : "concat_ws(' · ', " + string.Join(", ", by.Select(k => $"{Sql.Literal(k + " ")} || coalesce(CAST({Sql.Quote(k)} AS VARCHAR), '-')")) + ")";
        var args = new SqlArgs();
        var avatar = args.Add(key);
        var scope = plants is null ? "" : " AND " + PlantCondition("plant", plants, args);
        var points = Read(
            $"""
            SELECT {name}, event_time, CAST({Sql.Quote(field)} AS DOUBLE) FROM {Sql.RecordTable(model)}
            WHERE avatar_key = {avatar} AND {Sql.Quote(field)} IS NOT NULL{scope} ORDER BY event_time DESC LIMIT {Math.Clamp(limit, 1, 100_000)}
            """,
            r => (Series: r.GetString(0), Point: new MeasurePoint(Utc(r.GetDateTime(1)), r.GetDouble(2))), [.. args.Values]);
        return [.. points.GroupBy(p => p.Series, StringComparer.Ordinal)
            .Select(g => new MeasureSeries(g.Key, [.. g.Select(p => p.Point).Reverse()]))
            .OrderByDescending(s => s.Points.Count).ThenBy(s => s.Name, StringComparer.Ordinal)];
    }

    /// <summary>The earliest event time of any record about one avatar, or null when it has none.</summary>
    public DateTime? EarliestEvent(long key, IReadOnlySet<string>? plants = null)
    {
        if (_tables.Count == 0)
        {
            return null;
        }

        var args = new SqlArgs();
        var avatar = args.Add(key);
        var scope = plants is null ? "" : " AND " + PlantCondition("plant", plants, args);
        var union = string.Join(" UNION ALL ", _tables.Keys.Select(m => $"SELECT min(event_time) AS t FROM {Sql.RecordTable(m)} WHERE avatar_key = {avatar}{scope}"));
        return Read($"SELECT min(t) FROM ({union})", r => r.IsDBNull(0) ? (DateTime?)null : Utc(r.GetDateTime(0)), [.. args.Values]).FirstOrDefault();
    }

    /// <summary>
    /// Avatars an id that names none probably meant: those whose id is it in another case or ends with it after a
    /// slash (<c>OV1</c> for <c>arlon/OV1</c>), else those whose id or last part starts with it.
    /// </summary>
    public IReadOnlyList<AvatarRow> SuggestAvatars(string id, string? type, int limit, IReadOnlySet<string>? plants = null)
    {
        var args = new SqlArgs();
        var exact = args.Add(id);
        var like = args.Add(EscapeLike(id));
        var ofType = type is null ? "" : $" AND type = {args.Add(type)}";
        var scope = plants is null ? "" : " AND " + PlantCondition("plant", plants, args);
        var found = Read(
            $"""
            SELECT avatar_key, type, id, plant, parent_key, first_seen FROM avatars
            WHERE (lower(id) = lower({exact}) OR lower(id) LIKE '%/' || lower({like}) ESCAPE ''){ofType}{scope}
            ORDER BY length(id), id, type LIMIT {Math.Clamp(limit, 1, 100)}
            """,
            MapAvatar, [.. args.Values]);
        return found.Count > 0 ? found : [.. SearchAvatars(id, limit, plants).Where(a => type is null || a.Type == type)];
    }

    /// <summary>The latest records stored from one source, newest first.</summary>
    public IReadOnlyList<SourceRecord> SourceRecords(string sourceId, string model, int limit)
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
