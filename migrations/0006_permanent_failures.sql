-- MAX_ATTEMPTS counts the failures that are the image's own (S3 refused it, e.g. 400 InvalidDigest or 403
-- on its key), not network errors, 5xx or throttling, which are retried forever. Without this count, one
-- refusal after nine network failures made an image dead at once.
ALTER TABLE images ADD COLUMN permanent_failures INTEGER NOT NULL DEFAULT 0;
