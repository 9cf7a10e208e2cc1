-- Finished webhook deliveries are kept NOTIFY_KEEP_HOURS for operators to read, then deleted (one row per
-- receipt: at 1,000 images a minute the table would otherwise grow by ~1.4 million rows a day). This index
-- finds the old finished ones without scanning the table; pending rows are never deleted.
CREATE INDEX notify_deliveries_finished ON notify_deliveries (created_at) WHERE state <> 'pending';
