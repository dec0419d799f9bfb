-- Upgrade of an index whose edge tables store last_seen (before the compact
-- schema of 001_init.sql and 004_rollups.sql).
--
-- Run by Index.migrate() when an edge table stores last_seen; the ALTER of an
-- edge table whose last_seen is an alias already is left out. last_seen always
-- equals the sighting time of `latest` (both merge by max over the same
-- sightings; lost markers carry epoch 0 in both), so it becomes an alias of
-- it. Every earlier schema gave the column a codec, which an alias cannot
-- have: it is removed first, in the same ALTER. The other statements change
-- only codecs. Index.migrate() then gives every view its query again (a view
-- keeps the column types it was created with). All of it is metadata: parts
-- written before keep their files and codecs until a merge rewrites them, and
-- every answer stays the same.

ALTER TABLE {db}.edges
    MODIFY COLUMN last_seen REMOVE CODEC,
    MODIFY COLUMN last_seen DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen'),
    MODIFY COLUMN first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    MODIFY COLUMN lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.edges_by_source
    MODIFY COLUMN last_seen REMOVE CODEC,
    MODIFY COLUMN last_seen DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen'),
    MODIFY COLUMN lost_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1));

ALTER TABLE {db}.refdomains
    MODIFY COLUMN first_seen SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    MODIFY COLUMN last_seen SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1));

ALTER TABLE {db}.domain_refdomains
    MODIFY COLUMN links UInt64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN dofollow_links UInt64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN target_urls UInt64 CODEC(T64, ZSTD(1)),
    MODIFY COLUMN first_seen DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    MODIFY COLUMN last_seen DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    MODIFY COLUMN refreshed_at DateTime64(3, 'UTC') CODEC(ZSTD(1));
