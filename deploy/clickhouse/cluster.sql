-- linkgraph index schema, version 1, for a replicated and sharded ClickHouse cluster.
--
-- This file mirrors linkindex/sql/001_init.sql table by table: same columns,
-- types, codecs, engines and ordering keys. tests/unit/test_cluster_ddl.py
-- applies both to the embedded engine and fails when they drift apart.
--
-- Layout, for every table T of 001_init.sql:
--   T_local   a Replicated*MergeTree on every node, holding that shard's rows
--   T         a Distributed table over T_local, under the name the
--             application queries, so that its SQL is the same on one server
--             and on the cluster
-- and refdomains_mv (local: edges_local -> refdomains_local) and the view
-- links (over the Distributed edges) under their 001_init.sql names.
--
-- Placeholders:
--   {db}                  the database, substituted before this file is run
--                         (deploy/clickhouse/README.md shows how)
--   {cluster} {shard} {replica}
--                         server macros, one value per node (config.d/macros.xml)
--   {database} {table}    expanded by ClickHouse itself
--
-- Requirements on the cluster (config.d/cluster.xml):
--   * internal_replication = true on every shard. The Distributed tables then
--     write each row to ONE replica and replication copies it, so the
--     materialized view runs once per insert and its output replicates like
--     any other part. With internal_replication = false the Distributed table
--     writes every replica itself and the replicas can diverge.
--   * ClickHouse Keeper (or ZooKeeper) for the Replicated engines and ON CLUSTER.
--
-- Why the sharding keys are what they are:
--   FINAL, and GROUP BY over a Distributed table, merge the rows of one key
--   within a shard only: the shards answer independently and the initiator
--   just concatenates (or re-aggregates) their results. Every row of one edge
--   must therefore land on one shard, or a replayed edge would be counted
--   twice and its min/max/latest would never meet. A sharding key that is a
--   function of the leading ordering-key column guarantees that: rows with
--   equal ordering keys have equal leading columns, hence equal shards.
--   Hashing the leading column (rather than, say, the whole key) also keeps
--   "who links to X" for one target domain on one shard, so with
--   optimize_skip_unused_shards = 1 a query WHERE target_domain = 'x' reads
--   one shard instead of all of them.
--   The price: a very popular target domain lives on one shard (hot spot).
--
-- The sharding keys assume a fixed number of shards. Adding a shard moves
-- cityHash64(...) % shards for existing keys, after which new rows of an old
-- edge land on a different shard than its old rows. Re-shard by copying
-- (INSERT INTO the new cluster's Distributed tables SELECT ... FROM the old
-- ones), never by just appending a shard to remote_servers.
--
-- Everything is IF NOT EXISTS so the file can be re-run. The application's
-- own migration (the same 001_init.sql, on connect) then finds every name it
-- creates already present and changes nothing: apply this file BEFORE the
-- first `linkgraph consume` connects, or the application will create plain,
-- unreplicated tables on the one node it reached.

CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER '{cluster}';

-- ---------------------------------------------------------------------------
-- Local, replicated tables: the data.
-- ---------------------------------------------------------------------------

-- Who links to X: ordered by target. See 001_init.sql for the column notes.
CREATE TABLE IF NOT EXISTS {db}.edges_local ON CLUSTER '{cluster}'
(
    target_domain   String CODEC(ZSTD(1)),
    target_rev_host String CODEC(ZSTD(1)),
    target_url      String CODEC(ZSTD(1)),
    source_url      String CODEC(ZSTD(3)),
    kind            Enum8('a' = 1, 'canonical' = 2, 'redirect' = 3),
    target_host     SimpleAggregateFunction(any, String) CODEC(ZSTD(1)),
    source_host     SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    source_domain   SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    first_seen      SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    last_seen       DateTime64(3, 'UTC') ALIAS tupleElement(latest, 'seen'),
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
    lost_at         SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    -- Why it was lost, written with lost_at by the same marker: max() by the
    -- time first keeps the reason of the latest loss (docs/queries.md#lost-links).
    lost_reason     SimpleAggregateFunction(max, Tuple(
                        at DateTime64(3, 'UTC'),
                        reason Enum8('' = 0, 'link_removed' = 1, 'page_gone' = 2,
                                     'page_redirected' = 3, 'page_noindex' = 4))) CODEC(ZSTD(1))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (target_domain, target_rev_host, target_url, source_url, kind);

-- Outlinks: the same edges ordered by source.
CREATE TABLE IF NOT EXISTS {db}.edges_by_source_local ON CLUSTER '{cluster}'
(
    source_domain   String CODEC(ZSTD(1)),
    source_rev_host String CODEC(ZSTD(1)),
    source_url      String CODEC(ZSTD(1)),
    target_url      String CODEC(ZSTD(3)),
    kind            Enum8('a' = 1, 'canonical' = 2, 'redirect' = 3),
    source_host     SimpleAggregateFunction(any, String) CODEC(ZSTD(1)),
    target_host     SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
    target_domain   SimpleAggregateFunction(any, String) CODEC(ZSTD(3)),
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
    lost_at         SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    -- Why it was lost, written with lost_at by the same marker: max() by the
    -- time first keeps the reason of the latest loss (docs/queries.md#lost-links).
    lost_reason     SimpleAggregateFunction(max, Tuple(
                        at DateTime64(3, 'UTC'),
                        reason Enum8('' = 0, 'link_removed' = 1, 'page_gone' = 2,
                                     'page_redirected' = 3, 'page_noindex' = 4))) CODEC(ZSTD(1))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (source_domain, source_rev_host, source_url, target_url, kind);

-- Referring domains per target domain, fed only by refdomains_mv below.
CREATE TABLE IF NOT EXISTS {db}.refdomains_local ON CLUSTER '{cluster}'
(
    target_domain String CODEC(ZSTD(1)),
    source_domain String CODEC(ZSTD(1)),
    first_seen    SimpleAggregateFunction(min, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1)),
    last_seen     SimpleAggregateFunction(max, DateTime64(3, 'UTC')) CODEC(T64, ZSTD(1))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (target_domain, source_domain);

-- The materialized view lives on the LOCAL tables. An insert into the
-- Distributed `edges` arrives at one replica of one shard as an insert into
-- edges_local, which fires this view there, and the view writes that shard's
-- refdomains_local. Because edges are sharded by target_domain, every edge of
-- a (target_domain, source_domain) pair is on one shard, so every refdomains
-- row of that pair is too, which is what refdomains FINAL needs. Replicas that
-- fetch a part by replication do not fire the view again: refdomains_local
-- is replicated itself.
--
-- The name is 001_init.sql's, refdomains_mv: the application's migration then
-- skips it (IF NOT EXISTS) instead of creating a second view on the
-- Distributed `edges`.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.refdomains_mv ON CLUSTER '{cluster}'
TO {db}.refdomains_local AS
SELECT
    target_domain,
    source_domain,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
FROM {db}.edges_local
GROUP BY target_domain, source_domain;

-- The latest fetch of every URL.
CREATE TABLE IF NOT EXISTS {db}.pages_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', fetched_at)
ORDER BY (rev_host, url);

-- Every fetch of every URL (003_fetches.sql): live and lost links.
CREATE TABLE IF NOT EXISTS {db}.fetches_local ON CLUSTER '{cluster}'
(
    rev_host   String CODEC(ZSTD(1)),
    url        String CODEC(ZSTD(1)),
    fetched_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    status     UInt16,
    job        LowCardinality(String),
    -- The fetch said noindex (meta robots or X-Robots-Tag): its page's links
    -- are lost with the reason page_noindex (docs/queries.md#lost-links).
    robots_noindex Bool
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (rev_host, url, fetched_at);

-- Authority scores (002_rank.sql), written by `linkgraph rank`. Small (one row
-- per domain) and replicated like the rest; see the Distributed table below for
-- why `linkgraph rank` cannot yet replace it on a sharded cluster.
CREATE TABLE IF NOT EXISTS {db}.domain_rank_local ON CLUSTER '{cluster}'
(
    domain      String CODEC(ZSTD(1)),
    pagerank    Float64,
    harmonic    Float64,
    authority   UInt8,
    refdomains  UInt32,
    computed_at DateTime64(3, 'UTC'),
    run_id      String
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY domain;

-- Watch checkpoints (006_watches.sql): a few rows per watched target,
-- replicated like the rest.
CREATE TABLE IF NOT EXISTS {db}.watches_local ON CLUSTER '{cluster}'
(
    target     String CODEC(ZSTD(1)),
    scope      LowCardinality(String),
    watched_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', watched_at)
ORDER BY (target, scope);

-- Domain rollups (004_rollups.sql). domain_writes_local is written by
-- domain_writes_mv on the shard of the edge, like refdomains_local; the two
-- rollup tables are written by `linkgraph rollup` (and by crawl and consume)
-- through their Distributed tables, sharded by target_domain like the edges
-- they summarize.
CREATE TABLE IF NOT EXISTS {db}.domain_writes_local ON CLUSTER '{cluster}'
(
    target_domain String CODEC(ZSTD(1)),
    written_at    SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY target_domain;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.domain_writes_mv ON CLUSTER '{cluster}'
TO {db}.domain_writes_local AS
SELECT target_domain, max(now64(3, 'UTC')) AS written_at
FROM {db}.edges_local
GROUP BY target_domain;

CREATE TABLE IF NOT EXISTS {db}.domain_refdomains_local ON CLUSTER '{cluster}'
(
    target_domain  String CODEC(ZSTD(1)),
    source_domain  String CODEC(ZSTD(1)),
    links          UInt64 CODEC(T64, ZSTD(1)),
    dofollow_links UInt64 CODEC(T64, ZSTD(1)),
    target_urls    UInt64 CODEC(T64, ZSTD(1)),
    first_seen     DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    last_seen      DateTime64(3, 'UTC') CODEC(T64, ZSTD(1)),
    refreshed_at   DateTime64(3, 'UTC') CODEC(ZSTD(1))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', refreshed_at)
ORDER BY (target_domain, source_domain);

CREATE TABLE IF NOT EXISTS {db}.domain_reports_local ON CLUSTER '{cluster}'
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
    tlds                       Array(Tuple(String, UInt64)),
    history                    Array(Tuple(Date, UInt64, UInt64)),
    refreshed_at               DateTime64(3, 'UTC'),
    locations                  Array(Tuple(String, UInt64)),
    lost_reasons               Array(Tuple(String, UInt64)),
    sitewide_backlinks         UInt64,
    broken_backlinks           UInt64,
    backlinks_with_ip          UInt64,
    referring_ips              UInt64,
    referring_subnets          UInt64,
    subnets                    Array(Tuple(String, UInt64, UInt64, UInt64))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', refreshed_at)
ORDER BY target_domain;

-- Host facts (005_host_facts.sql). host_writes_local is written by
-- host_writes_mv on the shard of the page, which is the shard of its host
-- (pages are sharded by rev_host); host_facts is written by the refresh
-- through its Distributed table with the same key, so a host's facts sit
-- beside its write times. domain_page_writes_mv marks a page's domain on the
-- page's shard: domain_writes is read through its Distributed table, which
-- takes the latest time over every shard.
CREATE TABLE IF NOT EXISTS {db}.host_writes_local ON CLUSTER '{cluster}'
(
    rev_host   String CODEC(ZSTD(1)),
    domain     SimpleAggregateFunction(any, String),
    written_at SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY rev_host;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.host_writes_mv ON CLUSTER '{cluster}'
TO {db}.host_writes_local AS
SELECT rev_host, any(domain) AS domain, max(now64(3, 'UTC')) AS written_at
FROM {db}.pages_local
GROUP BY rev_host;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.domain_page_writes_mv ON CLUSTER '{cluster}'
TO {db}.domain_writes_local AS
SELECT domain AS target_domain, max(now64(3, 'UTC')) AS written_at
FROM {db}.pages_local
GROUP BY domain;

CREATE TABLE IF NOT EXISTS {db}.host_facts_local ON CLUSTER '{cluster}'
(
    rev_host     String CODEC(ZSTD(1)),
    host         String CODEC(ZSTD(1)),
    domain       String CODEC(ZSTD(1)),
    html_pages   UInt64,
    ip           String CODEC(ZSTD(1)),
    sitewide     Array(Tuple(url String, domain String)) CODEC(ZSTD(1)),
    refreshed_at DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', refreshed_at)
ORDER BY rev_host;

-- Spam scores (007_spam_scores.sql), written by the refresh through the
-- Distributed table below, sharded by domain.
CREATE TABLE IF NOT EXISTS {db}.domain_spam_local ON CLUSTER '{cluster}'
(
    domain        String CODEC(ZSTD(1)),
    spam_score    UInt8,
    fired         Array(LowCardinality(String)),
    signal_values Map(LowCardinality(String), String),
    refreshed_at  DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', refreshed_at)
ORDER BY domain;

-- Document frequencies of the profiles' terms (008_term_frequencies.sql):
-- written by term_frequencies_mv on the shard of the page; the Distributed
-- table sums every shard's counts.
CREATE TABLE IF NOT EXISTS {db}.term_frequencies_local ON CLUSTER '{cluster}'
(
    term  String CODEC(ZSTD(1)),
    pages UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY term;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.term_frequencies_mv ON CLUSTER '{cluster}'
TO {db}.term_frequencies_local AS
SELECT term, count() AS pages
FROM {db}.pages_local
ARRAY JOIN arrayConcat([''], profile_terms) AS term
WHERE notEmpty(profile_terms)
GROUP BY term;

-- ---------------------------------------------------------------------------
-- Distributed tables: the names the application reads and writes.
-- `AS T_local` copies the columns, so they cannot differ from the local table.
-- ---------------------------------------------------------------------------

-- Sharded by the leading ordering-key column, target_domain: all rows of one
-- edge, and all backlinks of one target domain, on one shard.
CREATE TABLE IF NOT EXISTS {db}.edges ON CLUSTER '{cluster}' AS {db}.edges_local
ENGINE = Distributed('{cluster}', '{db}', 'edges_local', cityHash64(target_domain));

-- Sharded by source_domain, its leading ordering-key column: outlinks of one
-- domain on one shard. The same edge thus usually sits on different shards in
-- edges and edges_by_source, which is fine: no query joins the two.
CREATE TABLE IF NOT EXISTS {db}.edges_by_source ON CLUSTER '{cluster}' AS {db}.edges_by_source_local
ENGINE = Distributed('{cluster}', '{db}', 'edges_by_source_local', cityHash64(source_domain));

-- refdomains_local is written by refdomains_mv on the shard of the edge, that
-- is by cityHash64(target_domain). The Distributed table uses the same key so
-- that a direct insert (a backfill) lands where the view's rows are.
CREATE TABLE IF NOT EXISTS {db}.refdomains ON CLUSTER '{cluster}' AS {db}.refdomains_local
ENGINE = Distributed('{cluster}', '{db}', 'refdomains_local', cityHash64(target_domain));

-- Sharded by rev_host, the leading ordering-key column: every fetch of one
-- URL replaces the previous one on the same shard. Not by `domain`: it is not
-- in the ordering key, and a new Public Suffix List can assign a host to a
-- different registered domain, which would send the next fetch of a URL to
-- another shard and leave two "latest" rows for it under FINAL.
CREATE TABLE IF NOT EXISTS {db}.pages ON CLUSTER '{cluster}' AS {db}.pages_local
ENGINE = Distributed('{cluster}', '{db}', 'pages_local', cityHash64(rev_host));

-- Like pages: every fetch of one URL on the shard of its host.
CREATE TABLE IF NOT EXISTS {db}.fetches ON CLUSTER '{cluster}' AS {db}.fetches_local
ENGINE = Distributed('{cluster}', '{db}', 'fetches_local', cityHash64(rev_host));

-- Sharded by domain, its ordering key. `linkgraph rank` replaces the scores
-- with EXCHANGE TABLES on one node, which cannot swap a Distributed table's
-- shards together: on a cluster it refuses in one line (docs/authority.md);
-- load scores computed on one server with INSERT INTO domain_rank SELECT ….
CREATE TABLE IF NOT EXISTS {db}.domain_rank ON CLUSTER '{cluster}' AS {db}.domain_rank_local
ENGINE = Distributed('{cluster}', '{db}', 'domain_rank_local', cityHash64(domain));

-- A target's checkpoints on one shard: readers take their max.
CREATE TABLE IF NOT EXISTS {db}.watches ON CLUSTER '{cluster}' AS {db}.watches_local
ENGINE = Distributed('{cluster}', '{db}', 'watches_local', cityHash64(target));

-- The domain rollups, sharded by target_domain like `edges`: a domain's
-- rollup rows sit on the shard of its backlinks and of its write times.
CREATE TABLE IF NOT EXISTS {db}.domain_writes ON CLUSTER '{cluster}' AS {db}.domain_writes_local
ENGINE = Distributed('{cluster}', '{db}', 'domain_writes_local', cityHash64(target_domain));

CREATE TABLE IF NOT EXISTS {db}.domain_refdomains ON CLUSTER '{cluster}' AS {db}.domain_refdomains_local
ENGINE = Distributed('{cluster}', '{db}', 'domain_refdomains_local', cityHash64(target_domain));

CREATE TABLE IF NOT EXISTS {db}.domain_reports ON CLUSTER '{cluster}' AS {db}.domain_reports_local
ENGINE = Distributed('{cluster}', '{db}', 'domain_reports_local', cityHash64(target_domain));

CREATE TABLE IF NOT EXISTS {db}.domain_spam ON CLUSTER '{cluster}' AS {db}.domain_spam_local
ENGINE = Distributed('{cluster}', '{db}', 'domain_spam_local', cityHash64(domain));

CREATE TABLE IF NOT EXISTS {db}.term_frequencies ON CLUSTER '{cluster}' AS {db}.term_frequencies_local
ENGINE = Distributed('{cluster}', '{db}', 'term_frequencies_local', cityHash64(term));

-- The host facts, sharded by rev_host like `pages`.
CREATE TABLE IF NOT EXISTS {db}.host_writes ON CLUSTER '{cluster}' AS {db}.host_writes_local
ENGINE = Distributed('{cluster}', '{db}', 'host_writes_local', cityHash64(rev_host));

CREATE TABLE IF NOT EXISTS {db}.host_facts ON CLUSTER '{cluster}' AS {db}.host_facts_local
ENGINE = Distributed('{cluster}', '{db}', 'host_facts_local', cityHash64(rev_host));

-- ---------------------------------------------------------------------------
-- The view SQL users query, over the Distributed edges.
-- ---------------------------------------------------------------------------

-- FINAL on a Distributed table is sent to every shard, where it merges that
-- shard's rows, which are all the rows of each of its edges (see above).
CREATE OR REPLACE VIEW {db}.links ON CLUSTER '{cluster}' AS
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
    e.lost_at > e.last_seen AS lost,
    if(e.lost_at > e.last_seen, e.lost_at, NULL) AS lost_at,
    if(e.lost_at > e.last_seen, nullIf(toString(tupleElement(e.lost_reason, 'reason')), ''), NULL)
        AS lost_reason
FROM {db}.edges AS e FINAL;
