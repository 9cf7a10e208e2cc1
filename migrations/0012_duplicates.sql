-- migrate: foreign_keys=off
-- Cross-device dedup (issue 5): identical bytes from any device are stored and uploaded once.
--   duplicate_of: a receipt whose bytes (sha256) the gateway already held, live, under another row. The
--                 receipt keeps its own id, device and time; the blob, the upload and the S3 object are the
--                 original's. Its state is 'duplicate' for good (the uploader never claims it); the state a
--                 device sees is the original's.
--   path, s3_key: NULL on a duplicate (it has no file and no object of its own), required otherwise.
-- SQLite cannot alter a CHECK or NOT NULL constraint, so the table is rebuilt the documented way (foreign keys
-- off for this migration only, checked with foreign_key_check before commit). Every index, trigger and the view
-- are recreated as they were. On a million rows this takes seconds, once, at the first start of this release.
CREATE TABLE images_v12 (
  id                 TEXT PRIMARY KEY,
  device_id          TEXT NOT NULL,
  sha256             TEXT NOT NULL,
  bytes              INTEGER NOT NULL CHECK (bytes > 0),
  content_type       TEXT NOT NULL,
  path               TEXT,
  s3_key             TEXT UNIQUE,
  state              TEXT NOT NULL CHECK (state IN ('queued', 'uploading', 'uploaded', 'dead', 'evicted', 'duplicate')),
  attempts           INTEGER NOT NULL DEFAULT 0,
  next_attempt_at    TEXT NOT NULL,
  last_error         TEXT,
  received_at        TEXT NOT NULL,
  claimed_at         TEXT,
  uploaded_at        TEXT,
  idempotency_key    TEXT,
  permanent_failures INTEGER NOT NULL DEFAULT 0,
  width              INTEGER,
  height             INTEGER,
  camera_make        TEXT,
  camera_model       TEXT,
  gps_lat            REAL,
  gps_lon            REAL,
  captured_at        TEXT,
  captured_at_utc    TEXT,
  orientation        INTEGER,
  metadata_at        TEXT,
  duplicate_of       TEXT REFERENCES images (id),
  CHECK ((state = 'duplicate') = (duplicate_of IS NOT NULL)),
  CHECK (state = 'duplicate' OR (path IS NOT NULL AND s3_key IS NOT NULL)),
  CHECK (state <> 'duplicate' OR (path IS NULL AND s3_key IS NULL))
) STRICT;

INSERT INTO images_v12 (id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts, next_attempt_at,
                        last_error, received_at, claimed_at, uploaded_at, idempotency_key, permanent_failures,
                        width, height, camera_make, camera_model, gps_lat, gps_lon, captured_at, captured_at_utc,
                        orientation, metadata_at)
  SELECT id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts, next_attempt_at,
         last_error, received_at, claimed_at, uploaded_at, idempotency_key, permanent_failures,
         width, height, camera_make, camera_model, gps_lat, gps_lon, captured_at, captured_at_utc,
         orientation, metadata_at
  FROM images;

DROP VIEW backlog;
DROP TABLE images;
ALTER TABLE images_v12 RENAME TO images;

CREATE INDEX images_state_received ON images (state, received_at, id);
CREATE INDEX images_state_device_received ON images (state, device_id, received_at, id);
CREATE INDEX images_device_sha256 ON images (device_id, sha256);
CREATE UNIQUE INDEX images_device_idempotency_key ON images (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX images_camera_model ON images (camera_model);
CREATE INDEX images_content_type ON images (content_type);
CREATE INDEX images_uploaded_at ON images (uploaded_at) WHERE uploaded_at IS NOT NULL;
-- Duplicates take their metadata from the original, so only rows with a file wait for extraction.
CREATE INDEX images_metadata_pending ON images (id) WHERE metadata_at IS NULL AND duplicate_of IS NULL;
CREATE INDEX images_sha256 ON images (sha256);
-- Fan-out when the original changes: notifications and metadata for each receipt that shares its bytes.
CREATE INDEX images_duplicate_of ON images (duplicate_of) WHERE duplicate_of IS NOT NULL;

CREATE VIEW backlog AS
  SELECT id, device_id, state, bytes, attempts, next_attempt_at, last_error, received_at, s3_key
  FROM images
  WHERE state IN ('queued', 'uploading')
  ORDER BY received_at, id;

CREATE TRIGGER images_stats_insert AFTER INSERT ON images BEGIN
  INSERT INTO stat_counts (kind, key, n, bytes) VALUES ('receipts', '', 1, NEW.bytes)
    ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
  INSERT INTO stat_counts (kind, key, n, bytes) SELECT 'unique', '', 1, NEW.bytes
    WHERE NOT EXISTS (SELECT 1 FROM images WHERE sha256 = NEW.sha256 AND id <> NEW.id)
    ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
  INSERT INTO stat_counts (kind, key, n, bytes) VALUES ('format', NEW.content_type, 1, NEW.bytes)
    ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
  INSERT INTO stat_counts (kind, key, n, bytes) VALUES ('model', coalesce(NEW.camera_model, ''), 1, NEW.bytes)
    ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
  INSERT INTO stat_counts (kind, key, n, bytes) VALUES ('state', NEW.state, 1, NEW.bytes)
    ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER images_stats_state AFTER UPDATE OF state ON images WHEN OLD.state <> NEW.state BEGIN
  UPDATE stat_counts SET n = n - 1, bytes = bytes - OLD.bytes WHERE kind = 'state' AND key = OLD.state;
  INSERT INTO stat_counts (kind, key, n, bytes) VALUES ('state', NEW.state, 1, NEW.bytes)
    ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
  INSERT INTO stat_counts (kind, key, n, bytes) SELECT 'day', substr(NEW.uploaded_at, 1, 10), 1, NEW.bytes
    WHERE NEW.state = 'uploaded' AND NEW.uploaded_at IS NOT NULL
    ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER images_stats_model AFTER UPDATE OF camera_model ON images WHEN OLD.camera_model IS NOT NEW.camera_model BEGIN
  UPDATE stat_counts SET n = n - 1, bytes = bytes - OLD.bytes WHERE kind = 'model' AND key = coalesce(OLD.camera_model, '');
  INSERT INTO stat_counts (kind, key, n, bytes) VALUES ('model', coalesce(NEW.camera_model, ''), 1, NEW.bytes)
    ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
END;
