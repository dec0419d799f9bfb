-- Upgrade of a cluster made by an earlier cluster.sql whose edges carry no
-- location, context or lost reason, and pages no facts (the counterpart of
-- linkindex/sql/upgrade_context.sql, which says what each statement does).
--
-- Run it once, after upgrade_lost_at.sql, upgrade_compact.sql and
-- upgrade_validators.sql where those are due and before an application of
-- this version connects, with {db} and {cluster} replaced as for cluster.sql (clickhouse-client --multiquery), then
-- run this version's cluster.sql again: it replaces the `links` view, which
-- reads the new columns. Local tables first, so that no Distributed insert
-- carries a column the shards lack. `latest` gains three elements in `edges`
-- (location and the texts around the link) and one in `edges_by_source`
-- (location; the texts are kept by `edges` alone): a mutation rewrites the
-- column on every shard (in the background; old parts read with
-- the new elements empty meanwhile). The lost reasons are written from the
-- fetch history through the Distributed tables (GLOBAL join: the fetches are
-- gathered once and sent to every shard).

ALTER TABLE {db}.edges_local ON CLUSTER '{cluster}'
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

ALTER TABLE {db}.edges_by_source_local ON CLUSTER '{cluster}'
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

ALTER TABLE {db}.pages_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS robots_noindex Bool,
    ADD COLUMN IF NOT EXISTS title String CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS lang LowCardinality(String),
    ADD COLUMN IF NOT EXISTS words UInt32,
    ADD COLUMN IF NOT EXISTS internal_links UInt32,
    ADD COLUMN IF NOT EXISTS external_links UInt32,
    ADD COLUMN IF NOT EXISTS ip String CODEC(ZSTD(1));

ALTER TABLE {db}.fetches_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS robots_noindex Bool;

ALTER TABLE {db}.edges ON CLUSTER '{cluster}'
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

ALTER TABLE {db}.edges_by_source ON CLUSTER '{cluster}'
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

ALTER TABLE {db}.pages ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS robots_noindex Bool,
    ADD COLUMN IF NOT EXISTS title String CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS lang LowCardinality(String),
    ADD COLUMN IF NOT EXISTS words UInt32,
    ADD COLUMN IF NOT EXISTS internal_links UInt32,
    ADD COLUMN IF NOT EXISTS external_links UInt32,
    ADD COLUMN IF NOT EXISTS ip String CODEC(ZSTD(1));

ALTER TABLE {db}.fetches ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS robots_noindex Bool;

INSERT INTO {db}.edges
    (target_domain, target_rev_host, target_url, source_url, kind, target_host,
     source_host, source_domain, first_seen, lost_at, lost_reason)
SELECT e.target_domain, e.target_rev_host, e.target_url, e.source_url, e.kind,
       e.target_host, e.source_host, e.source_domain,
       toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'), e.lost_at,
       (e.lost_at, multiIf(f.status BETWEEN 300 AND 399, 'page_redirected',
                           f.status BETWEEN 400 AND 499, 'page_gone', 'link_removed'))
FROM {db}.edges AS e FINAL
GLOBAL INNER JOIN (SELECT url, fetched_at, status FROM {db}.fetches) AS f
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
GLOBAL INNER JOIN (SELECT url, fetched_at, status FROM {db}.fetches) AS f
    ON f.url = e.source_url AND f.fetched_at = e.lost_at
WHERE e.lost_at > e.last_seen;
