-- Upgrade of a cluster made by a cluster.sql from before pages carried a
-- text profile (linkindex/sql/upgrade_profiles.sql, for one server;
-- docs/relevance.md).
--
-- Run it once, after upgrade_context.sql and before an application of this
-- version connects, with {db} and {cluster} replaced as for cluster.sql
-- (clickhouse-client --multiquery). The application refuses a cluster that
-- lacks it. The columns go on the local table first, then on the Distributed
-- one; metadata only.

ALTER TABLE {db}.pages_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS profile_terms Array(String) CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS profile_counts Array(UInt8) CODEC(ZSTD(1));

ALTER TABLE {db}.pages ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS profile_terms Array(String) CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS profile_counts Array(UInt8) CODEC(ZSTD(1));
