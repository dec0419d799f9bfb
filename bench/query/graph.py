"""The query benchmark's link graph: its shape, and the SQL that generates it.

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

URLs are generated in their normal form (docs/urls.md: lower-case hosts, a path,
no fragment, no tracking parameters); the tests check a sample against
:mod:`linkcore.urls`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

# -- the graph's shape ------------------------------------------------------------

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

#: Staging table of one chunk's edges as numbers: s (source page), j (its link
#: number), sd/td (source/target domain ids), tp (target page rank), kind.
CHUNK_TABLE: Final = "_bench_chunk"
#: Views over the staging table: its edges and its source pages as index rows.
ROWS_VIEW: Final = "_bench_rows"
# The elements of `latest` that edges_by_source keeps.
_BY_SOURCE: Final = (
    "seen", "anchor", "image", "nofollow", "ugc", "sponsored", "link_count", "location",
)  # fmt: skip
PAGES_VIEW: Final = "_bench_pages"


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


class GraphSql:
    """SQL expressions of the generator, bound to one :class:`Shape`.

    Each random choice is ``cityHash64(seed, ids…, salt)`` with its own salt,
    so choices are independent of each other and reproducible.
    """

    def __init__(self, shape: Shape, *, context: bool = True) -> None:
        self.shape = shape
        #: False: every link's location ``other`` and texts empty, and pages
        #: without facts: the graph as an index of the version before link
        #: context holds it once upgraded (bench/storage.py compares the two).
        self.context = context

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
        INSERT INTO {db}.{CHUNK_TABLE}
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
        -- A link from a page to itself is no edge (docs/edges.md#self-links).
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
        # Where links sit, as on template-heavy real pages: a third in the
        # content, most of the rest in navigation, header, footer and sidebars.
        place = f"({self.hash('s', 'j', 50)} % 100)"
        location = f"""multiIf(kind != 'a', 'other', {place} < 35, 'content', {place} < 60, 'nav',
            {place} < 70, 'header', {place} < 85, 'footer', {place} < 92, 'aside', 'other')"""
        # Context: sentences of topic words around content links (most), a word
        # or two around some template links; texts repeat per template position.
        before = self.context_text(place, 51)
        after = self.context_text(place, 52)
        if not self.context:
            location, before, after = "'other'", "''", "''"
        return f"""
        CREATE VIEW IF NOT EXISTS {db}.{ROWS_VIEW} AS
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
                    if(kind = 'a', 1 + ({link_count} < 15) + ({link_count} < 5), 1),
                    {location},
                    {before},
                    {after})
                AS Tuple(seen DateTime64(3, 'UTC'), anchor String, image Bool, nofollow Bool,
                         ugc Bool, sponsored Bool, link_count UInt32,
                         location Enum8('other' = 0, 'content' = 1, 'nav' = 2, 'header' = 3,
                                        'footer' = 4, 'aside' = 5),
                         text_before String, text_after String)) AS latest,
            -- edges_by_source keeps no texts (linkindex/sql/001_init.sql).
            CAST(tuple({", ".join(f"tupleElement(latest, '{name}')" for name in _BY_SOURCE)})
                AS Tuple(seen DateTime64(3, 'UTC'), anchor String, image Bool, nofollow Bool,
                         ugc Bool, sponsored Bool, link_count UInt32,
                         location Enum8('other' = 0, 'content' = 1, 'nav' = 2, 'header' = 3,
                                        'footer' = 4, 'aside' = 5))) AS latest_by_source,
            CAST(tuple(lost_at, if(toUnixTimestamp64Milli(lost_at) > 0, 'link_removed', ''))
                AS Tuple(at DateTime64(3, 'UTC'),
                         reason Enum8('' = 0, 'link_removed' = 1, 'page_gone' = 2,
                                      'page_redirected' = 3, 'page_noindex' = 4)))
                AS lost_reason
        FROM {db}.{CHUNK_TABLE}"""

    def context_text(self, place: str, salt: int) -> str:
        """A ``text_before``/``text_after`` of an ``a`` edge placed by ``place``:
        up to 100 characters of topic words for 80% of content links, one to
        three words for a fifth of template links, else empty."""
        count = f"({self.hash('s', 'j', salt + 10)} % 100)"
        length = f"""multiIf(kind != 'a', 0, {place} < 35 AND {count} < 80, 4 + {count} % 14,
            {place} >= 35 AND {count} < 20, 1 + {count} % 3, 0)"""
        words = f"""arrayStringConcat(arrayMap(k -> {_array(TOPIC_WORDS)}[1 + {
            self.hash("s", "j", "k", salt)
        } % {len(TOPIC_WORDS)}], range({length})), ' ')"""
        return f"substring({words}, 1, 100)"

    def page_facts(self) -> str:
        """The page facts of a source page: title, lang, words, link counts, ip."""
        if not self.context:
            return (
                "'' AS title, '' AS lang, toUInt32(0) AS words, toUInt32(0) AS internal_links, "
                "toUInt32(0) AS external_links, '' AS ip"
            )
        return f"""if(redirect, '', arrayStringConcat(arrayMap(k -> {_array(TOPIC_WORDS)}[1 + {
            self.hash("s", "k", 53)
        } % {len(TOPIC_WORDS)}], range(3 + {self.hash("s", 54)} % 6)), ' ')) AS title,
            if(redirect, '', 'en') AS lang,
            toUInt32(if(redirect, 0, 200 + {self.hash("s", 55)} % 2000)) AS words,
            toUInt32(links) AS internal_links,
            toUInt32(0) AS external_links,
            '' AS ip"""

    def page_rows(self, db: str) -> str:
        """A view with one ``pages`` row per source page of the staging table;
        ``first_ms`` is its earlier fetch (``fetches`` has both)."""
        return f"""
        CREATE VIEW IF NOT EXISTS {db}.{PAGES_VIEW} AS
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
            fromUnixTimestamp64Milli(last_ms, 'UTC') AS fetched_at,
            false AS robots_noindex,
            {self.page_facts()}
        FROM (
            SELECT s, sd, count() AS links, max(kind = 'redirect') AS redirect,
                   {self.source_columns()}
            FROM {db}.{CHUNK_TABLE}
            GROUP BY s, sd
        )"""
