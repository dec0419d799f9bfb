-- Upgrade of a cluster made by a cluster.sql from before the edge tables
-- carried lost_at (linkindex/sql/upgrade_lost_at.sql, for one server).
--
-- Run it once, before an application of this version connects, with {db} and
-- {cluster} replaced as for cluster.sql (clickhouse-client --multiquery), then
-- run upgrade_compact.sql. The application refuses a cluster that lacks it.
--
-- The column goes on the local tables first, then on the Distributed ones.
-- The backfill writes, through the Distributed tables, the lost markers the
-- writer would have written: an edge whose last_seen is older than a
-- conclusive fetch (status < 500) of its source page is lost as of the first
-- such fetch. Each shard reads its own edges FINAL (all rows of an edge are on
-- one shard); GLOBAL sends the conclusive fetches, gathered once, to every
-- shard, since fetches are sharded by page and edges by target. Markers never
-- win a merge on the other columns, and lost_at merges by max(): a second run
-- changes nothing.

ALTER TABLE {db}.edges_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS
    lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.edges_by_source_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS
    lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.edges ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS
    lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.edges_by_source ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS
    lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

INSERT INTO {db}.edges
    (target_domain, target_rev_host, target_url, source_url, kind, target_host,
     source_host, source_domain, first_seen, latest, lost_at)
SELECT e.target_domain, e.target_rev_host, e.target_url, e.source_url, e.kind,
       e.target_host, e.source_host, e.source_domain,
       toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'),
       (toDateTime64(0, 3, 'UTC'), '', false, false, false, false, toUInt32(0)),
       f.fetched_at
FROM {db}.edges AS e FINAL
GLOBAL ASOF JOIN (SELECT url, fetched_at FROM {db}.fetches WHERE status < 500) AS f
    ON f.url = e.source_url AND f.fetched_at > e.last_seen;

INSERT INTO {db}.edges_by_source
    (source_domain, source_rev_host, source_url, target_url, kind, source_host,
     target_host, target_domain, first_seen, latest, lost_at)
SELECT e.source_domain, e.source_rev_host, e.source_url, e.target_url, e.kind,
       e.source_host, e.target_host, e.target_domain,
       toDateTime64('2299-12-31 23:59:59.999', 3, 'UTC'),
       (toDateTime64(0, 3, 'UTC'), '', false, false, false, false, toUInt32(0)),
       f.fetched_at
FROM {db}.edges_by_source AS e FINAL
GLOBAL ASOF JOIN (SELECT url, fetched_at FROM {db}.fetches WHERE status < 500) AS f
    ON f.url = e.source_url AND f.fetched_at > e.last_seen;
