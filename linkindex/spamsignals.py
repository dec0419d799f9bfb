"""The spam signals of a referring domain: one table, and the SQL that measures them
(docs/queries.md#spam-score).

Each :class:`Signal` names what it measures (``value``, an SQL expression over
the figures :func:`scores_sql` gathers per referring domain), when it fires
(``test`` against ``threshold``) and how many points it adds (``weight``). A
domain's ``spam_score`` is the sum of the weights of the signals that fired,
capped at 100, and ``spam_signals`` lists those signals with their values: no
point of a score goes unexplained.

Everything else is derived from :data:`SIGNALS`: the SQL of the values, of
what fired and of the score (:func:`scores_sql`), the ``--max-spam`` filter
(``linkindex.sqlparts``), the answers' ``spam_signals``
(``linkindex.spam``), ``linkgraph disavow`` and the table of the docs
(``python -m linkindex.spamsignals`` prints it; tests/unit/test_spam.py
checks that docs/queries.md holds it).

The figures are a domain's as a referring domain, whatever the target: all
its external links (commercial anchors, sitewide links, the domains it links
to, for reciprocity), the fetched pages of its hosts in ``pages`` (outlinks,
link and word counts; a host's pages are one key range), the latest address
of every host (subnets) and the authority table. They are measured when the
scores are refreshed (``linkindex.spam.rescore``), not per answer. This module
imports nothing that runs a query: ``linkindex.sqlparts`` hands it the SQL of
what it needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

#: A page with fewer words of visible text than this is thin.
THIN_WORDS: Final = 200
#: The external-link share of fewer links than this tells nothing (a page
#: with one link, to the target, has a share of 1): unknown below it.
SHARE_MIN_LINKS: Final = 20

#: Words that make an anchor commercial: what link sellers put in anchors to
#: rank a money page (products, prices, gambling, loans, pharmacy, link
#: selling). Matched as whole words, case-insensitive.
COMMERCIAL_TERMS: Final = (
    "backlinks",
    "bet",
    "betting",
    "bitcoin",
    "buy",
    "casino",
    "cheap",
    "cheapest",
    "cialis",
    "crypto",
    "deal",
    "deals",
    "discount",
    "essay",
    "essays",
    "followers",
    "forex",
    "insurance",
    "jackpot",
    "loan",
    "loans",
    "payday",
    "pharmacy",
    "pills",
    "poker",
    "price",
    "prices",
    "replica",
    "roulette",
    "sale",
    "slots",
    "viagra",
    "wholesale",
)
#: An exact-match anchor is a keyword phrase, not a sentence: at most this many words.
ANCHOR_MAX_WORDS: Final = 6

#: Top-level domains often among the most abused in public abuse statistics
#: (cheap or free registrations that link farms buy in bulk).
ABUSED_TLDS: Final = (
    "bid",
    "buzz",
    "cf",
    "cfd",
    "click",
    "cyou",
    "fit",
    "ga",
    "gdn",
    "gq",
    "icu",
    "loan",
    "men",
    "ml",
    "monster",
    "quest",
    "rest",
    "sbs",
    "tk",
    "top",
    "win",
    "work",
    "xyz",
)


@dataclass(frozen=True, slots=True)
class Signal:
    """One spam signal: what it measures, when it fires, what it weighs.

    ``test`` is ``>=`` (a number at or above ``threshold``), ``true`` (a
    condition that holds) or ``listed`` (a name in ``listed``). ``value`` is
    SQL over the per-domain figures of :func:`scores_sql`; it is null where
    the figure is unknown (no linking page of the domain was fetched), and a
    null never fires.
    """

    name: str
    meaning: str
    value: str
    test: Literal[">=", "true", "listed"]
    threshold: float | bool | str
    weight: int
    listed: tuple[str, ...] = ()

    def fired_sql(self) -> str:
        """SQL: 1 when the signal fires for the row, else 0."""
        if self.test == ">=":
            return f"ifNull(({self.value}) >= {self.threshold}, 0)"
        if self.test == "listed":
            names = ", ".join(f"'{name}'" for name in self.listed)
            return f"has([{names}], {self.value})"
        return f"ifNull(toUInt8({self.value}), 0)"

    @property
    def rule(self) -> str:
        """The firing rule as the docs write it."""
        if self.test == ">=":
            return f"≥ {self.threshold}"
        if self.test == "listed":
            return "in the list below"
        return "true"


# A figure known only when some linking page of the domain was fetched.
def _pages(expression: str) -> str:
    return f"if(p.pages = 0, NULL, {expression})"


_LABEL: Final = "splitByChar('.', b.domain)[1]"

#: Every spam signal, in the order answers list them (docs/queries.md#spam-score).
SIGNALS: Final[tuple[Signal, ...]] = (
    Signal(
        "outlinks_per_page",
        "mean distinct link targets per page, over the fetched HTML pages of its hosts",
        _pages("round(p.outlinks_per_page, 1)"),
        ">=",
        100,
        15,
    ),
    Signal(
        "external_link_share",
        "share of the `a` links on those pages that leave the domain (of "
        f"{SHARE_MIN_LINKS} links or more)",
        _pages(f"if(p.page_links < {SHARE_MIN_LINKS}, NULL, round(p.external / p.page_links, 3))"),
        ">=",
        0.8,
        10,
    ),
    Signal(
        "links_per_word",
        "`a` links per word of visible text on those pages (link-to-text ratio)",
        _pages("round(p.page_links / greatest(p.page_words, 1), 3)"),
        ">=",
        0.1,
        10,
    ),
    Signal(
        "thin_page_share",
        f"share of those pages with fewer than {THIN_WORDS} words",
        _pages("round(p.thin / p.pages, 3)"),
        ">=",
        0.5,
        10,
    ),
    Signal(
        "commercial_anchor_share",
        "share of its external `a` links whose anchor is an exact-match commercial "
        f"phrase (1 to {ANCHOR_MAX_WORDS} words, one of them a commercial term, no URL)",
        "if(b.a_links = 0, NULL, round(b.commercial_links / b.a_links, 3))",
        ">=",
        0.5,
        15,
    ),
    Signal(
        "sitewide_share",
        "share of its external `a` links that are sitewide",
        "if(b.a_links = 0, NULL, round(b.sitewide_links / b.a_links, 3))",
        ">=",
        0.5,
        10,
    ),
    Signal(
        "subnet_domains",
        "domains (itself included) with a host fetched from one IPv4 /24 or IPv6 /48 with "
        "one of its own hosts (each host's latest known address)",
        "if(n.subnet_domains = 0, NULL, n.subnet_domains)",
        ">=",
        3,
        15,
    ),
    Signal(
        "reciprocal",
        "a domain it links to links back to it",
        "r.domain != ''",
        "true",
        True,
        5,
    ),
    Signal(
        "no_authority",
        "its authority is 0 (`linkgraph rank` has run, and no dofollow external link reaches it)",
        "ranked AND ifNull(a.authority, 0) = 0",
        "true",
        True,
        10,
    ),
    Signal(
        "tld",
        "its top-level domain is one often abused",
        "splitByChar('.', b.domain)[-1]",
        "listed",
        "abused",
        10,
        ABUSED_TLDS,
    ),
    Signal(
        "name_digits",
        "digits in its name (the registered domain's first label)",
        f"toUInt32(countMatches({_LABEL}, '[0-9]'))",
        ">=",
        2,
        5,
    ),
    Signal(
        "name_hyphens",
        "hyphens in its name",
        f"toUInt32(countMatches({_LABEL}, '-'))",
        ">=",
        2,
        5,
    ),
    Signal(
        "name_length",
        "characters in its name",
        f"toUInt32(lengthUTF8({_LABEL}))",
        ">=",
        20,
        5,
    ),
)
#: The signals by name.
BY_NAME: Final = {signal.name: signal for signal in SIGNALS}
#: The most points a score can have.
MAX_SCORE: Final = 100

# Names are columns of the SQL below (v_NAME, f_NAME).
if not all(re.fullmatch(r"[a-z_]+", signal.name) for signal in SIGNALS):
    raise TypeError("spam signal names must be lowercase identifiers")


def commercial_sql(anchor: str) -> str:
    """SQL: the anchor expression ``anchor`` is an exact-match commercial phrase
    (see the ``commercial_anchor_share`` signal)."""
    terms = "|".join(COMMERCIAL_TERMS)
    return (
        f"(match(lower({anchor}), '(^|[^a-z0-9])({terms})([^a-z0-9]|$)') "
        f"AND length(splitByWhitespace({anchor})) BETWEEN 1 AND {ANCHOR_MAX_WORDS} "
        f"AND NOT match({anchor}, '[./@:]'))"
    )


def subnet_sql(ip: str) -> str:
    """SQL: the IPv4 /24 or IPv6 /48 of the address text ``ip`` ('' if none)."""
    bare = f"trim(BOTH '[]' FROM {ip})"
    # multiIf computes every branch: the parsers must not throw on the other family.
    return (
        f"multiIf(isIPv4String({ip}), "
        f"concat(IPv4NumToString(bitAnd(IPv4StringToNumOrDefault({ip}), 4294967040)), '/24'), "
        f"isIPv6String({bare}), "
        "concat(IPv6NumToString(tupleElement("
        f"IPv6CIDRToRange(toIPv6OrDefault({bare}), 48), 1)), '/48'), "
        "'')"
    )


def score_sql() -> str:
    """SQL of the score from the fired signals of a row of :func:`scores_sql`."""
    points = " + ".join(f"f_{signal.name} * {signal.weight}" for signal in SIGNALS)
    return f"toUInt8(least({MAX_SCORE}, {points}))"


@dataclass(frozen=True, slots=True)
class Sources:
    """The SQL :func:`scores_sql` reads, from ``linkindex.sqlparts``.

    ``links``: the query's links (columns of ``edges``: ``source_domain``,
    ``source_host``, ``source_url``, ``target_url``, ``target_domain``,
    ``kind``, ``anchor``), external ones only; ``sitewide``: the
    ``(source_host, target_url)`` sitewide pairs among them; ``pages``: the
    fetched HTML pages among their source pages (``pages`` columns ``domain``,
    ``outlinks``, ``words``, ``internal_links``, ``external_links``, ``ip``).
    ``linked``: the ``source_domain`` and ``target_domain`` of the same links,
    unmerged (a cheaper read, for sets of names); ``pages``: the fetched HTML
    pages of the hosts those links come from (``pages`` columns ``domain``,
    ``outlinks``, ``words``, ``internal_links``, ``external_links``), of the
    scored domains; ``addresses``: ``domain`` and ``ip`` of the pages of the
    hosts of *every* referring domain of ``links`` (the subnets count them
    all). ``domains``, if given, is the SQL of an array of the referring
    domains to score (a page of answers); otherwise every referring domain of
    ``links`` is.
    """

    db: str
    links: str
    linked: str
    sitewide: str
    pages: str
    addresses: str
    domains: str | None = None


def scores_sql(sources: Sources) -> str:
    """One row per scored referring domain of ``sources``: ``domain``,
    ``v_NAME`` (the value) and ``f_NAME`` (1 if it fired) of every signal,
    and ``spam_score``."""
    db = sources.db
    values = ",\n       ".join(f"{s.value} AS v_{s.name}" for s in SIGNALS)
    fired = ",\n       ".join(f"{s.fired_sql()} AS f_{s.name}" for s in SIGNALS)
    if sources.domains is None:
        scored = "1"
        domains = f"(SELECT source_domain FROM ({sources.linked}))"
    else:
        scored = f"domain IN {sources.domains}"
        domains = sources.domains
    return f"""
SELECT domain, {", ".join(f"v_{s.name}" for s in SIGNALS)},
       {", ".join(f"f_{s.name}" for s in SIGNALS)}, {score_sql()} AS spam_score
FROM (
SELECT b.domain AS domain,
       {values},
       {fired}
FROM (SELECT domain, countIf(kind = 'a') AS a_links,
             countIf(kind = 'a' AND {commercial_sql("anchor")}) AS commercial_links,
             countIf(kind = 'a' AND (source_host, target_url) IN ({sources.sitewide}))
                 AS sitewide_links
      FROM (SELECT source_domain AS domain, source_host, target_url, kind, anchor
            FROM ({sources.links}))
      WHERE {scored}
      GROUP BY domain) AS b
LEFT JOIN (SELECT domain, count() AS pages, avg(outlinks) AS outlinks_per_page,
                  sum(internal_links + external_links) AS page_links,
                  sum(external_links) AS external, sum(words) AS page_words,
                  countIf(words < {THIN_WORDS}) AS thin
           FROM ({sources.pages}) WHERE {scored} GROUP BY domain) AS p ON p.domain = b.domain
-- Window: each subnet's referring domains, then each domain's most crowded subnet.
LEFT JOIN (SELECT domain, toUInt64(max(domains)) AS subnet_domains
           FROM (SELECT domain, count() OVER (PARTITION BY subnet) AS domains
                 FROM (SELECT DISTINCT domain, {subnet_sql("ip")} AS subnet
                       FROM ({sources.addresses}))
                 WHERE subnet != '')
           WHERE {scored}
           GROUP BY domain) AS n ON n.domain = b.domain
-- The refdomains table is keyed by (target_domain, source_domain): read by key.
LEFT JOIN (SELECT DISTINCT target_domain AS domain FROM {db}.refdomains
           WHERE target_domain IN {domains}
             -- X links to the domain, and the domain to X.
             AND (source_domain, target_domain)
                 IN (SELECT target_domain, source_domain FROM ({sources.linked}))) AS r
    ON r.domain = b.domain
LEFT JOIN (SELECT domain, authority FROM {db}.domain_rank
           WHERE domain IN {domains}) AS a ON a.domain = b.domain
CROSS JOIN (SELECT count() > 0 AS ranked FROM {db}.domain_rank) AS ranks
)"""


def table() -> str:
    """The Markdown table of :data:`SIGNALS` that docs/queries.md#spam-score holds."""
    lines = ["| signal | what it measures | fires when | weight |", "|---|---|---|---|"]
    lines += [f"| `{s.name}` | {s.meaning} | {s.rule} | {s.weight} |" for s in SIGNALS]
    lines += [
        "",
        f"Commercial terms: {', '.join(COMMERCIAL_TERMS)}.",
        "",
        f"Abused top-level domains: {', '.join('.' + tld for tld in ABUSED_TLDS)}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
