-- linkgraph index schema: watch checkpoints.
--
-- `linkgraph watch TARGET` reports the backlinks of TARGET that are new or
-- lost since its last watch (linkindex/watch.py, docs/queries.md#watch); each
-- watch that delivered its records stores the moment it read up to here, and
-- the next one starts from it.
--
-- One row per (target, scope) that was ever watched, newest checkpoint kept:
-- ReplacingMergeTree(watched_at) merges the rows of one target to the latest,
-- and readers take max(watched_at), which is right before merges too.

CREATE TABLE IF NOT EXISTS {db}.watches
(
    -- What TARGET matched: the registered domain, the host, or the normalized
    -- URL (of a page, or the prefix), by scope.
    target     String CODEC(ZSTD(1)),
    scope      LowCardinality(String),
    -- The moment the watch read up to: links first seen or lost after it are
    -- the next watch's.
    watched_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(watched_at)
ORDER BY (target, scope);
