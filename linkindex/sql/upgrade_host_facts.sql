-- Upgrade of an index created before the host facts (005_host_facts.sql).
--
-- Run once, by Index.migrate(), after the migrations, when `pages` exists
-- but `host_writes` did not: the domain reports gain the figures of where
-- links sit, every host with pages is marked written (its facts are derived
-- from the edges until `linkgraph rollup` or the next crawl refreshes them),
-- and every rolled-up domain is marked written, so that no report is read
-- from a rollup without those figures.

ALTER TABLE {db}.domain_reports
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
