-- Upgrade of a cluster made by a cluster.sql from before pages carried
-- validators (linkindex/sql/upgrade_validators.sql, for one server).
--
-- Run it once, before an application of this version connects, with {db} and
-- {cluster} replaced as for cluster.sql (clickhouse-client --multiquery). The
-- application refuses a cluster that lacks it. The columns go on the local
-- table first, then on the Distributed one; metadata only.

ALTER TABLE {db}.pages_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS etag String DEFAULT '' CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS last_modified String DEFAULT '' CODEC(ZSTD(1));

ALTER TABLE {db}.pages ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS etag String DEFAULT '' CODEC(ZSTD(1)),
    ADD COLUMN IF NOT EXISTS last_modified String DEFAULT '' CODEC(ZSTD(1));
