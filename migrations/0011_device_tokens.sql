-- DEVICE_AUTH=token: each device uploads with its own bearer token. Only the token's SHA-256 is kept; the
-- token itself is shown once, by `image-spool tokens add`.
CREATE TABLE device_tokens (
  token_id     TEXT PRIMARY KEY,
  device_id    TEXT NOT NULL,
  token_sha256 TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
  created_at   TEXT NOT NULL,
  revoked_at   TEXT
) STRICT;
CREATE INDEX device_tokens_device ON device_tokens (device_id);
