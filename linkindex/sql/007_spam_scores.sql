-- linkgraph index schema: the spam score of every referring domain.
--
-- A domain's spam score (docs/queries.md#spam-score) reads all its external
-- links, its pages, the addresses of every host and the authority table: too
-- much to compute for the hundred domains of a page of answers. The score of
-- each domain is kept here, as its authority is in domain_rank, and
-- recomputed by the refresh that follows writing (linkgraph crawl when it
-- ends, linkgraph consume when it has caught up, linkgraph rollup) for the
-- domains whose pages were written, and for every domain by linkgraph rank
-- and linkgraph rollup --all (linkindex/spam.py).
--
-- `signal_values` holds the value of every signal as text (a value that is
-- unknown is left out), `fired` the names of the signals that fired.

CREATE TABLE IF NOT EXISTS {db}.domain_spam
(
    domain        String CODEC(ZSTD(1)),
    spam_score    UInt8,
    fired         Array(LowCardinality(String)),
    signal_values Map(LowCardinality(String), String),
    refreshed_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY domain;
