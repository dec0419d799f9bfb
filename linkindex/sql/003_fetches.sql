-- linkgraph index schema: fetch history (lost links).
--
-- One row per fetch of a page, whatever it answered. An edge is *live* while
-- its last_seen is at least the latest conclusive fetch of its source page
-- (status below 500: a 5xx proves nothing about the page's links), and *lost*
-- otherwise, as of the first conclusive fetch after its last_seen (an ASOF
-- join). Nothing is written per edge to keep this history: one row per page
-- fetch, a small fraction of the edges.
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
