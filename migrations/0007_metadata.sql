-- The catalogue: what each image is, read from its own bytes right after ingest (off the request path).
-- metadata_at is NULL until extraction ran (a crash in between: startup extracts the rest).
ALTER TABLE images ADD COLUMN width INTEGER;
ALTER TABLE images ADD COLUMN height INTEGER;
ALTER TABLE images ADD COLUMN camera_make TEXT;
ALTER TABLE images ADD COLUMN camera_model TEXT;
ALTER TABLE images ADD COLUMN gps_lat REAL;
ALTER TABLE images ADD COLUMN gps_lon REAL;
ALTER TABLE images ADD COLUMN captured_at TEXT;      -- as written in EXIF, camera-local: YYYY-MM-DDTHH:MM:SS
ALTER TABLE images ADD COLUMN captured_at_utc TEXT;  -- only when EXIF gives the offset
ALTER TABLE images ADD COLUMN orientation INTEGER;
ALTER TABLE images ADD COLUMN metadata_at TEXT;

-- Stats: top camera models and formats, uploads per day, without scanning a million rows.
CREATE INDEX images_camera_model ON images (camera_model);
CREATE INDEX images_content_type ON images (content_type);
CREATE INDEX images_uploaded_at ON images (uploaded_at) WHERE uploaded_at IS NOT NULL;
CREATE INDEX images_metadata_pending ON images (id) WHERE metadata_at IS NULL;
