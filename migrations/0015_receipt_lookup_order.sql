-- Issue 7: every ingest asks twice whether these bytes were received before (earlierReceipt: same device and
-- SHA-256; liveOriginal: same SHA-256), and wants the earliest receipt. Indexed on (device_id, sha256) and
-- (sha256) alone, SQLite sorted the one or two matches in a temporary b-tree, and each temporary b-tree
-- allocated its own ~90 KB page cache: per ingest, hundreds of KB of malloc churn on the event loop, which
-- also held up peak RSS under 150 concurrent uploads. With id as the last column, the index is already in
-- receipt order: no sort.
DROP INDEX images_device_sha256;
CREATE INDEX images_device_sha256 ON images (device_id, sha256, id);
DROP INDEX images_sha256;
CREATE INDEX images_sha256 ON images (sha256, id);
