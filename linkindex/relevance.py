"""Topical relevance of links, and the topics of domains (docs/relevance.md).

A link's ``relevance`` is the cosine similarity of two TF-IDF term vectors
(:mod:`linkcore.profiles`): its source page's profile, and its target page's
profile, or, when the target page has none (never fetched, not HTML, kept
out by robots.txt), its target domain's profile; null when the source page
or both target sides have none.

Everything here is read by key for the rows at hand, and the arithmetic is
done in Python, the one place it is defined:

- page profiles from ``pages`` (:func:`page_profiles`), by reversed host and URL;
- a domain's profile (:func:`domain_profiles`): the sum of its fetched pages'
  unit-length TF vectors (at most :data:`DOMAIN_PAGES` pages, the first in
  key order), its :data:`~linkcore.profiles.PROFILE_TERMS` heaviest terms,
  aggregated in SQL over the domain's key ranges of ``pages``;
- document frequencies (:func:`document_frequencies`): in how many stored
  page profiles each term occurs, over the whole ``pages`` table (rows not
  yet merged count again: a re-fetched page weighs a little more, which an
  IDF's logarithm hardly shows). This is the one read that is not by key.

A query that filters on relevance (``--min-relevance``) or sorts by it
computes it for every edge of its scope first (:func:`scope_relevance`);
every other query for the rows it answers only (:func:`relevance`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from linkcore.errors import UsageError
from linkcore.profiles import PROFILE_TERMS, Profile, idf, similarity, tf_weights, weighted
from linkcore.urls import reverse_host

if TYPE_CHECKING:
    from linkindex.client import Index

__all__ = [
    "DOMAIN_PAGES",
    "PAIR_KEY",
    "TOPIC_TERMS",
    "Edge",
    "document_frequencies",
    "domain_profiles",
    "edges_of",
    "page_profiles",
    "parse_min_relevance",
    "relevance",
    "scope_relevance",
    "topics",
]

#: Pages of one domain its profile reads (the first in key order).
DOMAIN_PAGES: Final = 1000
#: Terms of a domain's topical profile in ``refdomains`` answers.
TOPIC_TERMS: Final = 8
#: Keys per lookup statement (bounds its IN lists).
LOOKUP_KEYS: Final = 2_000
#: Domains per profile statement (each adds a key range).
DOMAINS_PER_QUERY: Final = 100

#: One edge as relevance needs it: source URL and host, target URL, host and domain.
Edge = tuple[str, str, str, str, str]


def edges_of(rows: Sequence[Sequence[Any]], at: Mapping[str, int]) -> list[Edge]:
    """The :data:`Edge` of each edge record of ``rows`` (``at``: column positions)."""
    return [
        (
            str(r[at["source_url"]]),
            str(r[at["source_host"]]),
            str(r[at["target_url"]]),
            str(r[at["target_host"]]),
            str(r[at["target_domain"]]),
        )
        for r in rows
    ]


#: The key of an edge in a relevance filter: its source and target URLs
#: (normalized URLs hold no spaces).
PAIR_KEY: Final = "concat(source_url, ' ', target_url)"


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def page_profiles(index: Index, pages: Iterable[tuple[str, str]]) -> dict[str, Profile]:
    """The stored profile of each ``(host, url)`` that has one, by URL."""
    wanted = sorted(set(pages))
    found: dict[str, Profile] = {}
    for chunk in _chunks(wanted, LOOKUP_KEYS):
        _, rows = index.query(
            f"SELECT url, profile_terms, profile_counts FROM {index.db}.pages FINAL "
            "WHERE rev_host IN {revs:Array(String)} AND url IN {urls:Array(String)} "
            "AND notEmpty(profile_terms)",
            {
                "revs": sorted({reverse_host(host) for host, _ in chunk}),
                "urls": sorted({url for _, url in chunk}),
            },
        )
        for url, terms, counts in rows:
            found[str(url)] = [(str(t), int(c)) for t, c in zip(terms, counts, strict=True)]
    return found


def domain_profiles(index: Index, domains: Iterable[str]) -> dict[str, list[tuple[str, float]]]:
    """The term vector of each of ``domains`` that has fetched pages with a
    profile (see module doc), heaviest terms first."""
    wanted = sorted({d for d in domains if d})
    found: dict[str, list[tuple[str, float]]] = {}
    for chunk in _chunks(wanted, DOMAINS_PER_QUERY):
        params: dict[str, Any] = {"domains": list(chunk), "terms": PROFILE_TERMS}
        params["per_domain"] = DOMAIN_PAGES
        _, rows = index.query(
            f"""
            SELECT domain, groupArray(term), groupArray(weight)
            FROM (SELECT domain, term, sum(w / norm) AS weight
                  FROM (SELECT domain, profile_terms AS terms,
                               arrayMap(c -> 1 + log(c), profile_counts) AS ws,
                               sqrt(arraySum(arrayMap(x -> x * x, ws))) AS norm
                        FROM {index.db}.pages FINAL
                        -- The domains' hosts (host_writes knows them): a set of
                        -- key ranges of `pages`, which is ordered by reversed host.
                        WHERE rev_host IN (SELECT rev_host FROM {index.db}.host_writes
                                           WHERE domain IN {{domains:Array(String)}})
                          AND domain IN {{domains:Array(String)}}
                          AND notEmpty(profile_terms)
                        LIMIT {{per_domain:UInt32}} BY domain)
                  ARRAY JOIN terms AS term, ws AS w
                  GROUP BY domain, term
                  ORDER BY domain, weight DESC, term
                  LIMIT {{terms:UInt32}} BY domain)
            GROUP BY domain""",
            params,
        )
        for domain, terms, weights in rows:
            vector = sorted(
                zip((str(t) for t in terms), (float(w) for w in weights), strict=True),
                key=lambda item: (-item[1], item[0]),
            )
            found[str(domain)] = vector
    return found


def document_frequencies(index: Index, terms: Iterable[str]) -> tuple[int, dict[str, int]]:
    """Stored page profiles in all, and in how many of them each of ``terms``
    occurs: counted as pages are written (sql/008_term_frequencies.sql, the
    term '' for the profiles), read by key."""
    wanted = sorted(set(terms))
    frequencies: dict[str, int] = {}
    pages = 0
    for chunk in _chunks(["", *wanted], 4 * LOOKUP_KEYS):
        _, rows = index.query(
            f"SELECT term, sum(pages) FROM {index.db}.term_frequencies "
            "WHERE term IN {terms:Array(String)} GROUP BY term",
            {"terms": list(chunk)},
        )
        for term, count in rows:
            if term == "":
                pages = int(count)
            else:
                frequencies[str(term)] = int(count)
    return pages, frequencies


class _Weights:
    """IDF weighting for one set of vectors, from the index's frequencies."""

    def __init__(self, index: Index, vectors: Iterable[Iterable[tuple[str, float]]]) -> None:
        self.pages, frequencies = document_frequencies(
            index, (term for vector in vectors for term, _ in vector)
        )
        self.idfs = {term: idf(self.pages, count) for term, count in frequencies.items()}
        self.unknown = idf(self.pages, 0)

    def __call__(self, vector: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
        return weighted(vector, self.idfs, self.unknown)


def relevance(index: Index, edges: Sequence[Edge]) -> list[float | None]:
    """The relevance of each of ``edges`` (see module doc), in their order."""
    if not edges:
        return []
    pages = page_profiles(
        index,
        [(source_host, source) for source, source_host, _, _, _ in edges]
        + [(target_host, target) for _, _, target, target_host, _ in edges],
    )
    domains = domain_profiles(
        index, {domain for _, _, target, _, domain in edges if target not in pages}
    )
    page_vectors = {url: tf_weights(profile) for url, profile in pages.items()}
    weigh = _Weights(index, [*page_vectors.values(), *domains.values()])
    weighted_pages = {url: weigh(vector) for url, vector in page_vectors.items()}
    weighted_domains = {domain: weigh(vector) for domain, vector in domains.items()}
    answers: list[float | None] = []
    for source, _, target, _, domain in edges:
        left = weighted_pages.get(source)
        right = weighted_pages.get(target) or weighted_domains.get(domain)
        answers.append(similarity(left, right) if left and right else None)
    return answers


def topics(index: Index, domains: Iterable[str], terms: int = TOPIC_TERMS) -> dict[str, list[str]]:
    """The topical profile of each of ``domains``: the ``terms`` heaviest
    terms of its TF-IDF vector (generic words sink, the domain's own rise);
    ``[]`` for a domain without fetched pages."""
    wanted = sorted(set(domains))
    vectors = domain_profiles(index, wanted)
    weigh = _Weights(index, vectors.values())
    answers: dict[str, list[str]] = {}
    for domain in wanted:
        ranked = sorted(weigh(vectors.get(domain, [])), key=lambda item: (-item[1], item[0]))
        answers[domain] = [term for term, _ in ranked[:terms]]
    return answers


def scope_relevance(
    index: Index, table: str, scope: str, params: dict[str, Any]
) -> dict[tuple[str, str], float | None]:
    """The relevance of every edge of ``table`` that ``scope`` selects (SQL
    over the table's columns, its values bound in ``params``), by ``(source
    URL, target URL)``."""
    _, rows = index.query(
        f"SELECT DISTINCT source_url, source_host, target_url, target_host, target_domain "
        f"FROM {index.db}.{table} WHERE {scope}",
        params,
    )
    edges: list[Edge] = [(str(s), str(sh), str(t), str(th), str(td)) for s, sh, t, th, td in rows]
    answers: dict[tuple[str, str], float | None] = {}
    for chunk in _chunks(edges, 10 * LOOKUP_KEYS):
        for edge, value in zip(chunk, relevance(index, chunk), strict=True):
            answers[(edge[0], edge[2])] = value
    return answers


def parse_min_relevance(value: Any) -> float | None:
    """``--min-relevance``'s value as a number from 0 to 1 (None: not asked).
    Raises :class:`UsageError` for anything else."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not 0.0 <= number <= 1.0 or isinstance(value, bool):
        raise UsageError(f"--min-relevance {value!r} is not a number from 0 to 1")
    return number
