-- linkgraph index schema, version 1.
--
-- The same statements run on the embedded index (chDB) and on a ClickHouse
-- server; deploy/clickhouse/ holds the replicated, sharded variant.
-- {db} is replaced by the configured database name.
--
-- Idempotence: every table is an AggregatingMergeTree or ReplacingMergeTree
-- whose merge functions (min, max, latest version) give the same answer however
-- often a row is inserted, so consumers may replay batches after a crash
-- (at-least-once delivery) without doubling or corrupting anything. Queries read
-- with FINAL (or GROUP BY the key) to see merged values before background
-- merges have run.

CREATE TABLE IF NOT EXISTS {db}.edges
(
    -- The ordering key leads with the target: "who links to X?" reads one
    -- contiguous range whether X is a domain, a host (reversed, so a host's
    -- subdomains are adjacent) or a URL.
    target_domain   String CODEC(ZSTD(1)),
    target_rev_host String CODEC(ZSTD(1)),
    target_url      String CODEC(ZSTD(1)),
    source_url      String CODEC(ZSTD(3)),
    kind            Enum8('a' = 1, 'canonical' = 2, 'redirect' = 3),
    -- Functions of the key columns, stored so that SQL users need no UDFs;
    -- any() is exact here because every row of one key carries the same value.
    target_host     SimpleAggregateFunction(any, String) CODEC(ZSTD(1)),
    source_host     SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    source_domain   SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    -- Earliest sighting: min() merges without a read before write. Rows are in
    -- target order, so sighting times are in no order: T64 keeps the bits they
    -- use (Delta of unordered times is larger than the times).
    first_seen      SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    -- The latest sighting is the time of `latest` (below), which max() merges
    -- by that time first: stored once, not twice (6 bytes an edge).
    last_seen       DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen'),
    -- The attributes of the latest sighting. max() over a tuple that starts with
    -- the sighting time picks the newest deterministically, so a replay of an
    -- old batch can never overwrite newer attributes.
    latest          SimpleAggregateFunction(max, Tuple(
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
    -- When a conclusive re-fetch of the source page no longer carried the
    -- link (written by the writer that stores the re-fetch; epoch 0: never).
    -- The edge is lost while lost_at > last_seen and live again once a later
    -- fetch sights it (last_seen moves past lost_at). max() merges.
    lost_at         SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    -- Why it was lost, written with lost_at by the same marker: max() by the
    -- time first keeps the reason of the latest loss (docs/queries.md#lost-links).
    lost_reason     SimpleAggregateFunction(max, Tuple(
                        at DateTime64(3, 'UTC'),
                        reason Enum8('' = 0, 'link_removed' = 1, 'page_gone' = 2,
                                     'page_redirected' = 3, 'page_noindex' = 4))) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
ORDER BY (target_domain, target_rev_host, target_url, source_url, kind);

-- The same edges ordered by source, for outlinks. Written by the consumer next
-- to `edges` (not a materialized view, so that the source's reversed host is
-- computed by the one URL module rather than in SQL).
CREATE TABLE IF NOT EXISTS {db}.edges_by_source
(
    source_domain   String CODEC(ZSTD(1)),
    source_rev_host String CODEC(ZSTD(1)),
    source_url      String CODEC(ZSTD(1)),
    target_url      String CODEC(ZSTD(3)),
    kind            Enum8('a' = 1, 'canonical' = 2, 'redirect' = 3),
    source_host     SimpleAggregateFunction(any, String) CODEC(ZSTD(1)),
    target_host     SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    target_domain   SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    -- In source order a page's links share their sighting times: Delta.
    first_seen      SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(Delta, ZSTD(1)),
    last_seen       DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen'),
    -- As in `edges` but for the texts around the link, which `edges` alone
    -- keeps (backlinks read them; docs/storage.md#edges).
    latest          SimpleAggregateFunction(max, Tuple(
                        seen DateTime64(3, 'UTC'),
                        anchor String,
                        image Bool,
                        nofollow Bool,
                        ugc Bool,
                        sponsored Bool,
                        link_count UInt32,
                        location Enum8('other' = 0, 'content' = 1, 'nav' = 2, 'header' = 3,
                                       'footer' = 4, 'aside' = 5))) CODEC(ZSTD(3)),
    -- When a conclusive re-fetch of the source page no longer carried the
    -- link (written by the writer that stores the re-fetch; epoch 0: never).
    -- The edge is lost while lost_at > last_seen and live again once a later
    -- fetch sights it (last_seen moves past lost_at). max() merges.
    lost_at         SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    -- Why it was lost, written with lost_at by the same marker: max() by the
    -- time first keeps the reason of the latest loss (docs/queries.md#lost-links).
    lost_reason     SimpleAggregateFunction(max, Tuple(
                        at DateTime64(3, 'UTC'),
                        reason Enum8('' = 0, 'link_removed' = 1, 'page_gone' = 2,
                                     'page_redirected' = 3, 'page_noindex' = 4))) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
ORDER BY (source_domain, source_rev_host, source_url, target_url, kind);

-- Referring domains per target domain, maintained by a materialized view on
-- every insert into `edges`. min/max keep it exact and idempotent (a count
-- would double under replays); link counts come from `edges` at query time.
CREATE TABLE IF NOT EXISTS {db}.refdomains
(
    target_domain String CODEC(ZSTD(1)),
    source_domain String CODEC(ZSTD(1)),
    first_seen    SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    last_seen     SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1))
)
ENGINE = AggregatingMergeTree
ORDER BY (target_domain, source_domain);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.refdomains_mv TO {db}.refdomains AS
SELECT
    target_domain,
    source_domain,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
FROM {db}.edges
GROUP BY target_domain, source_domain;

-- The latest fetch of every URL (any status): what was crawled, when, and how
-- it answered. ReplacingMergeTree keeps the row with the newest fetched_at.
CREATE TABLE IF NOT EXISTS {db}.pages
(
    rev_host        String CODEC(ZSTD(1)),
    url             String CODEC(ZSTD(1)),
    host            String CODEC(ZSTD(1)),
    domain          String CODEC(ZSTD(1)),
    status          UInt16,
    content_type    LowCardinality(String),
    robots_nofollow Bool,
    depth           UInt16,
    outlinks        UInt32,
    dropped_links   UInt32,
    job             LowCardinality(String),
    fetched_at      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    -- The validators of the latest 2xx answer (its ETag and Last-Modified
    -- headers, '' when absent), sent back by a revisit (docs/crawling.md#revisits).
    etag            String DEFAULT '' CODEC(ZSTD(1)),
    last_modified   String DEFAULT '' CODEC(ZSTD(1)),
    -- Page facts (docs/edges.md#page-facts); empty for pages stored before them.
    robots_noindex  Bool,
    title           String CODEC(ZSTD(3)),
    lang            LowCardinality(String),
    words           UInt32,
    internal_links  UInt32,
    external_links  UInt32,
    ip              String CODEC(ZSTD(1)),
    -- The page's text profile (docs/relevance.md): its terms and their counts
    -- in a sample of its text, most frequent first; empty when unknown.
    profile_terms   Array(String) CODEC(ZSTD(3)),
    profile_counts  Array(UInt8) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree(fetched_at)
ORDER BY (rev_host, url);

-- Edges as SQL users want them: merged (FINAL), one row per edge, with the
-- fields of `latest` flattened to the record fields of docs/queries.md#records, and whether the link
-- is lost (with the date a re-fetch of its source page no longer carried it).
-- Query this rather than `edges`: under FINAL, the subcolumn syntax
-- `latest.anchor` is merged on its own (max anchor) instead of being taken
-- from the newest sighting; tupleElement() reads the merged tuple.
CREATE OR REPLACE VIEW {db}.links AS
SELECT
    source_url, source_host, source_domain,
    target_url, target_host, target_domain,
    kind,
    tupleElement(latest, 'anchor') AS anchor,
    tupleElement(latest, 'image') AS image,
    tupleElement(latest, 'nofollow') AS nofollow,
    tupleElement(latest, 'ugc') AS ugc,
    tupleElement(latest, 'sponsored') AS sponsored,
    tupleElement(latest, 'link_count') AS link_count,
    tupleElement(latest, 'location') AS location,
    tupleElement(latest, 'text_before') AS text_before,
    tupleElement(latest, 'text_after') AS text_after,
    first_seen, last_seen,
    source_domain = target_domain AS internal,
    -- Qualified: the alias lost_at would otherwise stand for the column.
    e.lost_at > e.last_seen AS lost,
    if(e.lost_at > e.last_seen, e.lost_at, NULL) AS lost_at,
    if(e.lost_at > e.last_seen, nullIf(toString(tupleElement(e.lost_reason, 'reason')), ''), NULL)
        AS lost_reason
FROM {db}.edges AS e FINAL;
