-- Overload policy and device retries (issue 4):
--   state 'evicted': SPOOL_FULL_POLICY=evict-oldest dropped a queued image (file deleted) to admit a new one.
--   idempotency_key: the device's Idempotency-Key header, so a retried POST returns the original receipt.
--   (device_id, sha256): a device resending the same bytes without a key gets the original receipt too.
-- SQLite cannot alter a CHECK constraint, so the table is rebuilt (rows, indexes and the view carried over).
CREATE TABLE images_v4 (
  id              TEXT PRIMARY KEY,
  device_id       TEXT NOT NULL,
  sha256          TEXT NOT NULL,
  bytes           INTEGER NOT NULL CHECK (bytes > 0),
  content_type    TEXT NOT NULL,
  path            TEXT NOT NULL,
  s3_key          TEXT NOT NULL UNIQUE,
  state           TEXT NOT NULL CHECK (state IN ('queued', 'uploading', 'uploaded', 'dead', 'evicted')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  last_error      TEXT,
  received_at     TEXT NOT NULL,
  claimed_at      TEXT,
  uploaded_at     TEXT,
  idempotency_key TEXT
) STRICT;

INSERT INTO images_v4 (id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts, next_attempt_at,
                       last_error, received_at, claimed_at, uploaded_at)
  SELECT id, device_id, sha256, bytes, content_type, path, s3_key, state, attempts, next_attempt_at,
         last_error, received_at, claimed_at, uploaded_at
  FROM images;

DROP VIEW backlog;
DROP TABLE images;
ALTER TABLE images_v4 RENAME TO images;

CREATE INDEX images_state_received ON images (state, received_at, id);
CREATE INDEX images_state_device_received ON images (state, device_id, received_at, id);
CREATE INDEX images_device_sha256 ON images (device_id, sha256);
CREATE UNIQUE INDEX images_device_idempotency_key ON images (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE VIEW backlog AS
  SELECT id, device_id, state, bytes, attempts, next_attempt_at, last_error, received_at, s3_key
  FROM images
  WHERE state IN ('queued', 'uploading')
  ORDER BY received_at, id;
