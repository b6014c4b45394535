-- The tables every store has, as Usine wrote them before its schema had versions: IF NOT EXISTS throughout, so that
-- a store created by an earlier version opens unchanged and only gains what it lacks. The tables of models
-- (m_*, stage_*, r_*, v_*) follow the loaded definitions and are made by the code at start-up, not here.

-- The raw zone: every message as received, by stream and position.
CREATE TABLE IF NOT EXISTS raw_messages (
    source_id VARCHAR NOT NULL, stream_id VARCHAR NOT NULL, position BIGINT NOT NULL,
    received_at TIMESTAMP NOT NULL, topic VARCHAR, payload BLOB);

CREATE TABLE IF NOT EXISTS checkpoints (
    stream_id VARCHAR PRIMARY KEY, source_id VARCHAR NOT NULL, position BIGINT NOT NULL, updated_at TIMESTAMP NOT NULL);

CREATE TABLE IF NOT EXISTS streams (
    stream_id VARCHAR PRIMARY KEY, source_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, name VARCHAR,
    csv_header VARCHAR, created_at TIMESTAMP NOT NULL);
ALTER TABLE streams ADD COLUMN IF NOT EXISTS declared_count BIGINT;
ALTER TABLE streams ADD COLUMN IF NOT EXISTS line_count BIGINT;
ALTER TABLE streams ADD COLUMN IF NOT EXISTS landed BIGINT DEFAULT 0;
ALTER TABLE streams ADD COLUMN IF NOT EXISTS finished_at TIMESTAMP;

CREATE TABLE IF NOT EXISTS dead_letters (
    id BIGINT NOT NULL, source_id VARCHAR NOT NULL, stream_id VARCHAR NOT NULL, position BIGINT NOT NULL,
    stage VARCHAR NOT NULL, reason VARCHAR NOT NULL, error_type VARCHAR, model VARCHAR, model_version INTEGER,
    topic VARCHAR, payload BLOB, payload_bytes BIGINT, status VARCHAR NOT NULL, attempts INTEGER NOT NULL,
    received_at TIMESTAMP NOT NULL, created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL);
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS original_payload BLOB;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS edited_at TIMESTAMP;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS discard_reason VARCHAR;
ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS plant VARCHAR;

CREATE TABLE IF NOT EXISTS avatars (
    avatar_key BIGINT NOT NULL, type VARCHAR NOT NULL, id VARCHAR NOT NULL, plant VARCHAR NOT NULL,
    parent_key BIGINT NOT NULL, first_seen TIMESTAMP NOT NULL);

-- Every avatar page and history starts from an id. Without an index that is a scan of the whole table: VINs share
-- their first characters, so the per-row-group statistics of a string column prune nothing (64 ms at 4 million
-- avatars, 0.8 ms with the index). The index is kept in the database file and loaded as it is used; an existing
-- store builds it once (3 s for 4 million avatars).
CREATE INDEX IF NOT EXISTS avatars_id ON avatars (id);

CREATE TABLE IF NOT EXISTS avatar_link_events (
    from_key BIGINT NOT NULL, kind VARCHAR NOT NULL, to_key BIGINT NOT NULL, linked_at TIMESTAMP NOT NULL, source_id VARCHAR NOT NULL);

CREATE TABLE IF NOT EXISTS avatar_attributes (
    avatar_key BIGINT NOT NULL, name VARCHAR NOT NULL, value VARCHAR NOT NULL, set_at TIMESTAMP NOT NULL, plant VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL, PRIMARY KEY (avatar_key, name));

-- A link holds from its event until the next event of the same avatar and kind.
CREATE OR REPLACE VIEW avatar_links AS
    SELECT from_key, kind, to_key, linked_at AS valid_from,
           lead(linked_at) OVER (PARTITION BY from_key, kind ORDER BY linked_at) AS valid_to, source_id
    FROM avatar_link_events;

-- What every source delivered, by hour, written in each batch's transaction: reconciliation reads it.
CREATE TABLE IF NOT EXISTS source_hours (
    source_id VARCHAR NOT NULL, hour TIMESTAMP NOT NULL, landed BIGINT NOT NULL, stored BIGINT NOT NULL,
    replayed BIGINT NOT NULL, duplicates BIGINT NOT NULL, rejected BIGINT NOT NULL, PRIMARY KEY (source_id, hour));

-- "at" is a keyword of DuckDB's grammar and must be quoted wherever it is named.
CREATE TABLE IF NOT EXISTS audit_log (
    id BIGINT NOT NULL, "at" TIMESTAMP NOT NULL, actor VARCHAR NOT NULL, action VARCHAR NOT NULL,
    target VARCHAR NOT NULL, detail JSON, result VARCHAR NOT NULL);

CREATE TABLE IF NOT EXISTS alert_events (
    id BIGINT NOT NULL, status VARCHAR NOT NULL, rule VARCHAR NOT NULL, signal VARCHAR NOT NULL, severity VARCHAR NOT NULL,
    source_id VARCHAR, summary VARCHAR NOT NULL, since TIMESTAMP NOT NULL, at_time TIMESTAMP NOT NULL);
ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS subject VARCHAR;

-- The manifest of the Parquet archive of the raw zone, and how far each source and day is archived.
CREATE TABLE IF NOT EXISTS archive_files (
    path VARCHAR PRIMARY KEY, plant VARCHAR NOT NULL, source_id VARCHAR NOT NULL, day DATE NOT NULL,
    rows BIGINT NOT NULL, bytes BIGINT NOT NULL, sha256 VARCHAR NOT NULL,
    min_received_at TIMESTAMP NOT NULL, max_received_at TIMESTAMP NOT NULL, created_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS archive_file_streams (
    path VARCHAR NOT NULL, stream_id VARCHAR NOT NULL, rows BIGINT NOT NULL,
    min_position BIGINT NOT NULL, max_position BIGINT NOT NULL, PRIMARY KEY (path, stream_id));
CREATE TABLE IF NOT EXISTS archive_progress (
    source_id VARCHAR NOT NULL, day DATE NOT NULL, raw_rows BIGINT NOT NULL, updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (source_id, day));
