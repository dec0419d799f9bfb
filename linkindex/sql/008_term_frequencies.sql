-- linkgraph index schema: document frequencies of the page profiles' terms.
--
-- Relevance weighs each term by its inverse document frequency over the
-- index's page profiles (docs/relevance.md). Counting them from `pages` would
-- read every stored profile per answer; this table counts them as pages are
-- written (a materialized view on every insert into `pages`), so an answer
-- reads its terms by key. The term '' counts the profiles themselves (N).
-- Every profile written counts, a re-fetched page's again: document
-- frequencies and N grow alike, which the logarithm of their ratio hardly
-- shows. SummingMergeTree adds the counts up as parts merge.

CREATE TABLE IF NOT EXISTS {db}.term_frequencies
(
    term  String CODEC(ZSTD(1)),
    pages UInt64
)
ENGINE = SummingMergeTree
ORDER BY term;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.term_frequencies_mv TO {db}.term_frequencies AS
SELECT term, count() AS pages
FROM {db}.pages
ARRAY JOIN arrayConcat([''], profile_terms) AS term
WHERE notEmpty(profile_terms)
GROUP BY term;
