-- The shop, line and station of every context avatar (a row per shop, line and station), which aggregates and
-- rollups by level join records to. Commits keep it; a store written before it existed gets it filled once, here,
-- from the avatars table. A store that has it already keeps it as it is: its rows are never computed twice.
CREATE TABLE IF NOT EXISTS avatar_levels (context_key BIGINT NOT NULL, plant VARCHAR NOT NULL, shop VARCHAR, line VARCHAR, station VARCHAR);

INSERT INTO avatar_levels
SELECT a.avatar_key, a.plant,
    CASE 'shop' WHEN a.type THEN a.id WHEN p1.type THEN p1.id WHEN p2.type THEN p2.id END,
    CASE 'line' WHEN a.type THEN a.id WHEN p1.type THEN p1.id END,
    CASE 'station' WHEN a.type THEN a.id END
FROM avatars a LEFT JOIN avatars p1 ON p1.avatar_key = a.parent_key LEFT JOIN avatars p2 ON p2.avatar_key = p1.parent_key
WHERE a.type IN ('shop', 'line', 'station') AND NOT EXISTS (SELECT 1 FROM avatar_levels);
