-- Upgrade of a cluster made by a cluster.sql from before the host facts (the
-- counterpart of linkindex/sql/upgrade_host_facts.sql, which says what each
-- statement does).
--
-- Run this version's cluster.sql first (it creates host_writes, host_facts
-- and their views; it does not alter domain_reports), then this file once,
-- with {db} and {cluster} replaced as for cluster.sql (clickhouse-client
-- --multiquery), before an application of this version connects. Local
-- tables first; the inserts go through the Distributed tables.

ALTER TABLE {db}.domain_reports_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS locations Array(Tuple(String, UInt64)),
    ADD COLUMN IF NOT EXISTS lost_reasons Array(Tuple(String, UInt64)),
    ADD COLUMN IF NOT EXISTS sitewide_backlinks UInt64,
    ADD COLUMN IF NOT EXISTS broken_backlinks UInt64,
    ADD COLUMN IF NOT EXISTS backlinks_with_ip UInt64,
    ADD COLUMN IF NOT EXISTS referring_ips UInt64,
    ADD COLUMN IF NOT EXISTS referring_subnets UInt64,
    ADD COLUMN IF NOT EXISTS subnets Array(Tuple(String, UInt64, UInt64, UInt64));

ALTER TABLE {db}.domain_reports ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS locations Array(Tuple(String, UInt64)),
    ADD COLUMN IF NOT EXISTS lost_reasons Array(Tuple(String, UInt64)),
    ADD COLUMN IF NOT EXISTS sitewide_backlinks UInt64,
    ADD COLUMN IF NOT EXISTS broken_backlinks UInt64,
    ADD COLUMN IF NOT EXISTS backlinks_with_ip UInt64,
    ADD COLUMN IF NOT EXISTS referring_ips UInt64,
    ADD COLUMN IF NOT EXISTS referring_subnets UInt64,
    ADD COLUMN IF NOT EXISTS subnets Array(Tuple(String, UInt64, UInt64, UInt64));

INSERT INTO {db}.host_writes (rev_host, domain, written_at)
SELECT rev_host, any(domain), now64(3, 'UTC') FROM {db}.pages GROUP BY rev_host;

INSERT INTO {db}.domain_writes (target_domain, written_at)
SELECT target_domain, now64(3, 'UTC') FROM {db}.domain_reports GROUP BY target_domain;
