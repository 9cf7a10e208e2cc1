-- Expirable upload links (POST /admin/links): devices or people without a standing credential upload through
-- POST /u/{secret}. The secret (32 random bytes) is handed out once and never stored: only its SHA-256 is,
-- and a presented secret is found by its hash, then compared in constant time.
CREATE TABLE upload_links (
  token_id      TEXT PRIMARY KEY,                 -- public id (12 hex): listing and DELETE /admin/links/{token_id}
  secret_sha256 TEXT NOT NULL UNIQUE               -- hex sha256 of the secret; the unique index is the lookup
                CHECK (length(secret_sha256) = 64),
  device_id     TEXT,                              -- the device every upload is stored as, or NULL: the form says
  max_uploads   INTEGER CHECK (max_uploads IS NULL OR max_uploads BETWEEN 1 AND 10000),  -- NULL: until expiry
  uploads_used  INTEGER NOT NULL DEFAULT 0
                CHECK (uploads_used >= 0 AND (max_uploads IS NULL OR uploads_used <= max_uploads)),
  expires_at    TEXT NOT NULL,                     -- ISO-8601 UTC, like every time in the ledger
  revoked_at    TEXT,                              -- set by DELETE /admin/links/{token_id}
  created_at    TEXT NOT NULL
) STRICT;

-- Which images came in through which link (for an operator cleaning up after a leaked link):
--   sqlite3 spool/ledger.db "select i.id, i.device_id, i.state from images i join upload_link_images l on l.image_id = i.id where l.token_id = '...'"
-- No foreign key to images: a later migration that rebuilds `images` must not be blocked by these rows.
CREATE TABLE upload_link_images (
  image_id TEXT PRIMARY KEY,
  token_id TEXT NOT NULL REFERENCES upload_links (token_id)
) STRICT;
CREATE INDEX upload_link_images_token ON upload_link_images (token_id);
