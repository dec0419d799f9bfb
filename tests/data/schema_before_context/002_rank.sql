-- linkgraph index schema, version 2: authority scores of registered domains.
--
-- Written by `linkgraph rank` (linkindex/rank.py), read by refdomains and
-- backlinks to show the authority of each referring domain. docs/authority.md
-- explains the method. {db} is replaced by the configured database name.
--
-- One computation replaces the previous one atomically for readers. rank.py
-- writes a new run into a staging table created with
-- `CREATE TABLE {db}.domain_rank_<run> AS {db}.domain_rank`, then swaps the
-- two with `EXCHANGE TABLES {db}.domain_rank AND {db}.domain_rank_<run>` and
-- drops the staging name, which now holds the old run. EXCHANGE is one atomic
-- rename in an Atomic database, the default database engine of chDB and of
-- ClickHouse servers since 20.10: a query sees the old run or the new one,
-- never a part of each, and a query that started before the swap finishes on
-- the old table (Atomic drops a table only once no query uses it).
--
-- Not ReplacingMergeTree(computed_at) read with FINAL: an insert of more than
-- max_insert_block_size rows becomes several parts, each visible as soon as it
-- is written, so readers would see new scores for some domains and old ones
-- for others while a run is written; and a domain that left the graph would
-- keep its old row forever.
--
-- Plain MergeTree: each table is written once, by one run, with one row per
-- domain. ORDER BY domain: readers look domains up by name (a join from a
-- page of referring domains, or `domain IN (...)`), which reads only the
-- granules of those names.

CREATE TABLE IF NOT EXISTS {db}.domain_rank
(
    -- Registered domain (docs/urls.md#registered-domain), a node of the dofollow external domain graph.
    domain      String CODEC(ZSTD(1)),
    -- PageRank, damping 0.85 by default; sums to 1 over the table.
    pagerank    Float64,
    -- Harmonic centrality: sum over domains u of 1 / (hops from u to this
    -- domain); exact on small graphs, a sampled estimate on large ones.
    harmonic    Float64,
    -- 0–100, log-scaled PageRank: 100 for the top domain, 0 for a domain no
    -- other domain links to with a dofollow link.
    authority   UInt8,
    -- Referring domains with at least one dofollow `a` link (in-degree).
    refdomains  UInt32,
    -- When the run read the index; the same in every row.
    computed_at DateTime64(3, 'UTC'),
    -- The run that wrote the table; the same in every row.
    run_id      String
)
ENGINE = MergeTree
ORDER BY domain;
