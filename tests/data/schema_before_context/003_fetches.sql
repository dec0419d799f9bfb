-- linkgraph index schema: fetch history (lost links).
--
-- One row per fetch of a page, whatever it answered. When a conclusive fetch
-- (status below 500: a 5xx proves nothing about the page's links) of a page
-- fetched before is stored, the writer marks `lost_at` on the page's live
-- edges that the fetch no longer carried (consumers/edges.py, mark_lost):
-- this table tells it which pages were fetched before, and when.
--
-- ReplacingMergeTree over (rev_host, url, fetched_at): a replayed batch writes
-- the same fetch again and merges into one row.

CREATE TABLE IF NOT EXISTS {db}.fetches
(
    rev_host   String CODEC(ZSTD(1)),
    url        String CODEC(ZSTD(1)),
    fetched_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    status     UInt16,
    job        LowCardinality(String)
)
ENGINE = ReplacingMergeTree
ORDER BY (rev_host, url, fetched_at);
