-- Upgrade of an index created before pages carried validators (001_init.sql).
--
-- Run once, by Index.migrate(), when `pages` exists without `etag`: adds the
-- ETag and Last-Modified of a page's latest 2xx answer, which revisits send
-- back (docs/crawling.md#revisits). Rows written before read '' (no
-- validator known): their first revisit is an unconditional fetch.

ALTER TABLE {db}.pages
    ADD COLUMN IF NOT EXISTS etag String DEFAULT '' CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS last_modified String DEFAULT '' CODEC(ZSTD(1));
