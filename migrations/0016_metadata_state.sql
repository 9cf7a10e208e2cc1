-- Metadata extraction records its attempt before the image's bytes reach a parser (issue 18): a poison image
-- (a parser that loops, or eats memory) is tried once and marked failed, never retried in a loop after restarts.
--   NULL        metadata_at NULL: not tried yet. metadata_at set: done (extracted before this migration;
--               not backfilled, so that upgrading a ledger of a million rows rewrites none of them)
--   extracting  a thread is parsing it; found so at start (a crash or kill cut it short): marked failed
--   done        metadata_at set, the metadata columns hold what the image carries (nulls included)
--   failed      metadata_at set, metadata columns null, metadata_error says why (timeout, memory, ...)
ALTER TABLE images ADD COLUMN metadata_state TEXT CHECK (metadata_state IN ('extracting', 'done', 'failed'));
ALTER TABLE images ADD COLUMN metadata_error TEXT;
