-- linkgraph index schema: what each host's pages say about its links.
--
-- Whether a link is sitewide (docs/queries.md#sitewide-and-broken-links)
-- depends on every page of its source host, and the referring addresses of
-- a report on the hosts' fetches: facts no single edge row holds. The host
-- facts keep them per host, refreshed with the domain rollups
-- (linkindex/rollups.py), so that a page of answers reads a hundred rows by
-- key instead of the hosts' edges, and a report reads them from its rollup.
--
-- Exact, never stale, as the rollups are: `host_writes` records when pages
-- of each host were last written (a materialized view on every insert into
-- `pages`), and a host's facts are used only if they were refreshed after
-- that; otherwise the query derives the facts from the edges and pages, as
-- it would without them. Pages written also mark their own domain in
-- `domain_writes`: the status of links to it (broken) may have changed.

CREATE TABLE IF NOT EXISTS {db}.host_writes
(
    rev_host   String CODEC(ZSTD(1)),
    domain     SimpleAggregateFunction(any, String),
    written_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY rev_host;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.host_writes_mv TO {db}.host_writes AS
SELECT rev_host, any(domain) AS domain, max(now64(3, 'UTC')) AS written_at
FROM {db}.pages
GROUP BY rev_host;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.domain_page_writes_mv TO {db}.domain_writes AS
SELECT domain AS target_domain, max(now64(3, 'UTC')) AS written_at
FROM {db}.pages
GROUP BY domain;

-- One row per host: its fetched HTML pages, the address of its latest fetch
-- whose address is known ('' when none), and its sitewide links (target URL
-- and the URL's registered domain).
CREATE TABLE IF NOT EXISTS {db}.host_facts
(
    rev_host     String CODEC(ZSTD(1)),
    host         String CODEC(ZSTD(1)),
    domain       String CODEC(ZSTD(1)),
    html_pages   UInt64,
    ip           String CODEC(ZSTD(1)),
    sitewide     Array(Tuple(url String, domain String)) CODEC(ZSTD(1)),
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY rev_host;
