"""``make bench-query``: a synthetic link graph at scale, and the query path timed over HTTP.

``python -m bench.query generate --data-dir DIR --edges N`` fills the
embedded index in DIR with a power-law link graph of exactly N edges, written
the way :func:`linkindex.writer.write_batch` writes a crawl: every edge into
``edges`` (the ``refdomains`` view follows) and ``edges_by_source``, and one
``pages`` row and two ``fetches`` rows per source page, with ``lost_at`` on
the links the later fetch no longer carried, so live and lost links mean what
they mean after real crawls; then it refreshes the domain rollups, as a crawl
does when it ends. It records what it made in ``DIR/bench.json``.

``python -m bench.query run --data-dir DIR`` starts ``linkgraph serve``
on DIR, times each query through the HTTP API (warm: a few runs first, then
median and 95th percentile of N runs), reads the bytes on disk per edge from
``system.parts``, and prints a Markdown table for the README.

The graph is generated inside ClickHouse (``INSERT … SELECT … FROM
numbers()``), chunk by chunk: one Python call per row would take hours at
10⁸ edges. Every choice is a function of ``cityHash64(seed, …)``, so a seed
gives the same index on every machine. Its shape:

* **domains**: ``edges / 50`` registered domains under simple public suffixes
  (``.com``, ``.co.uk``, ``.gov``, ``.edu``, …), named from a word list; a
  host is ``www.``, the bare domain, or a subdomain (``blog.``, ``shop.``, …).
* **in-degree**: target domains follow a power law over their rank
  (exponent 0.9: the head domain draws ~2 % of all links, >1M at 10⁸ edges),
  and so do pages within a domain (30 % of links go to the home page).
* **out-degree**: source domains follow another power law (a different
  ranking, so the most linked domain is not the most linking one), and links
  per source page a Pareto law (mean ~20, at most 1,000).
* **links**: 12 % internal; a canonical link on 8 % of pages and 1 % of pages
  answer with a redirect (one edge); anchors are keyword phrases, brand names,
  bare URLs, "click here"-style words, or image alts (often empty); 16 %
  nofollow, 3 % ugc, 2 % sponsored; some links repeated on their page.
* **time**: each source page was fetched twice within two years; 73 % of its
  links were seen both times, 12 % only the first time (lost since), 15 % only
  the second (new).

URLs are generated in their SPEC §3 normal form (lower-case hosts, a path,
no fragment, no tracking parameters); the tests check a sample against
:mod:`linkcore.urls`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from linkindex import rollups
from linkindex.client import Index, open_index, resolve_location

# -- the graph's shape ------------------------------------------------------------

#: Edges per INSERT: bounds the memory one chunk takes (~10⁷ rows of strings).
CHUNK_EDGES: Final = 10_000_000
#: Registered domains per edge.
EDGES_PER_DOMAIN: Final = 50
#: One domain in this many has pages that link out (was crawled).
SOURCE_DOMAIN_FRACTION: Final = 8
#: Power-law exponents over target-domain rank, source-domain rank, and page rank.
TARGET_EXPONENT: Final = 0.9
SOURCE_EXPONENT: Final = 0.9
PAGE_EXPONENT: Final = 1.05
#: Share of links (percent) that go to one of the source site's partner pages
#: (blogrolls, footers, sitewide links), and how many partners a site has
#: (MIN + 0..SPREAD-1): a site links to few domains from many of its pages.
SITE_LINK_SHARE: Final = 60
SITE_PARTNERS_MIN: Final = 4
SITE_PARTNERS_SPREAD: Final = 30
#: Pages per domain that links can point at (ranked by the page power law).
PAGES_PER_DOMAIN: Final = 1_000_000
#: Links per source page: Pareto with this minimum and shape (mean ~20), capped.
OUTLINKS_MIN: Final = 9
OUTLINKS_SHAPE: Final = 1.8
OUTLINKS_MAX: Final = 1000
#: The crawls end on this instant (UTC, ms) and span two years before it.
END_MS: Final = 1_748_736_000_000  # 2025-06-01
SPAN_MS: Final = 730 * 86_400_000


def _words(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(text.split()))


# Five-letter words: a domain name is two of them (and a number past the
# square of the list), so every name splits one way and names never collide.
NAME_WORDS: Final = _words(
    """
    amber angel apple arrow aspen atlas audio badge baker basil beach berry birch black
    blade bloom board brave bread brick brisk brook brown cabin camel candy cargo cedar
    chalk charm chess chief cider civic clean clear cliff cloud coast coral crane creek
    crisp crown cubic curve daily dairy delta depot diner dream drift eagle earth ember
    epoch extra fable faith fancy feast ferry fiber field flame fleet flint flora focus
    forge frame fresh frost fruit giant globe glory grace grain grand grape green grove
    guide happy haven hazel heart honey horse hotel ideal inlet ivory jewel jolly judge
    karma koala lemon level light lilac linen lotus lucky lunar magic maple marsh medal
    merit metro micro mango minty mocha model moose motor noble north nylon oasis ocean
    olive omega onion orbit otter owner panda paper peach pearl pilot pixel plaza plume
    point polar prime prism proud quail quest quick quiet radar rapid raven ready realm
    rider ridge river roast robin rocky royal rusty rural sable salty sandy scout shade
    sharp shell shine shore silky slate smart snowy solar sonic spark spice spire sport
    squad stack steel stone storm sugar sunny swift table tango terra thyme tiger toast
    topaz tower track trail trend tribe tulip ultra urban valid value vapor venus verde
    vigor vinyl viola vital vivid voice wagon waltz watch water whale wheat white wings
    world yacht yield young zebra zesty
    """
)
# Words of page slugs, anchors and image alts.
TOPIC_WORDS: Final = _words(
    """
    best guide review news how to make easy home garden recipe chicken bread travel tips
    city hotel cheap flights weather today local school university research study health
    care doctor insurance car price buy sale new used bike running shoes fitness yoga
    music album song concert tickets movie film trailer cast book author novel history
    war world cup football soccer tennis golf score team player market stock bitcoin
    price crypto bank loan mortgage rate tax return software app download free update
    windows linux python code tutorial learn course online class photo camera phone
    laptop review gaming game console best cheap deals coupon fashion dress style
    wedding baby kids toys pet dog cat food vegan diet coffee tea wine beer pizza pasta
    salad cake chocolate cookie garden plants flowers tree house home kitchen bathroom
    design interior furniture paint wall floor energy solar climate science space nasa
    mars moon star physics chemistry biology medicine vaccine covid election policy
    government law court report data analysis chart map guide ultimate complete list
    top ten ways reasons things know why what when where who company business startup
    jobs career salary remote work office meeting email marketing seo social media
    video youtube podcast episode interview blog post community forum question answer
    open source project release version support help faq contact about privacy terms
    """
)
_GENERIC_ANCHORS: Final = (
    "click here",
    "here",
    "read more",
    "this",
    "website",
    "link",
    "source",
    "more info",
    "visit site",
    "learn more",
    "this article",
    "official site",
)
_SECTIONS: Final = (
    "blog",
    "news",
    "articles",
    "products",
    "docs",
    "category",
    "story",
    "p",
    "forum/thread",
    "help",
    "guides",
    "reviews",
)
_SUBDOMAINS: Final = ("blog", "shop", "news", "docs", "m", "support", "en", "community")
# Public suffixes and their share of domains, in percent (sums to 100). Each is
# one PSL rule, so a generated name.suffix is its own registered domain.
_SUFFIX_SHARES: Final = (
    ("com", 44),
    ("org", 8),
    ("net", 6),
    ("io", 4),
    ("de", 6),
    ("co.uk", 6),
    ("fr", 3),
    ("edu", 3),
    ("gov", 2),
    ("com.au", 2),
    ("nl", 2),
    ("info", 2),
    ("ru", 3),
    ("jp", 2),
    ("ca", 2),
    ("es", 2),
    ("it", 2),
    ("ac.uk", 1),
)
SUFFIXES: Final = tuple(name for name, share in _SUFFIX_SHARES for _ in range(share))

# Staging table of one chunk's edges as numbers: s (source page), j (its link
# number), sd/td (source/target domain ids), tp (target page rank), kind.
_CHUNK_TABLE: Final = "_bench_chunk"
_ROWS_VIEW: Final = "_bench_rows"
META_FILE: Final = "bench.json"


def _array(values: Sequence[str]) -> str:
    """A ClickHouse array literal of plain words (no quotes or backslashes in them)."""
    return "[" + ",".join(f"'{v}'" for v in values) + "]"


@dataclass(frozen=True, slots=True)
class Shape:
    """The numbers of one generated graph, derived from its edge count and seed."""

    edges: int
    seed: int
    domains: int
    #: Domain id = ((rank - 1) * mult + add) % domains; one permutation for
    #: targets, one for sources.
    target_mult: int
    target_add: int
    source_mult: int
    source_add: int

    @classmethod
    def of(cls, edges: int, seed: int) -> Shape:
        if edges < 1:
            raise ValueError("--edges must be at least 1")
        domains = max(100, edges // EDGES_PER_DOMAIN)
        return cls(
            edges,
            seed,
            domains,
            _coprime(domains, 1_000_003 + 2 * (seed % 1000)),
            (seed * 7919) % domains,
            _coprime(domains, 7_368_787 + 2 * (seed % 1000)),
            (seed * 104_729 + domains // 2) % domains,
        )


def _coprime(n: int, start: int) -> int:
    """The first number from ``start`` up with no factor in common with ``n``."""
    candidate = start
    while math.gcd(candidate, n) != 1:
        candidate += 1
    return candidate


class _Sql:
    """SQL expressions of the generator, bound to one :class:`Shape`.

    Each random choice is ``cityHash64(seed, ids…, salt)`` with its own salt,
    so choices are independent of each other and reproducible.
    """

    def __init__(self, shape: Shape) -> None:
        self.shape = shape

    def hash(self, *args: str | int) -> str:
        return f"cityHash64({self.shape.seed}, {', '.join(str(a) for a in args)})"

    def uniform(self, *args: str | int) -> str:
        """A float in [0, 1)."""
        return f"({self.hash(*args)} / 18446744073709551616.0)"

    def pick(self, words: Sequence[str], *args: str | int) -> str:
        return f"{_array(words)}[1 + {self.hash(*args)} % {len(words)}]"

    @staticmethod
    def power_rank(n: int, exponent: float, uniform: str) -> str:
        """A rank in 1..n drawn with probability ~ rank^-exponent (inverse CDF)."""
        a = 1.0 - exponent
        return f"least({n}, toUInt64(pow((pow({n + 1}, {a}) - 1) * {uniform} + 1, {1.0 / a})))"

    # -- names -----------------------------------------------------------------
    def domain(self, d: str) -> str:
        """The registered domain of domain id ``d``."""
        d = f"toUInt32({d})"  # hashes depend on the argument types
        words = len(NAME_WORDS)
        pairs = words * words
        # A bijection of 0..pairs-1, so that neighbouring ids share no word.
        pair = f"({d} % {pairs} * {_coprime(pairs, 40_503)} % {pairs})"
        return (
            f"concat({_array(NAME_WORDS)}[1 + {pair} % {words}], "
            f"{_array(NAME_WORDS)}[1 + intDiv({pair}, {words})], "
            f"if({d} >= {pairs}, toString(intDiv({d}, {pairs})), ''), "
            f"'.', {_array(SUFFIXES)}[1 + {self.hash(d, 1)} % {len(SUFFIXES)}])"
        )

    def host(self, d: str, p: str, domain: str) -> str:
        """Host of page ``p`` of domain ``d``: the site's main host (www. or bare)
        for the home page and most pages, a subdomain for the rest."""
        d, p = f"toUInt32({d})", f"toUInt64({p})"
        main = f"if({self.hash(d, 2)} % 100 < 75, concat('www.', {domain}), {domain})"
        sub = f"concat({self.pick(_SUBDOMAINS, d, p, 3)}, '.', {domain})"
        return f"if({p} = 0 OR {self.hash(d, p, 4)} % 100 < 85, {main}, {sub})"

    def slug_words(self, d: str, p: str) -> str:
        """The words of page ``p``'s slug (2 to 6), an array."""
        d, p = f"toUInt32({d})", f"toUInt64({p})"
        return (
            f"arrayMap(k -> {_array(TOPIC_WORDS)}[1 + {self.hash(d, p, 'k', 5)} % "
            f"{len(TOPIC_WORDS)}], range(2 + {self.hash(d, p, 6)} % 5))"
        )

    def url(self, d: str, p: str, host: str) -> str:
        """The normalized URL of page ``p`` of domain ``d``.

        Page 0 is the home page ``/``. Every other path ends its last segment
        with ``-P`` or ``_P`` (digits; before an optional ``.html``, ``/`` or
        query), and slug words hold no digits, so distinct pages have distinct
        URLs.
        """
        d, p = f"toUInt32({d})", f"toUInt64({p})"
        h = self.hash(d, p, 7)
        slug = f"arrayStringConcat({self.slug_words(d, p)}, '-')"
        wiki = f"arrayStringConcat(arrayMap(w -> initcap(w), {self.slug_words(d, p)}), '_')"
        section = self.pick(_SECTIONS, d, p, 8)
        n = f"toString({p})"
        path = f"""multiIf(
            {p} = 0, '/',
            {h} % 10 < 3, concat('/', {section}, '/', {slug}, '-', {n}),
            {h} % 10 < 5, concat('/', {section}, '/', toString(2012 + {h} % 13), '/',
                leftPad(toString(1 + intDiv({h}, 13) % 12), 2, '0'), '/', {slug}, '-', {n}, '/'),
            {h} % 10 = 5, concat('/', {slug}, '-', {n}, '.html'),
            {h} % 10 = 6, concat('/', {section}, '/', {slug}, '-', {n}, '?page=',
                toString(2 + intDiv({h}, 10) % 9)),
            {h} % 10 = 7, concat('/', {section}, '/', {slug}, '_', {n}, '?lang=',
                {self.pick(("en", "de", "fr", "es"), d, p, 9)}, '&ref=',
                {self.pick(("home", "nav", "footer", "sidebar"), d, p, 10)}),
            {h} % 10 = 8, concat('/wiki/', {wiki}, '_', {n}),
            concat('/', {section}, '/', {slug}, '-', {n}, '?id=',
                toString(intDiv({h}, 10) % 100000)))"""
        scheme = f"if({self.hash(d, 11)} % 100 < 92, 'https://', 'http://')"
        return f"concat({scheme}, {host}, {path})"

    # -- one chunk of edges, as numbers -------------------------------------------
    def chunk_insert(self, db: str, first_page: int, pages: int, limit: int) -> str:
        """Fill the staging table with the links of source pages ``first_page``
        onwards (at most ``limit``, whole pages first): one row per distinct
        (source page, target page, kind), as one crawl of those pages stores them.

        Source page ``s`` is page ``s + 1`` of its domain; ``tp`` is a target
        page's rank in its domain (0: the home page).
        """
        shape, n = self.shape, self.shape.domains
        # Crawled sites are a fraction of all linked ones.
        source_rank = self.power_rank(
            max(10, n // SOURCE_DOMAIN_FRACTION), SOURCE_EXPONENT, self.uniform("s", 20)
        )
        outlinks = (
            f"least({OUTLINKS_MAX}, toUInt32({OUTLINKS_MIN} * "
            f"pow(1 - {self.uniform('s', 23)}, {-1.0 / OUTLINKS_SHAPE})))"
        )
        canonical = f"j = 0 AND {self.hash('s', 25)} % 100 < 8"
        # Canonical and redirect targets are mostly on the page's own site.
        internal_share = "multiIf(kind = 'redirect', 50, kind = 'canonical', 80, 12)"
        # A site link is the k-th of the source site's few partner pages (the
        # same URL from each page that has it); any other link draws its target
        # from the whole web.
        site = f"{self.hash('s', 'j', 50)} % 100 < {SITE_LINK_SHARE} AND kind = 'a'"
        partners = f"({SITE_PARTNERS_MIN} + {self.hash('sd', 51)} % {SITE_PARTNERS_SPREAD})"
        k = f"{self.hash('s', 'j', 52)} % {partners}"
        page = f"if({self.hash('x', 27)} % 100 < 30, 0, {{rank}})"
        web_page = page.replace("x", "s, j").format(
            rank=self.power_rank(PAGES_PER_DOMAIN, PAGE_EXPONENT, self.uniform("s", "j", 22))
        )
        site_page = page.replace("x", "sd, k").format(
            rank=self.power_rank(PAGES_PER_DOMAIN, PAGE_EXPONENT, self.uniform("sd", "k", 53))
        )

        def domain_of(rank_uniform: str) -> str:
            rank = self.power_rank(n, TARGET_EXPONENT, rank_uniform)
            return f"toUInt32((({rank} - 1) * {shape.target_mult} + {shape.target_add}) % {n})"

        return f"""
        INSERT INTO {db}.{_CHUNK_TABLE}
        SELECT s, min(j) AS j, sd, td, tp, kind
        FROM (
            SELECT s, j, sd,
                   CAST(multiIf(redirect_page, 'redirect', {canonical}, 'canonical', 'a')
                        AS Enum8('a' = 1, 'canonical' = 2, 'redirect' = 3)) AS kind,
                   {k} AS k,
                   {site} AS site_link,
                   multiIf({self.hash("s", "j", 26)} % 100 < {internal_share}, sd,
                           site_link, {domain_of(self.uniform("sd", "k", 54))},
                           {domain_of(self.uniform("s", "j", 21))}) AS td,
                   if(site_link AND td != sd, {site_page}, {web_page}) AS tp
            FROM (
                SELECT number AS s,
                       toUInt32((({source_rank} - 1) * {shape.source_mult}
                                 + {shape.source_add}) % {n}) AS sd,
                       {self.hash("s", 24)} % 100 = 0 AS redirect_page,
                       if(redirect_page, 1, greatest(1, {outlinks})) AS links
                FROM numbers({first_page}, {pages})
            )
            ARRAY JOIN range(links) AS j
        )
        -- A link from a page to itself is no edge (SPEC §2).
        WHERE NOT (td = sd AND tp = s + 1)
        GROUP BY s, sd, td, tp, kind
        ORDER BY s, j
        LIMIT {limit}"""

    # -- the chunk as index rows ----------------------------------------------------
    def fetch_times(self) -> tuple[str, str]:
        """Epoch milliseconds of source page ``s``'s two fetches (first, latest)."""
        first = f"({END_MS} - toInt64({SPAN_MS} * {self.uniform('s', 40)}))"
        last = f"({first} + toInt64(({END_MS} - {first}) * {self.uniform('s', 41)}))"
        return first, last

    def source_columns(self) -> str:
        """Source page columns of ``s`` (its domain id ``sd``)."""
        first, last = self.fetch_times()
        return f"""
            {self.domain("sd")} AS source_domain,
            {self.host("sd", "s + 1", "source_domain")} AS source_host,
            {self.url("sd", "s + 1", "source_host")} AS source_url,
            arrayStringConcat(arrayReverse(splitByChar('.', source_host)), '.') AS source_rev_host,
            {first} AS first_ms, {last} AS last_ms,
            {self.hash("s", 44)} % 100 < 2 AS robots_nofollow"""

    def edge_rows(self, db: str) -> str:
        """A view over the staging table with every column of ``edges`` and
        ``edges_by_source``, as :func:`linkindex.writer.build_batch` derives them."""
        words = len(NAME_WORDS)
        anchor_kind = f"({self.hash('s', 'j', 30)} % 100)"
        brand = f"""multiIf(
            {self.hash("s", "j", 31)} % 3 = 0, target_domain,
            {self.hash("s", "j", 31)} % 3 = 1,
                concat(initcap({_array(NAME_WORDS)}[1 + td % {words}]),
                       initcap({_array(NAME_WORDS)}[1 + intDiv(td, {words}) % {words}])),
            initcap({_array(NAME_WORDS)}[1 + td % {words}]))"""
        keywords = (
            f"arrayStringConcat(arraySlice({self.slug_words('td', 'tp')}, 1, "
            f"1 + {self.hash('s', 'j', 32)} % 4), ' ')"
        )
        anchor = f"""multiIf(
            kind != 'a', '',
            {anchor_kind} < 8, if({self.hash("s", "j", 33)} % 10 < 6, '', {keywords}),
            {anchor_kind} < 18, {self.pick(_GENERIC_ANCHORS, "s", "j", 34)},
            {anchor_kind} < 43, {brand},
            {anchor_kind} < 51, target_url,
            {anchor_kind} < 53, '',
            {keywords})"""
        # Seen at both fetches, at the first only (lost since), or at the latest only (new).
        seen = f"({self.hash('s', 'j', 42)} % 100)"
        link_count = f"({self.hash('s', 'j', 47)} % 100)"
        return f"""
        CREATE VIEW IF NOT EXISTS {db}.{_ROWS_VIEW} AS
        SELECT
            {self.domain("td")} AS target_domain,
            {self.host("td", "tp", "target_domain")} AS target_host,
            {self.url("td", "tp", "target_host")} AS target_url,
            arrayStringConcat(arrayReverse(splitByChar('.', target_host)), '.') AS target_rev_host,
            {self.source_columns()},
            kind,
            fromUnixTimestamp64Milli(if({seen} BETWEEN 12 AND 26, last_ms, first_ms), 'UTC')
                AS first_seen,
            fromUnixTimestamp64Milli(if({seen} < 12, first_ms, last_ms), 'UTC') AS last_seen,
            -- Lost at the latest fetch, as the writer marks it (linkindex/writer.py).
            fromUnixTimestamp64Milli(if({seen} < 12 AND last_ms > first_ms, last_ms, 0), 'UTC')
                AS lost_at,
            CAST(tuple(
                    last_seen,
                    {anchor},
                    kind = 'a' AND {anchor_kind} < 8,
                    robots_nofollow OR {self.hash("s", "j", 43)} % 100 < 16,
                    kind = 'a' AND {self.hash("s", "j", 45)} % 100 < 3,
                    kind = 'a' AND {self.hash("s", "j", 46)} % 100 < 2,
                    if(kind = 'a', 1 + ({link_count} < 15) + ({link_count} < 5), 1))
                AS Tuple(seen DateTime64(3, 'UTC'), anchor String, image Bool, nofollow Bool,
                         ugc Bool, sponsored Bool, link_count UInt32)) AS latest
        FROM {db}.{_CHUNK_TABLE}"""

    def page_rows(self, db: str) -> str:
        """A view with one ``pages`` row per source page of the staging table;
        ``first_ms`` is its earlier fetch (``fetches`` has both)."""
        return f"""
        CREATE VIEW IF NOT EXISTS {db}.{_PAGES_VIEW} AS
        SELECT
            source_rev_host AS rev_host, source_url AS url, source_host AS host,
            source_domain AS domain,
            toUInt16(if(redirect, 301, 200)) AS status,
            if(redirect, '', 'text/html; charset=utf-8') AS content_type,
            robots_nofollow,
            toUInt16(1 + {self.hash("s", 48)} % 4) AS depth,
            toUInt32(links) AS outlinks,
            toUInt32({self.hash("s", 49)} % 100 < 10) AS dropped_links,
            'bench' AS job,
            first_ms,
            fromUnixTimestamp64Milli(last_ms, 'UTC') AS fetched_at
        FROM (
            SELECT s, sd, count() AS links, max(kind = 'redirect') AS redirect,
                   {self.source_columns()}
            FROM {db}.{_CHUNK_TABLE}
            GROUP BY s, sd
        )"""


_PAGES_VIEW: Final = "_bench_pages"
_EDGE_COLUMNS: Final = (
    "target_url, source_url, kind, target_host, source_host, source_domain, target_domain, "
    "first_seen, latest, lost_at"
)
# Links per source page on average (the Pareto mean less its cap, and redirect
# pages); only sizes the page range of a chunk, which is cut to the edge count.
_MEAN_OUTLINKS: Final = 19.0
#: Generator version: a dataset made by another version is generated again
#: (4: the compact schema, whose size the benchmark reports).
GENERATOR_VERSION: Final = 4


@dataclass(slots=True)
class Dataset:
    """What :func:`generate` made, and the query targets it chose (``bench.json``)."""

    edges: int
    seed: int
    domains: int
    source_pages: int
    #: The most linked domain, and its external backlinks.
    head_domain: str
    head_backlinks: int
    #: A page of the head domain with about edges / 10⁵ external backlinks.
    url_target: str
    url_backlinks: int
    #: A source page with about 50 links, for outlinks.
    source_url: str
    source_outlinks: int
    generate_seconds: float
    optimize_seconds: float
    version: int = GENERATOR_VERSION
    #: Rows per table after generation.
    rows: dict[str, int] = field(default_factory=dict)
    #: The domain whose external backlinks are nearest edges / 100 (a million
    #: at 10⁸ edges), and their number.
    mid_domain: str = ""
    mid_backlinks: int = 0
    #: Refreshing the domain rollups of every domain after the inserts.
    rollup_seconds: float = 0.0


def _scalar(index: Index, sql: str, params: dict[str, Any] | None = None) -> Any:
    _, rows = index.query(sql, params)
    return rows[0][0]


def generate(
    index: Index,
    edges: int,
    seed: int = 1,
    *,
    chunk_edges: int = CHUNK_EDGES,
    optimize: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Dataset:
    """Write a graph of exactly ``edges`` edges into ``index`` (its database
    must hold no edges yet) and choose the benchmark's query targets.

    ``optimize`` merges every table to one part per partition at the end
    (``OPTIMIZE … FINAL``), the state a long-lived index converges to.
    """
    db = index.db
    say = progress or (lambda _: None)
    if _scalar(index, f"SELECT count() FROM {db}.edges"):
        raise ValueError(f"database {db} already holds edges; generate into an empty one")
    shape = Shape.of(edges, seed)
    sql = _Sql(shape)
    index.command(f"DROP VIEW IF EXISTS {db}.{_ROWS_VIEW}")
    index.command(f"DROP VIEW IF EXISTS {db}.{_PAGES_VIEW}")
    index.command(f"DROP TABLE IF EXISTS {db}.{_CHUNK_TABLE}")
    index.command(
        f"CREATE TABLE {db}.{_CHUNK_TABLE} (s UInt64, j UInt32, sd UInt32, td UInt32, "
        "tp UInt64, kind Enum8('a' = 1, 'canonical' = 2, 'redirect' = 3)) ENGINE = Memory"
    )
    index.command(sql.edge_rows(db))
    index.command(sql.page_rows(db))
    started = time.monotonic()
    done = first_page = source_pages = 0
    while done < edges:
        want = min(chunk_edges, edges - done)
        pages = math.ceil(want / _MEAN_OUTLINKS * 1.1) + 10
        index.command(f"TRUNCATE TABLE {db}.{_CHUNK_TABLE}")
        index.command(sql.chunk_insert(db, first_page, pages, want))
        _, rows = index.query(f"SELECT count(), max(s), uniqExact(s) FROM {db}.{_CHUNK_TABLE}")
        count, last_page, chunk_pages = (int(v) for v in rows[0])
        if count:
            for table in ("edges", "edges_by_source"):
                index.command(
                    f"INSERT INTO {db}.{table} ({_EDGE_COLUMNS}, {table_rev(table)}) "
                    f"SELECT {_EDGE_COLUMNS}, {table_rev(table)} FROM {db}.{_ROWS_VIEW}"
                )
            index.command(
                f"INSERT INTO {db}.fetches (rev_host, url, fetched_at, status, job) "
                f"SELECT rev_host, url, fetched, status, job FROM {db}.{_PAGES_VIEW} "
                "ARRAY JOIN [fromUnixTimestamp64Milli(first_ms, 'UTC'), fetched_at] AS fetched"
            )
            index.command(
                f"INSERT INTO {db}.pages SELECT * EXCEPT first_ms FROM {db}.{_PAGES_VIEW}"
            )
        done += count
        source_pages += chunk_pages
        first_page = last_page + 1 if count else first_page + pages
        elapsed = time.monotonic() - started
        say(f"{done:,} of {edges:,} edges ({done / max(elapsed, 1e-9):,.0f} edges/s)")
    index.command(f"DROP VIEW {db}.{_ROWS_VIEW}")
    index.command(f"DROP VIEW {db}.{_PAGES_VIEW}")
    index.command(f"DROP TABLE {db}.{_CHUNK_TABLE}")
    generate_seconds = time.monotonic() - started
    say(f"generated in {generate_seconds:.0f} s")
    started = time.monotonic()
    if optimize:
        for table in ("edges", "edges_by_source", "refdomains", "pages", "fetches"):
            say(f"merging {table} (OPTIMIZE FINAL)")
            index.command(f"OPTIMIZE TABLE {db}.{table} FINAL")
    optimize_seconds = time.monotonic() - started
    if optimize:
        say(f"merged in {optimize_seconds:.0f} s")
    # The domain rollups, as `linkgraph crawl` or the consumer refresh them
    # once written (linkindex/rollups.py).
    say("refreshing the domain rollups")
    started = time.monotonic()
    refreshed = rollups.refresh(index)
    if optimize:
        for table in ("domain_refdomains", "domain_reports", "domain_writes"):
            index.command(f"OPTIMIZE TABLE {db}.{table} FINAL")
    # The refresh and the merge of its tables; choosing the targets is not part of it.
    rollup_seconds = time.monotonic() - started
    say(f"refreshed {refreshed.domains:,} domains in {refreshed.seconds:.0f} s")
    dataset = _choose_targets(index, shape, source_pages, generate_seconds, optimize_seconds)
    dataset.rollup_seconds = round(rollup_seconds, 1)
    return dataset


def table_rev(table: str) -> str:
    """The reversed-host column of an edge table."""
    return "target_rev_host" if table == "edges" else "source_rev_host"


def _choose_targets(
    index: Index, shape: Shape, source_pages: int, generate_seconds: float, optimize_seconds: float
) -> Dataset:
    db = index.db
    sql = _Sql(shape)
    head = str(_scalar(index, f"SELECT {sql.domain(str(shape.target_add % shape.domains))}"))
    external = "target_domain = {d:String} AND source_domain != target_domain"
    head_backlinks = int(
        _scalar(index, f"SELECT count() FROM {db}.edges WHERE {external}", {"d": head})
    )
    _, rows = index.query(
        f"""SELECT target_url, count() AS links FROM {db}.edges WHERE {external}
            GROUP BY target_url ORDER BY abs(links - {{want:Int64}}), target_url LIMIT 1""",
        {"d": head, "want": max(5, shape.edges // 100_000)},
    )
    url_target, url_backlinks = str(rows[0][0]), int(rows[0][1])
    _, rows = index.query(
        f"""SELECT url, outlinks FROM {db}.pages WHERE status = 200
            ORDER BY abs(toInt64(outlinks) - 50), url LIMIT 1"""
    )
    source_url, source_outlinks = str(rows[0][0]), int(rows[0][1])
    _, counts = index.query(
        "SELECT table, sum(rows) FROM system.parts WHERE database = {db:String} AND active "
        "GROUP BY table ORDER BY table",
        {"db": db},
    )
    return Dataset(
        edges=shape.edges,
        seed=shape.seed,
        domains=shape.domains,
        source_pages=source_pages,
        head_domain=head,
        head_backlinks=head_backlinks,
        url_target=url_target,
        url_backlinks=url_backlinks,
        source_url=source_url,
        source_outlinks=source_outlinks,
        generate_seconds=round(generate_seconds, 1),
        optimize_seconds=round(optimize_seconds, 1),
        rows={str(table): int(n) for table, n in counts},
        **_mid_domain(index, shape.edges),
    )


def _mid_domain(index: Index, edges: int) -> dict[str, Any]:
    """``mid_domain`` and ``mid_backlinks`` of :class:`Dataset` (one pass over ``edges``)."""
    _, rows = index.query(
        f"""SELECT target_domain, count() AS links FROM {index.db}.edges
            WHERE source_domain != target_domain GROUP BY target_domain
            ORDER BY abs(links - {{want:Int64}}), target_domain LIMIT 1""",
        {"want": max(1, edges // 100)},
    )
    return {"mid_domain": str(rows[0][0]), "mid_backlinks": int(rows[0][1])}


# -- timing the query path ----------------------------------------------------------


def median(samples: Sequence[float]) -> float:
    """The median (the mean of the two middle values for an even count)."""
    if not samples:
        raise ValueError("no samples")
    return statistics.median(samples)


def percentile(samples: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least ``share``
    of all samples at or below it (p95 of 20 samples is the 19th smallest)."""
    if not samples:
        raise ValueError("no samples")
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


#: Warm-up time above which a query is timed SLOW_RUNS times only.
SLOW_SECONDS: Final = 1.0
SLOW_RUNS: Final = 7


@dataclass(frozen=True, slots=True)
class Query:
    """One timed request: a label, the endpoint and its parameters, the budget."""

    label: str
    endpoint: str
    params: dict[str, str]
    budget_ms: float | None = None


@dataclass(slots=True)
class Timing:
    """What :func:`time_queries` measured for one :class:`Query`."""

    query: Query
    samples_ms: list[float]
    #: Rows of the last answer (``count``), or None for a document (report).
    rows: int | None

    @property
    def median_ms(self) -> float:
        return median(self.samples_ms)

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 0.95)

    @property
    def verdict(self) -> str:
        """``pass`` or ``miss`` against the budget (on the median), or ``""``."""
        if self.query.budget_ms is None:
            return ""
        return "pass" if self.median_ms <= self.query.budget_ms else "miss"


def queries_for(dataset: Dataset, endpoints: set[str]) -> list[Query]:
    """The benchmark's queries on ``dataset``; ``endpoints`` are the API's
    (``report`` is timed where the server has it, else ``summary``)."""
    head, url, mid = dataset.head_domain, dataset.url_target, dataset.mid_domain
    report = "report" if "report" in endpoints else "summary"
    head_is = f"the head domain ({dataset.head_backlinks:,} backlinks)"
    mid_is = f"a domain with {dataset.mid_backlinks:,} backlinks"
    top_100 = {"limit": "100"}
    chosen = [
        Query(
            f"backlinks of one URL ({dataset.url_backlinks:,} backlinks), first 100",
            "backlinks",
            {"target": url, "scope": "url", **top_100},
            20,
        ),
        Query(f"refdomains of {mid_is}, top 100", "refdomains", {"target": mid, **top_100}, 100),
        Query(f"{report} of {mid_is}", report, {"target": mid}, 300),
        Query(f"refdomains of {head_is}, top 100", "refdomains", {"target": head, **top_100}),
        Query(f"{report} of {head_is}", report, {"target": head}),
        Query(f"backlinks of {head_is}, first 100", "backlinks", {"target": head, **top_100}),
        Query(f"anchors of {head_is}, top 100", "anchors", {"target": head, **top_100}),
        Query(
            f"outlinks of one page ({dataset.source_outlinks} links), first 100",
            "outlinks",
            {"target": dataset.source_url, "scope": "url", **top_100},
        ),
    ]
    top = next((name for name in ("top-pages", "top_pages") if name in endpoints), None)
    if top:
        chosen.append(Query(f"top pages of {head_is}, top 100", top, {"target": head, **top_100}))
    if not mid:  # a dataset recorded before mid_domain was
        chosen = [q for q in chosen if q.params.get("target") != mid]
    return chosen


class BenchError(Exception):
    """A request of the benchmark failed: the server's answer says why."""


class Client:
    """HTTP GET/POST to a ``linkgraph serve`` on this machine, never through a proxy."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        # http_proxy may be set for crawls; the server is on loopback.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _open(self, request: urllib.request.Request) -> Any:
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self._opener.open(request, timeout=600) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            raise BenchError(f"{request.full_url} answered {error.code}: {detail}") from None

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._open(urllib.request.Request(f"{self.base_url}{path}{query}"))

    def sql(self, statement: str) -> list[dict[str, Any]]:
        body = json.dumps({"sql": statement}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/sql",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        rows: list[dict[str, Any]] = self._open(request)["rows"]
        return rows


def time_queries(
    client: Client,
    queries: Sequence[Query],
    *,
    runs: int = 30,
    warmup: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Timing]:
    """Time each query ``runs`` times after ``warmup`` untimed runs.

    A sample is one whole request: sending it, the server's query, and
    reading the answer (parsing the JSON is not counted). A query whose
    warm-up took :data:`SLOW_SECONDS` or more is run :data:`SLOW_RUNS` times.
    """
    timings = []
    for query in queries:
        path = f"/api/v1/{query.endpoint}"
        slowest = 0.0
        for _ in range(warmup):
            started = clock()
            client.get(path, query.params)
            slowest = max(slowest, clock() - started)
        samples = []
        answer: Any = None
        # Queries of seconds get fewer runs: enough for a median, in minutes.
        for _ in range(runs if slowest < SLOW_SECONDS else min(runs, SLOW_RUNS)):
            started = clock()
            answer = client.get(path, query.params)
            samples.append((clock() - started) * 1000)
        rows = answer.get("count") if isinstance(answer, dict) else None
        timings.append(Timing(query, samples, None if rows is None else int(rows)))
    return timings


@dataclass(slots=True)
class DiskUse:
    """Bytes on disk of the active parts: the ``edges`` table and the whole database."""

    edges_bytes: int
    total_bytes: int
    tables: dict[str, int]


def disk_use(client: Client, database: str) -> DiskUse:
    rows = client.sql(
        "SELECT table, toUInt64(sum(bytes_on_disk)) AS bytes FROM system.parts "
        f"WHERE database = '{database}' AND active GROUP BY table ORDER BY table"
    )
    tables = {str(row["table"]): int(row["bytes"]) for row in rows}
    return DiskUse(tables.get("edges", 0), sum(tables.values()), tables)


def machine() -> str:
    """One line about this machine: CPU model, cores, memory."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    return f"{model}, {os.cpu_count()} cores{memory}"


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def table(dataset: Dataset, timings: Sequence[Timing], disk: DiskUse) -> str:
    """The results as a Markdown table (the README's benchmark table)."""
    lines = [
        f"| query, {dataset.edges:,} edges (warm) | runs | median | p95 | target | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for t in timings:
        budget = f"≤ {t.query.budget_ms:.0f} ms" if t.query.budget_ms is not None else ""
        rows = f", {t.rows} rows" if t.rows is not None else ""
        lines.append(
            f"| {t.query.label} (`{t.query.endpoint}`{rows}) | {len(t.samples_ms)} "
            f"| {_ms(t.median_ms)} | {_ms(t.p95_ms)} | {budget} | {t.verdict} |"
        )
    for label, size in (("edges table", disk.edges_bytes), ("whole index", disk.total_bytes)):
        per_edge = size / dataset.edges
        verdict = "pass" if per_edge <= 30 else "miss"
        lines.append(
            f"| bytes on disk per edge, {label} ({size / 2**30:.2f} GiB) | "
            f"| {per_edge:.1f} B | | ≤ 30 B | {verdict} |"
        )
    for label, seconds in (
        ("generating the index: inserts", dataset.generate_seconds),
        ("generating the index: OPTIMIZE FINAL", dataset.optimize_seconds),
        ("generating the index: rollups of every domain", dataset.rollup_seconds),
    ):
        lines.append(f"| {label} | | {seconds / 60:.1f} min | | | |")
    return "\n".join(lines)


# -- the command line ------------------------------------------------------------------


def load_dataset(data_dir: Path) -> Dataset | None:
    """The dataset recorded in ``DATA_DIR/bench.json``, or None."""
    try:
        raw = json.loads((data_dir / META_FILE).read_text(encoding="utf-8"))
        return Dataset(**raw)
    except (OSError, ValueError, TypeError):
        return None


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def cmd_generate(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    existing = load_dataset(data_dir)
    if (
        existing is not None
        and existing.edges == args.edges
        and existing.seed == args.seed
        and existing.version == GENERATOR_VERSION
    ):
        _say(f"{data_dir} already holds {existing.edges:,} edges (seed {existing.seed}); kept")
        if not existing.mid_domain:  # recorded by an earlier version of this command
            index = open_index(resolve_location(str(data_dir), None), create=False)
            for name, value in _mid_domain(index, existing.edges).items():
                setattr(existing, name, value)
            (data_dir / META_FILE).write_text(json.dumps(asdict(existing), indent=2) + "\n")
        return 0
    if data_dir.exists():
        _say(f"removing the old dataset in {data_dir}")
        shutil.rmtree(data_dir)
    index = open_index(resolve_location(str(data_dir), None), create=True)
    dataset = generate(
        index,
        args.edges,
        args.seed,
        chunk_edges=args.chunk,
        optimize=not args.no_optimize,
        progress=_say,
    )
    (data_dir / META_FILE).write_text(json.dumps(asdict(dataset), indent=2) + "\n")
    _say(
        f"head domain {dataset.head_domain}: {dataset.head_backlinks:,} backlinks; "
        f"URL {dataset.url_target}: {dataset.url_backlinks:,}"
    )
    return 0


def _linkgraph() -> list[str]:
    script = Path(sys.executable).with_name("linkgraph")
    return [str(script)] if script.exists() else [sys.executable, "-m", "linkgraph.cli"]


def cmd_run(args: argparse.Namespace) -> int:
    from linkgraph import api

    data_dir = Path(args.data_dir).resolve()
    dataset = load_dataset(data_dir)
    if dataset is None:
        _say(f"no dataset in {data_dir}: run `python -m bench.query generate` first")
        return 2
    server = subprocess.Popen(
        [*_linkgraph(), "serve", "--data-dir", str(data_dir), "--port", "0"],
        stdin=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        running = None
        while running is None:
            if server.poll() is not None:
                _say("linkgraph serve stopped before it answered")
                return 1
            if time.monotonic() - started > 300:
                _say("linkgraph serve did not answer within 300 s")
                return 1
            time.sleep(0.2)
            running = api.running_server(data_dir)
        client = Client(running.url, running.token)
        endpoints = {
            path.rsplit("/", 1)[-1] for path in client.get("/openapi.json").get("paths", {})
        }
        timings = time_queries(
            client, queries_for(dataset, endpoints), runs=args.runs, warmup=args.warmup
        )
        disk = disk_use(client, str(running.extra.get("database", "linkgraph")))
    except (BenchError, OSError) as error:
        _say(str(error))
        return 1
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(
        f"Machine: {machine()}; {dataset.edges:,} edges, {dataset.domains:,} domains, "
        f"{dataset.source_pages:,} source pages (seed {dataset.seed})."
    )
    print(
        f"Head domain {dataset.head_domain}: {dataset.head_backlinks:,} external backlinks; "
        f"URL {dataset.url_target}: {dataset.url_backlinks:,}; outlinks of "
        f"{dataset.source_url} ({dataset.source_outlinks}).\n"
    )
    print(table(dataset, timings, disk))
    results = {
        "dataset": asdict(dataset),
        "machine": machine(),
        "timings": [
            {
                "label": t.query.label,
                "endpoint": t.query.endpoint,
                "params": t.query.params,
                "median_ms": t.median_ms,
                "p95_ms": t.p95_ms,
                "samples_ms": t.samples_ms,
            }
            for t in timings
        ],
        "disk": asdict(disk),
    }
    (data_dir.parent / f"{data_dir.name}-results.json").write_text(json.dumps(results, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.query",
        description="Scale benchmark of the query path (make bench-query).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="generate a synthetic link graph into DATA_DIR")
    gen.add_argument("--data-dir", required=True, help="the embedded index's directory")
    gen.add_argument("--edges", type=int, default=100_000_000, help="edges (default: %(default)s)")
    gen.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    gen.add_argument("--chunk", type=int, default=CHUNK_EDGES, help="edges per INSERT")
    gen.add_argument(
        "--no-optimize", action="store_true", help="leave merging to the background merges"
    )
    gen.set_defaults(handler=cmd_generate)
    run = commands.add_parser("run", help="time the queries through linkgraph serve")
    run.add_argument("--data-dir", required=True, help="the embedded index's directory")
    run.add_argument("--runs", type=int, default=30, help="timed runs per query")
    run.add_argument("--warmup", type=int, default=3, help="untimed runs per query first")
    run.set_defaults(handler=cmd_run)
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
