-- Cheaper log writes: drop the per-sort-column indexes the list does not need.
--
-- Every index costs each insert a B-tree update; an index on a value spread at random (cost,
-- duration, tokens) also dirties a different page per row, which the WAL then writes whole:
-- at 256 rows a batch those four indexes made most of the bytes written. What stays:
--   logs_id       (gkey, id)                   lookups by id; duplicate detection
--   logs_created  (gkey, created_at, id)       the default list, date ranges, DELETE_OLDEST
--   logs_provider (gkey, provider, created_at, id)  provider filter, newest first, and its count
--   logs_model    (gkey, model, created_at, id)     model filter, the same
--   logs_success  (gkey, success, created_at, id)   errors only, the same
--   logs_event_id (gkey, event_id) WHERE event_id IS NOT NULL   correlation lookups
-- Ordering by cost, duration, tokens or cached now reads the rows and sorts them (a top-N
-- sort, kept to one page's worth of rows); see the timings in src/bench.rs.
DROP INDEX IF EXISTS logs_cached;
DROP INDEX IF EXISTS logs_cost;
DROP INDEX IF EXISTS logs_duration;
DROP INDEX IF EXISTS logs_tokens_in;
DROP INDEX IF EXISTS logs_tokens_out;
