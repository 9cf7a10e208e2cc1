-- Large images go up as S3 multipart uploads driven by the uploader. What S3 has accepted is recorded
-- here so a restart resumes the same upload (checked against ListParts) instead of starting over.
CREATE TABLE multipart_uploads (
  image_id   TEXT PRIMARY KEY REFERENCES images (id),
  upload_id  TEXT NOT NULL,
  part_size  INTEGER NOT NULL CHECK (part_size > 0),
  started_at TEXT NOT NULL
) STRICT;

CREATE TABLE multipart_parts (
  image_id        TEXT NOT NULL REFERENCES multipart_uploads (image_id) ON DELETE CASCADE,
  part_number     INTEGER NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
  etag            TEXT NOT NULL,
  checksum_sha256 TEXT NOT NULL,   -- base64, as S3 wants it back in CompleteMultipartUpload
  bytes           INTEGER NOT NULL,
  PRIMARY KEY (image_id, part_number)
) STRICT;
