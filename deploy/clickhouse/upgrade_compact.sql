-- Upgrade of a cluster made by an earlier cluster.sql whose edge tables store
-- last_seen (the compact schema of linkindex/sql/upgrade_compact.sql).
--
-- Run it once, before an application of this version connects, with {db} and
-- {cluster} replaced as for cluster.sql (clickhouse-client --multiquery), then
-- run this version's cluster.sql again: it creates only what is missing, and
-- replaces the `links` view (a view keeps the column types it was created with).
-- The application upgrades one server itself, but not a cluster: it sees only
-- the Distributed tables, and refuses to start until this has run.
--
-- last_seen always equals the sighting time of `latest`, so it becomes an alias
-- of it; the rest changes codecs. All of it is metadata: parts keep their files
-- and codecs until merges rewrite them, and every answer stays the same. Local
-- tables first, so that no Distributed insert carries a column the shards no
-- longer store.

ALTER TABLE {db}.edges_local ON CLUSTER '{cluster}'
    MODIFY COLUMN last_seen REMOVE CODEC,
    MODIFY COLUMN last_seen DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen'),
    MODIFY COLUMN first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    MODIFY COLUMN lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.edges_by_source_local ON CLUSTER '{cluster}'
    MODIFY COLUMN last_seen REMOVE CODEC,
    MODIFY COLUMN last_seen DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen'),
    MODIFY COLUMN lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.refdomains_local ON CLUSTER '{cluster}'
    MODIFY COLUMN first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    MODIFY COLUMN last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1));

ALTER TABLE {db}.domain_refdomains_local ON CLUSTER '{cluster}'
    MODIFY COLUMN links UInt64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN dofollow_links UInt64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN target_urls UInt64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN first_seen DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    MODIFY COLUMN last_seen DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    MODIFY COLUMN refreshed_at DateTime64(3, 'UTC') CODEC(ZSTD(1));

-- The view keeps the column types it was created with: the same query again.
ALTER TABLE {db}.refdomains_mv ON CLUSTER '{cluster}' MODIFY QUERY
SELECT
    target_domain,
    source_domain,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
FROM {db}.edges_local
GROUP BY target_domain, source_domain;

ALTER TABLE {db}.edges ON CLUSTER '{cluster}'
    MODIFY COLUMN last_seen REMOVE CODEC,
    MODIFY COLUMN last_seen DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen'),
    MODIFY COLUMN first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    MODIFY COLUMN lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.edges_by_source ON CLUSTER '{cluster}'
    MODIFY COLUMN last_seen REMOVE CODEC,
    MODIFY COLUMN last_seen DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen'),
    MODIFY COLUMN lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.refdomains ON CLUSTER '{cluster}'
    MODIFY COLUMN first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    MODIFY COLUMN last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1));

ALTER TABLE {db}.domain_refdomains ON CLUSTER '{cluster}'
    MODIFY COLUMN links UInt64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN dofollow_links UInt64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN target_urls UInt64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN first_seen DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    MODIFY COLUMN last_seen DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    MODIFY COLUMN refreshed_at DateTime64(3, 'UTC') CODEC(ZSTD(1));
