-- GET /admin/stats in constant time, whatever the size of the ledger: counters kept by triggers in the
-- same transaction as every insert and state change, so they can never disagree with the rows.
--   kind 'receipts'  key ''            every image row (n, bytes)
--   kind 'unique'    key ''            rows whose bytes (sha256) no earlier row had
--   kind 'format'    key content_type
--   kind 'model'     key camera_model ('' = unknown, including not yet extracted)
--   kind 'state'     key state
--   kind 'day'       key YYYY-MM-DD    uploads per UTC day (by uploaded_at)
CREATE TABLE stat_counts (
  kind  TEXT NOT NULL,
  key   TEXT NOT NULL,
  n     INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (kind, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX images_sha256 ON images (sha256);

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

-- Rows that exist already.
INSERT INTO stat_counts (kind, key, n, bytes) SELECT 'receipts', '', count(*), coalesce(sum(bytes), 0) FROM images;
INSERT INTO stat_counts (kind, key, n, bytes)
  SELECT 'unique', '', count(*), coalesce(sum(bytes), 0) FROM (SELECT min(bytes) AS bytes FROM images GROUP BY sha256);
INSERT INTO stat_counts (kind, key, n, bytes) SELECT 'format', content_type, count(*), sum(bytes) FROM images GROUP BY content_type;
INSERT INTO stat_counts (kind, key, n, bytes) SELECT 'model', coalesce(camera_model, ''), count(*), sum(bytes) FROM images GROUP BY coalesce(camera_model, '');
INSERT INTO stat_counts (kind, key, n, bytes) SELECT 'state', state, count(*), sum(bytes) FROM images GROUP BY state;
INSERT INTO stat_counts (kind, key, n, bytes)
  SELECT 'day', substr(uploaded_at, 1, 10), count(*), sum(bytes) FROM images WHERE state = 'uploaded' AND uploaded_at IS NOT NULL GROUP BY 1;
