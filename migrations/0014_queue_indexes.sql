-- Issue 7, a million rows: the uploader's own questions answered from the backlog alone.
-- "When is the next queued image due?" (asked whenever nothing is due): one seek in an index of the queued
-- rows only, instead of reading every queued row (70-140 ms at 100,000 queued in a million-row ledger,
-- docs/BENCHMARKS.md). Partial, so uploaded rows
-- (the other 90% of a big ledger) cost it nothing.
CREATE INDEX images_queued_due ON images (next_attempt_at) WHERE state = 'queued';
