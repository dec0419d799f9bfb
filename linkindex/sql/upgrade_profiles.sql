-- Upgrade of an index created before pages carried a text profile
-- (001_init.sql; docs/relevance.md).
--
-- Run once, by Index.migrate(), when `pages` exists without profile_terms,
-- after the other upgrades (the profile follows the page facts of
-- upgrade_context.sql in this version's `pages`). Metadata only: pages
-- stored before read an empty profile until their next fetch, and their
-- links' relevance comes from the target domain's other pages, or is null.

ALTER TABLE {db}.pages
    ADD COLUMN IF NOT EXISTS profile_terms Array(String) CODEC(ZSTD(3)),
    ADD COLUMN IF NOT EXISTS profile_counts Array(UInt8) CODEC(ZSTD(1));
