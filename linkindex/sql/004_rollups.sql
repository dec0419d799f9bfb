-- linkgraph index schema: domain rollups.
--
-- Precomputed answers for whole registered domains under the default filters
-- (external links, every kind, live and lost): `refdomains` and `report` of a
-- domain with a million backlinks read a few thousand rollup rows instead of
-- aggregating every backlink. linkindex/rollups.py writes and reads them.
--
-- Exact, never stale: `domain_writes` records when edges of each target domain
-- were last written (a materialized view on every insert into `edges`, lost
-- markers included), and a rollup row records when its refresh started
-- (`refreshed_at`). A query uses a domain's rollup only if it was refreshed
-- after the domain's last write; otherwise it aggregates the edges, as it
-- would without rollups. Counts kept up to date per insert would double when
-- a batch is replayed; a refresh recomputes them from the merged edges, so it
-- is idempotent.
--
-- ReplacingMergeTree(refreshed_at): the newest refresh of a row wins. Rows are
-- never removed: edges are never deleted, so a domain pair once present stays.

CREATE TABLE IF NOT EXISTS {db}.domain_writes
(
    target_domain String CODEC(ZSTD(1)),
    written_at    SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY target_domain;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.domain_writes_mv TO {db}.domain_writes AS
SELECT target_domain, max(now64(3, 'UTC')) AS written_at
FROM {db}.edges
GROUP BY target_domain;

-- One row per (target domain, referring domain): the columns of `refdomains`.
CREATE TABLE IF NOT EXISTS {db}.domain_refdomains
(
    target_domain  String CODEC(ZSTD(1)),
    source_domain  String CODEC(ZSTD(1)),
    -- Small counts and unordered times: T64 keeps the bits they use.
    links          UInt64 CODEC(T64, ZSTD(1)),
    dofollow_links UInt64 CODEC(T64, ZSTD(1)),
    target_urls    UInt64 CODEC(T64, ZSTD(1)),
    first_seen     DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    last_seen      DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    refreshed_at   DateTime64(3, 'UTC') CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY (target_domain, source_domain);

-- One row per target domain: the figures of `report` (linkindex/reports.py).
CREATE TABLE IF NOT EXISTS {db}.domain_reports
(
    target_domain              String CODEC(ZSTD(1)),
    backlinks                  UInt64,
    referring_domains          UInt64,
    referring_hosts            UInt64,
    target_urls                UInt64,
    dofollow                   UInt64,
    nofollow                   UInt64,
    ugc                        UInt64,
    sponsored                  UInt64,
    image                      UInt64,
    kind_a                     UInt64,
    kind_canonical             UInt64,
    kind_redirect              UInt64,
    dofollow_referring_domains UInt64,
    first_seen                 DateTime64(3, 'UTC'),
    last_seen                  DateTime64(3, 'UTC'),
    lost                       UInt64,
    gov_referring_domains      UInt64,
    edu_referring_domains      UInt64,
    -- The 20 top-level domains with most referring domains: (tld, domains).
    tlds                       Array(Tuple(String, UInt64)),
    -- New and lost links per UTC day: (day, new, lost), oldest first.
    history                    Array(Tuple(Date, UInt64, UInt64)),
    refreshed_at               DateTime64(3, 'UTC'),
    -- Where the links sit (linkindex/reports.py): backlinks per location and
    -- per lost reason, sitewide and broken backlinks, and the referring
    -- addresses: (subnet, referring domains, addresses, backlinks), top 20.
    locations                  Array(Tuple(String, UInt64)),
    lost_reasons               Array(Tuple(String, UInt64)),
    sitewide_backlinks         UInt64,
    broken_backlinks           UInt64,
    backlinks_with_ip          UInt64,
    referring_ips              UInt64,
    referring_subnets          UInt64,
    subnets                    Array(Tuple(String, UInt64, UInt64, UInt64))
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY target_domain;
