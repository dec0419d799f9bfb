"""``linkgraph export features``: feature tables for scoring services (docs/features.md).

A model that scores links (a spam classifier, a link-value regressor) wants
one table per level with every fact the index knows, ready to train on:

- ``edge``: one row per external edge: its record fields (docs/queries.md#records,
  relevance and the derived fields included, as ``export edges`` writes them),
  the authority of both domains, the source page's facts and the source
  domain's spam score (:data:`EDGE_EXTRA`);
- ``domain``: one row per referring domain (a registered domain with external
  links): what its links and pages look like, in counts and shares, its
  authority, and its spam score with the value of every signal
  (:data:`DOMAIN_FEATURES`).

Both stream in blocks, so an export of the whole index runs in bounded
memory; the names and types of every column are listed in docs/features.md,
which the tests keep equal to these declarations.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from linkcore.errors import UsageError
from linkcore.records import LOCATIONS
from linkindex import queries, rollups, spam
from linkindex.client import Index
from linkindex.filters import Filters
from linkindex.spamsignals import SIGNALS, Signal
from linkindex.sqlparts import (
    DOFOLLOW,
    EXTERNAL,
    HTML_PAGE,
    LOST,
    RANK_TABLE,
    latest,
    pairs_of_hosts,
    sitewide_sql,
)
from linkindex.targets import Target

__all__ = [
    "DOMAIN_FEATURES",
    "EDGE_EXTRA",
    "LEVELS",
    "backlink_features",
    "columns",
    "features",
]

#: The levels ``export features`` writes.
LEVELS: Final = ("edge", "domain")

#: The columns an edge row has after its record fields: (name, meaning).
EDGE_EXTRA: Final = (
    ("internal", "source and target share their registered domain (always false: external edges)"),
    ("source_authority", "authority of the source domain (0–100; 0 when unranked)"),
    ("target_authority", "authority of the target domain"),
    ("anchor_chars", "characters of the anchor text"),
    ("source_status", "HTTP status of the source page's latest fetch (null: not fetched)"),
    ("source_words", "visible words on the source page"),
    ("source_internal_links", "the source page's `a` edges to its own registered domain"),
    ("source_external_links", "the source page's `a` edges to other registered domains"),
    ("source_spam_score", "the source domain's kept spam score (null: never scored)"),
)

#: The columns of a domain row: (name, meaning).
DOMAIN_FEATURES: Final = (
    ("domain", "the referring (registered) domain"),
    ("authority", "its authority (0–100; 0 when unranked)"),
    ("links", "its external links (edges to other registered domains)"),
    ("dofollow_share", "share of those links without nofollow"),
    ("ugc_share", "share with rel=ugc"),
    ("sponsored_share", "share with rel=sponsored"),
    ("image_share", "share that are image links"),
    ("lost_share", "share that are lost"),
    *((f"{loc}_share", f"share whose location is `{loc}`") for loc in LOCATIONS),
    ("sitewide_share", "share that are sitewide (template links)"),
    ("target_domains", "distinct registered domains it links to"),
    ("linking_pages", "distinct pages of it with external links"),
    ("fetched_pages", "its pages in the index (any status)"),
    ("html_pages", "its fetched HTML pages (2xx)"),
    ("mean_words", "mean visible words of its HTML pages"),
    ("external_link_share", "external `a` links over all `a` links of its HTML pages"),
    ("first_seen", "earliest sighting of its external links"),
    ("last_seen", "latest sighting of its external links"),
    ("spam_score", "its kept spam score (docs/queries.md#spam-score; null: never scored)"),
    *(
        (f"spam_{signal.name}", f"the value of spam signal `{signal.name}` (null: unknown)")
        for signal in SIGNALS
    ),
)


def columns(level: str) -> tuple[str, ...]:
    """The column names of ``export features --level LEVEL``."""
    if level == "edge":
        return (*queries.EDGE_FIELDS, *(name for name, _ in EDGE_EXTRA))
    if level == "domain":
        return tuple(name for name, _ in DOMAIN_FEATURES)
    raise UsageError(f"unknown feature level {level!r} (choose {' or '.join(LEVELS)})")


def features(index: Index, level: str) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
    """The feature table of ``level``, block by block (see module doc)."""
    names = list(columns(level))
    if level == "edge":
        for _, rows in queries.export(index, "edges", include_internal=False):
            yield names, _edge_rows(index, rows)
        return
    yield from _domain_blocks(index, names)


def backlink_features(index: Index, target: Target, filters: Filters) -> queries.Result:
    """The edge features of ``target``'s backlinks under ``filters``, one page
    as ``backlinks`` answers it (``query-job``'s ``features`` report)."""
    result = queries.backlinks(index, target, filters)
    fields = len(queries.EDGE_FIELDS)
    rows = _edge_rows(index, [row[:fields] for row in result.rows])
    return queries.Result(list(columns("edge")), rows, result.next_cursor)


def _edge_rows(index: Index, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    at = {name: i for i, name in enumerate(queries.EDGE_FIELDS)}
    domains = [str(r[at["source_domain"]]) for r in rows] + [
        str(r[at["target_domain"]]) for r in rows
    ]
    authority = queries.authority_for(index, domains)
    facts = _page_facts(
        index, [(str(r[at["source_host"]]), str(r[at["source_url"]])) for r in rows]
    )
    scored = spam.scores(index, [str(r[at["source_domain"]]) for r in rows])
    done = []
    for row in rows:
        page = facts.get(str(row[at["source_url"]]), (None, 0, 0, 0))
        score = scored.get(str(row[at["source_domain"]]))
        done.append(
            (
                *row,
                row[at["source_domain"]] == row[at["target_domain"]],
                authority.get(str(row[at["source_domain"]]), 0),
                authority.get(str(row[at["target_domain"]]), 0),
                len(str(row[at["anchor"]])),
                *page,
                score.score if score else None,
            )
        )
    return done


def _page_facts(
    index: Index, pages: Sequence[tuple[str, str]]
) -> dict[str, tuple[int | None, int, int, int]]:
    """Status, words, internal and external links of each page's latest fetch, by URL."""
    found = queries.latest_fetches(index, pages, "(status, words, internal_links, external_links)")
    return {url: tuple(int(v) for v in facts) for url, facts in found.items()}  # type: ignore[misc]


def _signal_value(signal: Signal) -> str:
    """SQL of a kept signal value (text in ``domain_spam``) in its own type."""
    text = f"nullIf(s.signal_values['{signal.name}'], '')"
    if signal.test == "true":
        return f"CAST({text} = 'true', 'Nullable(Bool)')"
    if signal.test == "listed":
        return text
    return f"toFloat64OrNull({text})"


def _domain_blocks(
    index: Index, names: list[str]
) -> Iterator[tuple[list[str], Sequence[Sequence[Any]]]]:
    db = index.db
    if rollups.hosts_fresh(index):
        pairs = pairs_of_hosts(db, "1")
    else:
        pairs = sitewide_sql(db, "edges_by_source", "1")
    share = "if(links = 0, 0, round({} / links, 4))"
    sitewide = f"countIf(kind = 'a' AND (source_host, target_url) IN ({pairs}))"
    signals = ", ".join(f"{_signal_value(signal)} AS spam_{signal.name}" for signal in SIGNALS)
    locations = ", ".join(
        share.format(f"countIf(toString({latest('location')}) = '{loc}')") + f" AS {loc}_share"
        for loc in LOCATIONS
    )
    sql = f"""
        SELECT e.source_domain AS domain, ifNull(r.authority, 0) AS authority,
               e.links, e.dofollow_share, e.ugc_share, e.sponsored_share, e.image_share,
               e.lost_share, {", ".join(f"e.{loc}_share" for loc in LOCATIONS)},
               e.sitewide_share, e.target_domains, e.linking_pages,
               ifNull(p.fetched_pages, 0) AS fetched_pages,
               ifNull(p.html_pages, 0) AS html_pages,
               ifNull(p.mean_words, 0) AS mean_words,
               ifNull(p.external_link_share, 0) AS external_link_share,
               e.first_seen, e.last_seen, s.spam_score AS spam_score, {signals}
        FROM (SELECT source_domain, count() AS links,
                     {share.format(f"countIf({DOFOLLOW})")} AS dofollow_share,
                     {share.format(f"countIf({latest('ugc')})")} AS ugc_share,
                     {share.format(f"countIf({latest('sponsored')})")} AS sponsored_share,
                     {share.format(f"countIf({latest('image')})")} AS image_share,
                     {share.format(f"countIf({LOST})")} AS lost_share,
                     {locations},
                     {share.format(sitewide)} AS sitewide_share,
                     uniqExact(target_domain) AS target_domains,
                     uniqExact(source_url) AS linking_pages,
                     min(first_seen) AS first_seen, max(last_seen) AS last_seen
              FROM {db}.edges_by_source AS e FINAL
              WHERE {EXTERNAL}
              GROUP BY source_domain) AS e
        LEFT JOIN (SELECT domain, count() AS fetched_pages,
                          countIf({HTML_PAGE}) AS html_pages,
                          round(avgIf(words, {HTML_PAGE}), 1) AS mean_words,
                          if(sumIf(internal_links + external_links, {HTML_PAGE}) = 0, 0,
                             round(sumIf(external_links, {HTML_PAGE})
                                   / sumIf(internal_links + external_links, {HTML_PAGE}), 4))
                              AS external_link_share
                   FROM {db}.pages FINAL GROUP BY domain) AS p ON p.domain = e.source_domain
        LEFT JOIN (SELECT domain, authority FROM {db}.{RANK_TABLE}) AS r
            ON r.domain = e.source_domain
        LEFT JOIN (SELECT domain, spam_score, signal_values FROM {db}.domain_spam FINAL) AS s
            ON s.domain = e.source_domain
        ORDER BY domain
        SETTINGS join_use_nulls = 1"""
    for _, rows in index.stream(sql):
        yield names, rows
