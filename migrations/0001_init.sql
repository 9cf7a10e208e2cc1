-- The ledger: one row per acknowledged image. Times are ISO-8601 UTC text so operators can read and
-- compare them in the sqlite3 shell; they sort correctly as text.
CREATE TABLE images (
  id              TEXT PRIMARY KEY,          -- ULID: sorts by receive time
  device_id       TEXT NOT NULL,
  sha256          TEXT NOT NULL,             -- hex, computed while streaming to disk
  bytes           INTEGER NOT NULL CHECK (bytes > 0),
  content_type    TEXT NOT NULL,             -- from magic bytes, not the client's header
  path            TEXT NOT NULL,             -- relative to SPOOL_DIR
  s3_key          TEXT NOT NULL UNIQUE,      -- fixed at ingest: a re-upload overwrites the same key
  state           TEXT NOT NULL CHECK (state IN ('queued', 'uploading', 'uploaded', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  last_error      TEXT,
  received_at     TEXT NOT NULL,
  claimed_at      TEXT,
  uploaded_at     TEXT
) STRICT;

-- The uploader's claim: oldest queued image that is due.
CREATE INDEX images_state_received ON images (state, received_at, id);

-- What operators ask most: what is waiting, oldest first.
--   sqlite3 spool/ledger.db 'select * from backlog'
CREATE VIEW backlog AS
  SELECT id, device_id, state, bytes, attempts, next_attempt_at, last_error, received_at, s3_key
  FROM images
  WHERE state IN ('queued', 'uploading')
  ORDER BY received_at, id;
