-- GET /admin/stats `received_per_day` (issue 20): images received per UTC day, every receipt (duplicates
-- included), by received_at. Readers took "uploads per day" for what arrived, while the 'day' counter of 0010
-- counts what reached S3, so during a backlog today read 0 while hundreds arrived. Kept like the counters of
-- 0010: a trigger in the same transaction as the insert, so it can never disagree with the rows.
--   kind 'received_day'  key YYYY-MM-DD  images received that UTC day (n, bytes)
CREATE TRIGGER images_stats_received AFTER INSERT ON images BEGIN
  INSERT INTO stat_counts (kind, key, n, bytes) VALUES ('received_day', substr(NEW.received_at, 1, 10), 1, NEW.bytes)
    ON CONFLICT (kind, key) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
END;

-- Rows that exist already. Grouped by the day (column 2): 0010's backfill of 'day' grouped by column 1, the
-- constant kind, and so put every upload before 0010 under one arbitrary day. Its uploads are counted again
-- here from the rows, which is what the trigger keeps: uploaded rows by the day of uploaded_at.
INSERT INTO stat_counts (kind, key, n, bytes)
  SELECT 'received_day', substr(received_at, 1, 10), count(*), sum(bytes) FROM images GROUP BY 2;
DELETE FROM stat_counts WHERE kind = 'day';
INSERT INTO stat_counts (kind, key, n, bytes)
  SELECT 'day', substr(uploaded_at, 1, 10), count(*), sum(bytes) FROM images
  WHERE state = 'uploaded' AND uploaded_at IS NOT NULL GROUP BY 2;
