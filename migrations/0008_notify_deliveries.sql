-- Outcome webhooks (NOTIFY_URL): one row per notification, inserted when the image is uploaded or dead, so a
-- restart resumes what was not yet delivered. `body` is the exact JSON POSTed (and signed) on every attempt.
--   sqlite3 spool/ledger.db 'select * from notify_deliveries'
-- image_id has no REFERENCES images (id) on purpose: rows are kept, and a foreign key would make a future
-- rebuild of `images` (as in 0004) fail while deliveries point at it. The body is a snapshot of the image anyway.
CREATE TABLE notify_deliveries (
  id              INTEGER PRIMARY KEY,       -- sent as X-Image-Spool-Delivery: receivers deduplicate on it
  image_id        TEXT NOT NULL,
  event           TEXT NOT NULL CHECK (event IN ('uploaded', 'dead')),
  body            TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,  -- POSTs that got an answer, an error or a timeout
  next_attempt_at TEXT NOT NULL,
  last_status     INTEGER,                   -- HTTP status of the last answer; NULL when none came
  last_error      TEXT,
  created_at      TEXT NOT NULL,
  delivered_at    TEXT
) STRICT;

-- The sender's due-query: pending rows by next_attempt_at. Partial, so delivered rows cost it nothing.
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX notify_deliveries_image ON notify_deliveries (image_id);
