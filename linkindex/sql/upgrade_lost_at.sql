-- Upgrade of an index created before edges carried lost_at (001_init.sql).
--
-- Run once, by Index.migrate(), when `edges` exists without the column: adds
-- it to both edge tables, then writes the lost markers the writer would have
-- written, from the fetch history: an edge whose last_seen is older than a
-- conclusive fetch (status < 500) of its source page is lost as of the first
-- such fetch (an ASOF join). Marker rows carry values that never win a merge
-- (see linkindex/writer.py, mark_lost; `latest` left to its default, the
-- epoch, whatever elements it has). Idempotent: markers merge by max().

ALTER TABLE {db}.edges ADD COLUMN IF NOT EXISTS
    lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.edges_by_source ADD COLUMN IF NOT EXISTS
    lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

INSERT INTO {db}.edges
    (target_domain, target_rev_host, target_url, source_url, kind, target_host,
     source_host, source_domain, first_seen, lost_at)
SELECT e.target_domain, e.target_rev_host, e.target_url, e.source_url, e.kind,
       e.target_host, e.source_host, e.source_domain,
       toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'),
       f.fetched_at
FROM {db}.edges AS e FINAL
ASOF JOIN (SELECT url, fetched_at FROM {db}.fetches WHERE status < 500) AS f
    ON f.url = e.source_url AND f.fetched_at > e.last_seen;

INSERT INTO {db}.edges_by_source
    (source_domain, source_rev_host, source_url, target_url, kind, source_host,
     target_host, target_domain, first_seen, lost_at)
SELECT e.source_domain, e.source_rev_host, e.source_url, e.target_url, e.kind,
       e.source_host, e.target_host, e.target_domain,
       toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'),
       f.fetched_at
FROM {db}.edges_by_source AS e FINAL
ASOF JOIN (SELECT url, fetched_at FROM {db}.fetches WHERE status < 500) AS f
    ON f.url = e.source_url AND f.fetched_at > e.last_seen;
