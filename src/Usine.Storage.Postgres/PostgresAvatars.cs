using Npgsql;
using Usine.Storage.Postgres.Internal;

namespace Usine.Storage.Postgres;

/// <summary>Avatars, their hierarchy, attributes and links, and the records about them, plant-scoped.</summary>
internal sealed class PostgresAvatars(PostgresDatabase db) : PostgresFacet(db), IAvatarReads
{
    /// <summary>
    /// Avatars whose id starts with <paramref name="prefix"/> (any case), of a type, of a plant, and with attributes
    /// of given values (each name must have one of its values), by type then id.
    /// </summary>
    public IReadOnlyList<AvatarRow> SearchAvatars(string? prefix, string? type, string? plant, int limit, IReadOnlySet<string>? plants,
        IReadOnlyDictionary<string, IReadOnlyList<string>>? attributes = null)
    {
        var args = new SqlArgs();
        var c = new List<string>();
        foreach (var (name, values) in attributes ?? new Dictionary<string, IReadOnlyList<string>>())
        {
            c.Add($"EXISTS (SELECT 1 FROM avatar_attributes x WHERE x.avatar_key = avatars.avatar_key AND x.name = {args.Add(name)} "
                + $"AND x.value IN ({string.Join(", ", values.Select(args.Add))}){(plants is null ? "" : " AND " + PlantCondition("x.plant", plants, args))})");
        }

        if (!string.IsNullOrEmpty(prefix))
        {
            // lower(id) LIKE with the prefix's wildcards escaped, which the index on lower(id) serves.
            c.Add($"lower(id) LIKE lower({args.Add(EscapeLike(prefix) + "%")}) ESCAPE '\\'");
        }

        if (type is not null)
        {
            c.Add($"type = {args.Add(type)}");
        }

        if (plant is not null)
        {
            c.Add($"plant = {args.Add(plant)}");
        }

        if (plants is not null)
        {
            c.Add(PlantCondition("plant", plants, args));
        }

        return Read($"SELECT avatar_key, type, id, plant, parent_key, first_seen FROM avatars{WhereClause(c)} ORDER BY type, id LIMIT {Math.Clamp(limit, 1, 10_000)}",
            MapAvatar, [.. args.Values]);
    }

    /// <summary>
    /// The current attributes of avatars, by avatar key then name. Under a plant scope, an avatar outside it has
    /// none, and neither has one an attribute set by a record of a plant outside it: the value tells about that plant.
    /// </summary>
    public IReadOnlyDictionary<long, List<AvatarAttributeRow>> AvatarAttributes(IReadOnlyCollection<long> keys, IReadOnlySet<string>? plants)
    {
        var found = new Dictionary<long, List<AvatarAttributeRow>>();
        if (keys.Count == 0)
        {
            return found;
        }

        var args = new SqlArgs();
        var c = new List<string> { $"x.avatar_key = ANY({args.Add(keys.ToArray())})" };
        if (plants is not null)
        {
            c.Add(PlantCondition("a.plant", plants, args));
            c.Add(PlantCondition("x.plant", plants, args));
        }

        var rows = Read($"SELECT x.avatar_key, x.name, x.value, x.set_at, x.source_id FROM avatar_attributes x JOIN avatars a ON a.avatar_key = x.avatar_key{WhereClause(c)} ORDER BY x.avatar_key, x.name",
            r => (Key: r.GetInt64(0), Row: new AvatarAttributeRow(r.GetString(1), r.GetString(2), r.GetDateTime(3), r.GetString(4))), [.. args.Values]);
        foreach (var (key, row) in rows)
        {
            if (!found.TryGetValue(key, out var list))
            {
                found[key] = list = [];
            }

            list.Add(row);
        }

        return found;
    }

    /// <summary>The avatars with this id (one per type that uses it), within the plant scope.</summary>
    public IReadOnlyList<AvatarRow> FindAvatars(string id, string? type, IReadOnlySet<string>? plants)
    {
        var found = FindAvatars(id, type);
        return plants is null ? found : [.. found.Where(a => plants.Contains(a.Plant))];
    }

    /// <summary>The chain of parents of an avatar, the root (the plant) first.</summary>
    public IReadOnlyList<AvatarRow> Ancestors(AvatarRow avatar, IReadOnlySet<string>? plants)
    {
        var ancestors = new List<AvatarRow>();
        var parentKey = avatar.ParentKey;

        // The hierarchy is shallow (plant, shop, line, station, machine); the bound guards against a cycle.
        while (parentKey != 0 && ancestors.Count < 32 && AvatarByKey(parentKey) is { } parent)
        {
            if (plants is not null && !plants.Contains(parent.Plant))
            {
                break;
            }

            ancestors.Insert(0, parent);
            parentKey = parent.ParentKey;
        }

        return ancestors;
    }

    public IReadOnlyList<AvatarRow> Children(long key, int limit, IReadOnlySet<string>? plants)
    {
        var args = new SqlArgs();
        var c = new List<string> { $"parent_key = {args.Add(key)}" };
        if (plants is not null)
        {
            c.Add(PlantCondition("plant", plants, args));
        }

        return Read($"SELECT avatar_key, type, id, plant, parent_key, first_seen FROM avatars{WhereClause(c)} ORDER BY type, id LIMIT {Math.Clamp(limit, 1, 10_000)}",
            MapAvatar, [.. args.Values]);
    }

    /// <summary>The links of an avatar valid at <paramref name="at"/>: linked at or before it, and not replaced by then.</summary>
    public IReadOnlyList<AvatarLinkAt> LinksAt(long key, DateTime at, IReadOnlySet<string>? plants)
    {
        var args = new SqlArgs();
        var from = args.Add(key);
        var time = args.Add(at);
        var c = new List<string> { $"l.from_key = {from}", $"l.valid_from <= {time}", $"(l.valid_to IS NULL OR l.valid_to > {time})" };
        if (plants is not null)
        {
            c.Add(PlantCondition("a.plant", plants, args));
        }

        return Read(
            "SELECT l.kind, a.avatar_key, a.type, a.id, a.plant, a.parent_key, a.first_seen, l.valid_from, l.valid_to "
            + $"FROM avatar_links l JOIN avatars a ON a.avatar_key = l.to_key{WhereClause(c)} ORDER BY l.kind, a.type, a.id",
            r => new AvatarLinkAt(r.GetString(0),
                new AvatarRow(r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt64(5), r.GetDateTime(6)),
                r.GetDateTime(7), r.IsDBNull(8) ? null : r.GetDateTime(8)),
            [.. args.Values]);
    }

    /// <summary>Every record of every model about an avatar in a time range, newest first.</summary>
    public async Task<IReadOnlyList<HistoryRecord>> AvatarHistoryAsync(long key, DateTime? from, DateTime? to, int limit, IReadOnlySet<string>? plants, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > 10_000)
        {
            throw new ArgumentException($"limit: {limit} is not between 1 and 10000");
        }

        CheckRange(new RecordFilter { From = from, To = to });
        return await Task.Run(() =>
        {
            var all = new List<HistoryRecord>();
            foreach (var (name, table) in Db.Tables.OrderBy(x => x.Key, StringComparer.Ordinal))
            {
                var args = new SqlArgs();
                var c = Conditions(new RecordFilter { From = from, To = to }, plants, args);
                c.Insert(0, $"avatar_key = {args.Add(key)}");
                var cols = table.Columns.Select(x => x.Name).ToList();
                var sql = $"SELECT event_time, CAST(record_id AS text), {string.Join(", ", cols.Select(Sql.Quote))} FROM {Sql.RecordTable(name)}"
                    + $"{WhereClause(c)} ORDER BY event_time DESC, record_id DESC LIMIT {limit}";
                all.AddRange(Read(sql, r =>
                {
                    var values = new Dictionary<string, object?>(StringComparer.Ordinal);
                    for (var i = 0; i < cols.Count; i++)
                    {
                        values[cols[i]] = r.IsDBNull(i + 2) ? null : Plain(r.GetValue(i + 2));
                    }

                    return new HistoryRecord(name, r.GetDateTime(0), r.GetString(1), values);
                }, [.. args.Values]));
            }

            return all.OrderByDescending(x => x.Time).ThenBy(x => x.Model, StringComparer.Ordinal).ThenByDescending(x => x.RecordId, StringComparer.Ordinal).Take(limit).ToList();
        }, cancellationToken);
    }

    public IReadOnlyList<string> Plants() => Read("SELECT id FROM avatars WHERE type = 'plant' ORDER BY id", r => r.GetString(0));

    /// <summary>Avatars, of <paramref name="plants"/> only when given.</summary>
    public long AvatarTotal(IReadOnlySet<string>? plants = null) => Count("SELECT count(*) FROM avatars" + InPlants(plants));

    /// <summary>The avatars with this id (one per type that uses it), or the one of this type.</summary>
    private List<AvatarRow> FindAvatars(string id, string? type)
    {
        var found = Read(AvatarsByIdSql, MapAvatar, id);
        return type is null ? found : found.FindAll(a => a.Type == type);
    }

    internal const string AvatarsByIdSql = "SELECT avatar_key, type, id, plant, parent_key, first_seen FROM avatars WHERE id = $1 ORDER BY type";

    internal AvatarRow? AvatarByKey(long key) => Read("SELECT avatar_key, type, id, plant, parent_key, first_seen FROM avatars WHERE avatar_key = $1", MapAvatar, key).FirstOrDefault();

    /// <summary>The latest 200 links of an avatar, to avatars of the plant scope (null: every plant).</summary>
    public IReadOnlyList<AvatarLinkRow> Links(long key, IReadOnlySet<string>? plants = null)
    {
        var args = new SqlArgs();
        var c = new List<string> { $"l.from_key = {args.Add(key)}" };
        if (plants is not null)
        {
            c.Add(PlantCondition("a.plant", plants, args));
        }

        return Read(
            $"SELECT l.kind, a.type, a.id, l.valid_from, l.valid_to FROM avatar_links l JOIN avatars a ON a.avatar_key = l.to_key{WhereClause(c)} ORDER BY l.valid_from DESC LIMIT 200",
            r => new AvatarLinkRow(r.GetString(0), r.GetString(1), r.GetString(2), r.GetDateTime(3), r.IsDBNull(4) ? null : r.GetDateTime(4)),
            [.. args.Values]);
    }

    /// <summary>Records about one avatar, of the plant scope (null: every plant): counts per model and the most recent ones.</summary>
    public (Dictionary<string, long> Counts, List<RecentRecord> Recent) AvatarRecords(long key, int recent, IReadOnlySet<string>? plants = null)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var all = new List<RecentRecord>();
        var args = new SqlArgs();
        var c = new List<string> { $"avatar_key = {args.Add(key)}" };
        if (plants is not null)
        {
            c.Add(PlantCondition("plant", plants, args));
        }

        var where = WhereClause(c);
        foreach (var (name, table) in Db.Tables)
        {
            var n = Count($"SELECT count(*) FROM {Sql.RecordTable(name)}{where}", [.. args.Values]);
            if (n == 0)
            {
                continue;
            }

            counts[name] = n;
            var cols = table.Columns.Select(c => c.Name).ToList();
            all.AddRange(Read(
                $"SELECT event_time, {string.Join(", ", cols.Select(Sql.Quote))} FROM {Sql.RecordTable(name)}{where} ORDER BY event_time DESC LIMIT {recent}",
                r =>
                {
                    var values = new Dictionary<string, object?>(StringComparer.Ordinal);
                    for (var i = 0; i < cols.Count; i++)
                    {
                        values[cols[i]] = r.IsDBNull(i + 1) ? null : Plain(r.GetValue(i + 1));
                    }

                    return new RecentRecord(name, r.GetDateTime(0), values);
                },
                [.. args.Values]));
        }

        return (counts, [.. all.OrderByDescending(x => x.Time).Take(recent)]);
    }

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
            r => new AvatarLinkRow(r.GetString(0), r.GetString(1), r.GetString(2), r.GetDateTime(3), r.IsDBNull(4) ? null : r.GetDateTime(4)), [.. args.Values]);
    }

    /// <summary>
    /// The values of numeric <paramref name="field"/> of <paramref name="model"/> about one avatar, the latest
    /// <paramref name="limit"/> of them, as one series per value of the model's other key fields (see
    /// <see cref="MeasureSeries"/>), the series with the most points first.
    /// </summary>
    public IReadOnlyList<MeasureSeries> AvatarSeries(long key, string model, string field, int limit, IReadOnlySet<string>? plants = null)
    {
        if (!Db.Tables.TryGetValue(model, out var table) || !table.Columns.Any(c => c.Name == field))
        {
            throw new ArgumentException($"model '{model}' has no field '{field}'");
        }

        // Zones of one oven are as many series: joining them into one line draws a zigzag between zones.
        var latest = Defs.Models[model].Latest;
        var own = latest.Avatar?.Id.Names.ToHashSet(StringComparer.Ordinal) ?? [];
        var by = latest.Key.Where(k => k != latest.TimeField && !own.Contains(k) && table.Columns.Any(c => c.Name == k)).ToList();
        var name = by.Count == 0 ? "''"
            : "concat_ws(' · ', " + string.Join(", ", by.Select(k => $"{Sql.Literal(k + " ")} || coalesce(CAST({Sql.Quote(k)} AS text), '-')")) + ")";
        var args = new SqlArgs();
        var avatar = args.Add(key);
        var scope = plants is null ? "" : " AND " + PlantCondition("plant", plants, args);
        var points = Read(
            $"""
            SELECT {name}, event_time, CAST({Sql.Quote(field)} AS DOUBLE) FROM {Sql.RecordTable(model)}
            WHERE avatar_key = {avatar} AND {Sql.Quote(field)} IS NOT NULL{scope} ORDER BY event_time DESC LIMIT {Math.Clamp(limit, 1, 100_000)}
            """,
            r => (Series: r.GetString(0), Point: new MeasurePoint(r.GetDateTime(1), r.GetDouble(2))), [.. args.Values]);
        return [.. points.GroupBy(p => p.Series, StringComparer.Ordinal)
            .Select(g => new MeasureSeries(g.Key, [.. g.Select(p => p.Point).Reverse()]))
            .OrderByDescending(s => s.Points.Count).ThenBy(s => s.Name, StringComparer.Ordinal)];
    }

    /// <summary>The earliest event time of any record about one avatar, or null when it has none.</summary>
    public DateTime? EarliestEvent(long key, IReadOnlySet<string>? plants = null)
    {
        if (Db.Tables.Count == 0)
        {
            return null;
        }

        var args = new SqlArgs();
        var avatar = args.Add(key);
        var scope = plants is null ? "" : " AND " + PlantCondition("plant", plants, args);
        var union = string.Join(" UNION ALL ", Db.Tables.Keys.Select(m => $"SELECT min(event_time) AS t FROM {Sql.RecordTable(m)} WHERE avatar_key = {avatar}{scope}"));
        return Read($"SELECT min(t) FROM ({union}) u", r => r.IsDBNull(0) ? (DateTime?)null : r.GetDateTime(0), [.. args.Values]).FirstOrDefault();
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
}
