-- Upgrade of an index created before edges carried their location, context
-- and lost reason, and pages their facts (001_init.sql, 003_fetches.sql).
--
-- Run once, by Index.migrate(), when `edges` exists without lost_reason. The
-- ALTERs run before the migrations (the links view reads the new columns):
-- `latest` gains three elements at its end in `edges` (location,
-- text_before, text_after) and one in `edges_by_source` (location: the texts
-- are kept by `edges` alone); a mutation rewrites the column, old sightings
-- read as location 'other' with empty texts. Both edge tables gain
-- lost_reason, pages their facts (empty for pages stored before, appended
-- after the validators of upgrade_validators.sql, which runs first) and
-- fetches robots_noindex. The
-- INSERTs run after every other backfill: each lost edge gets the reason of
-- the fetch that lost it, from that fetch's status (3xx page_redirected, 4xx
-- page_gone, else link_removed; whether an earlier fetch said noindex was not
-- recorded). Marker rows as in linkindex/writer.py, mark_lost: values that
-- never win a merge but lost_at and lost_reason. Idempotent.

ALTER TABLE {db}.edges
    MODIFY COLUMN latest SimpleAggregateFunction(max, Tuple(
                        seen DateTime64(3, 'UTC'),
                        anchor String,
                        image Bool,
                        nofollow Bool,
                        ugc Bool,
                        sponsored Bool,
                        link_count UInt32,
                        location Enum8('other' = 0, 'content' = 1, 'nav' = 2, 'header' = 3,
                                       'footer' = 4, 'aside' = 5),
                        text_before String,
                        text_after String)) CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS lost_reason SimpleAggregateFunction(max, Tuple(
                        at DateTime64(3, 'UTC'),
                        reason Enum8('' = 0, 'link_removed' = 1, 'page_gone' = 2,
                                     'page_redirected' = 3, 'page_noindex' = 4))) CODEC(ZSTD(1));

ALTER TABLE {db}.edges_by_source
    MODIFY COLUMN latest SimpleAggregateFunction(max, Tuple(
                        seen DateTime64(3, 'UTC'),
                        anchor String,
                        image Bool,
                        nofollow Bool,
                        ugc Bool,
                        sponsored Bool,
                        link_count UInt32,
                        location Enum8('other' = 0, 'content' = 1, 'nav' = 2, 'header' = 3,
                                       'footer' = 4, 'aside' = 5))) CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS lost_reason SimpleAggregateFunction(max, Tuple(
                        at DateTime64(3, 'UTC'),
                        reason Enum8('' = 0, 'link_removed' = 1, 'page_gone' = 2,
                                     'page_redirected' = 3, 'page_noindex' = 4))) CODEC(ZSTD(1));

ALTER TABLE {db}.pages
    ADD COLUMN IF NOT EXISTS robots_noindex Bool,
    ADD COLUMN IF NOT EXISTS title String CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS lang LowCardinality(String),
    ADD COLUMN IF NOT EXISTS words UInt32,
    ADD COLUMN IF NOT EXISTS internal_links UInt32,
    ADD COLUMN IF NOT EXISTS external_links UInt32,
    ADD COLUMN IF NOT EXISTS ip String CODEC(ZSTD(1));

ALTER TABLE {db}.fetches ADD COLUMN IF NOT EXISTS robots_noindex Bool;

INSERT INTO {db}.edges
    (target_domain, target_rev_host, target_url, source_url, kind, target_host,
     source_host, source_domain, first_seen, lost_at, lost_reason)
SELECT e.target_domain, e.target_rev_host, e.target_url, e.source_url, e.kind,
       e.target_host, e.source_host, e.source_domain,
       toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'), e.lost_at,
       (e.lost_at, multiIf(f.status BETWEEN 300 AND 399, 'page_redirected',
                           f.status BETWEEN 400 AND 499, 'page_gone', 'link_removed'))
FROM {db}.edges AS e FINAL
INNER JOIN (SELECT url, fetched_at, status FROM {db}.fetches) AS f
    ON f.url = e.source_url AND f.fetched_at = e.lost_at
WHERE e.lost_at > e.last_seen;

INSERT INTO {db}.edges_by_source
    (source_domain, source_rev_host, source_url, target_url, kind, source_host,
     target_host, target_domain, first_seen, lost_at, lost_reason)
SELECT e.source_domain, e.source_rev_host, e.source_url, e.target_url, e.kind,
       e.source_host, e.target_host, e.target_domain,
       toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'), e.lost_at,
       (e.lost_at, multiIf(f.status BETWEEN 300 AND 399, 'page_redirected',
                           f.status BETWEEN 400 AND 499, 'page_gone', 'link_removed'))
FROM {db}.edges_by_source AS e FINAL
INNER JOIN (SELECT url, fetched_at, status FROM {db}.fetches) AS f
    ON f.url = e.source_url AND f.fetched_at = e.lost_at
WHERE e.lost_at > e.last_seen;
