-- Lineage below the raw message: a payload may decode to several messages, so a dead letter keeps the index of its
-- message beside the raw position (none when the payload could not be decoded at all, and for every letter written
-- before), and the hourly counters keep how many messages the raw ones decoded to (one each, for hours written before).
-- Record tables are per model and get their raw_index column where the store makes them.
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS raw_index INTEGER;
ALTER TABLE source_hours ADD COLUMN IF NOT EXISTS decoded BIGINT;
UPDATE source_hours SET decoded = landed WHERE decoded IS NULL;
