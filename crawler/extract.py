"""Link extraction: one HTML page in, its edges out (SPEC §2).

The page is parsed the way a browser parses it (HTML5 tree construction, by
lexbor through selectolax), so malformed markup yields the links a user sees:
an unclosed ``<a>`` ends where the parser ends it, nested ``<a>`` start tags
close the open one, and a link inside a table cell inside a link is a second,
nested link. Every href is resolved against the document's base URL and
normalized by :mod:`linkgraph.urls`, the one definition of a URL.

This is the crawler's hot path (about a hundred links per page), so the page
is walked once with one selector, identical hrefs are resolved once per page,
and anchor text is only computed for the first occurrence of an edge. Hostile
markup never raises and is bounded: at most ``max_links`` edges are kept, and
the text read for anchors is capped by a budget proportional to the page size,
which keeps deeply nested links (each one's text containing all the others')
from costing quadratic time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from selectolax.lexbor import LexborDocumentOptions, LexborHTMLParser, LexborNode

from linkgraph.defaults import LINKGRAPH_MAX_LINKS_PER_PAGE, LINKGRAPH_ROBOTS_TOKEN
from linkgraph.records import Link
from linkgraph.urls import normalize, resolve, resolve_and_normalize

__all__ = [
    "ANCHOR_MAX_CHARS",
    "Extraction",
    "extract_links",
    "meta_robots_nofollow",
    "parse_rel",
    "robots_header_nofollow",
]

log = logging.getLogger(__name__)

#: Anchor texts are cut to this many characters, after whitespace collapsing.
ANCHOR_MAX_CHARS: Final = 512

# One pass over the tree, in document order. base and meta have to be seen
# before any edge is built (the first <base href> applies to links before it
# too, and a page-level nofollow to every edge), so nodes are collected first.
_SELECTOR: Final = "a[href], area[href], link[href], base[href], meta[name]"

# Without mutation events lexbor does not clone the selected <option> into
# <selectedcontent>, which would count a link inside it twice; nothing else
# that matters for links depends on them, and the parse is faster.
_PARSER_OPTIONS: Final = int(LexborDocumentOptions.WO_EVENTS)

# Meta robots names that address this crawler: the generic one and its own token.
_META_ROBOTS_NAMES: Final = frozenset({"robots", LINKGRAPH_ROBOTS_TOKEN.lower()})
_NOFOLLOW_DIRECTIVES: Final = frozenset({"nofollow", "none"})

# X-Robots-Tag directives whose value follows a colon; "name: value" with one of
# these names is a directive, not a user-agent prefix.
_VALUED_DIRECTIVES: Final = frozenset(
    {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
)
_USER_AGENT: Final = re.compile(r"[a-z0-9_.\-]+")

# Budget of anchor text characters read per page, as a multiple of the page
# length (plus a floor for tiny pages). Text of links that do not nest sums to
# less than the page; only nesting can exceed it.
_TEXT_BUDGET_FACTOR: Final = 4
_TEXT_BUDGET_FLOOR: Final = 1 << 16
# Elements visited looking for an image inside a link with no text: same idea.
_IMAGE_SEARCH_BUDGET: Final = 1 << 16


@dataclass(slots=True)
class Extraction:
    """What one page yielded.

    ``links`` holds one :class:`~linkgraph.records.Link` per
    ``(target_url, kind)``, in document order of first occurrence, with the
    first occurrence's anchor, image and rel flags and ``link_count`` counting
    occurrences (``canonical`` edges always count 1). ``dropped`` counts hrefs
    that did not resolve to an http(s) URL; ``truncated`` counts occurrences
    of edges not kept because ``max_links`` edges were kept already.
    ``robots_nofollow`` is true when meta robots said ``nofollow``/``none``
    or the caller said so (from ``X-Robots-Tag``).
    """

    links: list[Link] = field(default_factory=list)
    dropped: int = 0
    robots_nofollow: bool = False
    truncated: int = 0


def _tokens(value: str) -> list[str]:
    # rel and robots values: case-insensitive tokens split on whitespace or commas.
    return value.lower().replace(",", " ").split()


def parse_rel(value: str) -> tuple[bool, bool, bool]:
    """``(nofollow, ugc, sponsored)`` from a ``rel`` attribute value.

    Tokens are split on whitespace or commas and compared case-insensitively,
    so ``"NoFollow"``, ``"ugc,sponsored"`` and ``"noopener nofollow"`` all count.
    """
    if not value:
        return False, False, False
    tokens = _tokens(value)
    return "nofollow" in tokens, "ugc" in tokens, "sponsored" in tokens


def meta_robots_nofollow(content: str) -> bool:
    """True if a meta robots ``content`` holds ``nofollow`` or ``none``.

    Tokens are split on commas or whitespace, compared case-insensitively.
    """
    return not _NOFOLLOW_DIRECTIVES.isdisjoint(_tokens(content))


def robots_header_nofollow(values: Iterable[str], token: str = LINKGRAPH_ROBOTS_TOKEN) -> bool:
    """True if ``X-Robots-Tag`` header values say ``nofollow``/``none`` to ``token``.

    Each value is a comma-separated list of directives. A directive written
    ``useragent: directive`` starts a group that addresses only that user
    agent, and the directives after it in the same value belong to the group
    (``googlebot: noindex, nofollow`` is all for googlebot). Directives before
    any prefix address every crawler. A group applies when its user agent
    equals ``token``, case-insensitively. Valued directives such as
    ``unavailable_after: …`` or ``max-snippet: …`` are not mistaken for
    prefixes.
    """
    token = token.strip().lower()
    for value in values:
        applies = True
        for item in value.split(","):
            directive = item.strip().lower()
            name, colon, rest = directive.partition(":")
            if colon:
                name = name.strip()
                if name not in _VALUED_DIRECTIVES and _USER_AGENT.fullmatch(name):
                    applies = name == token
                    directive = rest.strip()
            if applies and directive in _NOFOLLOW_DIRECTIVES:
                return True
    return False


def _clean(text: str) -> str:
    """``" ".join(text.split())[:ANCHOR_MAX_CHARS]``, without splitting all of a huge text."""
    if len(text) <= 4 * ANCHOR_MAX_CHARS:
        return " ".join(text.split())[:ANCHOR_MAX_CHARS]
    words: list[str] = []
    length = -1
    for match in re.finditer(r"\S+", text):
        # re's \s for str is the same set of characters str.split() splits on.
        words.append(match.group())
        length += len(words[-1]) + 1
        if length >= ANCHOR_MAX_CHARS:
            break
    return " ".join(words)[:ANCHOR_MAX_CHARS]


def _first_image(node: LexborNode, budget: list[int]) -> LexborNode | None:
    # A Python walk, not css_first("img"): compiling a selector per link costs
    # more than walking the few elements an image link holds.
    for element in node.traverse():
        budget[0] -= 1
        if budget[0] < 0:
            return None
        if element.tag == "img":
            return element
    return None


def _base_url(href: str | None, response_url: str | None) -> str | None:
    """The document base URL (HTML Standard, "frozen base URL")."""
    if href is None or response_url is None:
        return response_url
    base = resolve(href, response_url)
    # As in the standard, a base that fails to parse, or is data: or
    # javascript:, leaves the response URL in charge.
    if base is None or base.startswith(("data:", "javascript:")):
        return response_url
    return base


def extract_links(
    html: str,
    response_url: str,
    source_url: str,
    *,
    robots_nofollow: bool = False,
    max_links: int = LINKGRAPH_MAX_LINKS_PER_PAGE,
) -> Extraction:
    """Extract the ``a`` and ``canonical`` edges of an HTML page (SPEC §2).

    ``response_url`` is the URL that answered (after redirects), the fallback
    base URL; ``source_url`` is its normalized form, and an edge whose
    normalized target equals it is dropped (not counted). ``robots_nofollow``
    says the response headers already forbade following; meta robots
    ``nofollow``/``none`` does the same, and either way every edge gets
    ``nofollow=True``. At most ``max_links`` edges are kept.

    Never raises on any ``html``, however malformed or hostile.
    """
    result = Extraction(robots_nofollow=robots_nofollow)
    try:
        tree = LexborHTMLParser(html, options=_PARSER_OPTIONS)
    except UnicodeError:
        # Lone surrogates cannot be UTF-8 encoded for lexbor; replace them.
        html = html.encode("utf-8", "replace").decode("utf-8")
        tree = LexborHTMLParser(html, options=_PARSER_OPTIONS)
    except Exception:  # pragma: no cover - lexbor out of memory and the like
        log.warning("cannot parse page %s", response_url, exc_info=True)
        return result

    links: list[tuple[LexborNode, dict[str, str | None], str]] = []
    base_href: str | None = None
    page_nofollow = robots_nofollow
    for node in tree.css(_SELECTOR):
        tag = node.tag
        attributes = node.attributes
        if tag == "a" or tag == "area":
            links.append((node, attributes, "a"))
        elif tag == "link":
            if "canonical" in _tokens(attributes.get("rel") or ""):
                links.append((node, attributes, "canonical"))
        elif tag == "base":
            if base_href is None:
                base_href = attributes.get("href") or ""
        elif (
            tag == "meta"
            and not page_nofollow
            and (attributes.get("name") or "").strip().lower() in _META_ROBOTS_NAMES
        ):
            page_nofollow = meta_robots_nofollow(attributes.get("content") or "")
    result.robots_nofollow = page_nofollow

    # An unparsable response URL leaves no base: absolute hrefs still resolve.
    base = _base_url(base_href, resolve(response_url))
    source = normalize(source_url) or source_url
    targets: dict[str, str | None] = {}
    edges: dict[tuple[str, str], Link] = {}
    text_budget = max(_TEXT_BUDGET_FACTOR * len(html), _TEXT_BUDGET_FLOOR)
    image_budget = [_IMAGE_SEARCH_BUDGET]
    dropped = truncated = 0

    for node, attributes, kind in links:
        href = attributes.get("href") or ""
        # "" marks a miss: a resolved target is None or a non-empty URL.
        target = targets.get(href, "")
        if target == "":
            target = targets[href] = resolve_and_normalize(href, base)
        if target is None:
            dropped += 1
            continue
        if target == source:
            continue
        key = (target, kind)
        edge = edges.get(key)
        if edge is not None:
            if kind == "a":
                edge.link_count += 1
            continue
        if len(edges) >= max_links:
            truncated += 1
            continue
        nofollow, ugc, sponsored = parse_rel(attributes.get("rel") or "")
        anchor = ""
        image = False
        if kind == "a":
            if text_budget > 0:
                text = node.text_lexbor()
                text_budget -= len(text)
            else:
                # Over budget only through nested links: their own text nodes
                # still give an anchor, at a bounded cost.
                text = node.text(deep=False)
            anchor = _clean(text)
            if not anchor:
                img = _first_image(node, image_budget)
                if img is not None:
                    image = True
                    anchor = _clean(img.attributes.get("alt") or "")
        edges[key] = Link(
            target,
            kind,
            anchor,
            image,
            nofollow or page_nofollow,
            ugc,
            sponsored,
        )

    result.links = list(edges.values())
    result.dropped = dropped
    result.truncated = truncated
    return result
