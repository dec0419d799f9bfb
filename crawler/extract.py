"""Link extraction: one HTML page in, its edges out (docs/edges.md).

The page is parsed the way a browser parses it (HTML5 tree construction, by
lexbor through selectolax), so malformed markup yields the links a user sees:
an unclosed ``<a>`` ends where the parser ends it, an ``<a>`` start tag closes
the open one, and a link inside a table cell inside a link is a second, nested
link. Every href is resolved against the document's base URL and normalized by
:mod:`linkcore.urls`, the one definition of a URL.

This is the crawler's hot path (about a hundred links per page), so the tree
is searched once with one selector, identical hrefs are resolved once per
page, and anchor text is read only for the first occurrence of an edge.

Each ``a`` edge also gets where its first occurrence sits
(:class:`~crawler.context.Locator`: the nearest landmark,
docs/edges.md#location) and the visible text around it
(:class:`~crawler.context.ContextReader`), and the page its title, language
and word count (:func:`_place`, :func:`_page_facts`). Both are bounded per
link and per page, so they stay a small part of the parse.

Hostile markup never raises, and the usual ways it blows up are bounded:

- at most ``max_links`` edges are kept, the rest are counted;
- HTML5 tree construction walks the stack of open elements for many tags, so
  markup nested thousands deep costs time quadratic in its size. Large pages
  are scanned first (:func:`_parse_budget_cut`) and cut where the estimated
  work passes a budget; browsers cap the tree depth for the same reason;
- links nested in links share their text, so reading each one's text would be
  quadratic too; such pages get every anchor from one walk of the tree
  (:func:`_anchors_by_walk`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from selectolax.lexbor import LexborDocumentOptions, LexborHTMLParser, LexborNode

from crawler.context import CONTEXT_MAX_CHARS, LOCATIONS, count_words, place
from linkcore.config import LINKGRAPH_MAX_LINKS_PER_PAGE, LINKGRAPH_ROBOTS_TOKEN
from linkcore.profiles import Profile, text_profile
from linkcore.records import Link
from linkcore.urls import normalize, resolve, resolver

__all__ = [
    "ANCHOR_MAX_CHARS",
    "CONTEXT_MAX_CHARS",
    "LOCATIONS",
    "Extraction",
    "extract_links",
    "meta_robots_nofollow",
    "meta_robots_noindex",
    "parse_rel",
    "robots_header_nofollow",
    "robots_header_noindex",
]

log = logging.getLogger(__name__)

#: Anchor texts are cut to this many characters, after whitespace collapsing.
ANCHOR_MAX_CHARS: Final = 512
#: Page titles are cut like anchors.
TITLE_MAX_CHARS: Final = ANCHOR_MAX_CHARS
#: A language tag longer than this is junk (BCP 47 tags in use are far shorter).
LANG_MAX_CHARS: Final = 35

# One search of the tree, in document order. base and meta have to be seen
# before any edge is built (the first <base href> applies to links before it
# too, and a page-level nofollow to every edge), so nodes are collected first.
# "[href]" rather than "a[href], area[href], …": one test per element is
# cheaper, and the few other elements with an href are passed over by tag.
_SELECTOR: Final = "[href], meta[name], script, style, title"
# A link inside a link (through a table, or SVG/MathML content). An HTML
# <area> is void; an element named area that has children is foreign content.
_NESTED_LINK: Final = "a[href] a[href]"
_NESTED_AREA: Final = "area[href] area[href]"

# Without mutation events lexbor does not clone the selected <option> into
# <selectedcontent>, which would count a link inside it twice; nothing else
# that matters for links depends on them, and the parse is faster.
_PARSER_OPTIONS: Final = int(LexborDocumentOptions.WO_EVENTS)

# Meta robots names that address this crawler: the generic one and its own token.
_META_ROBOTS_NAMES: Final = frozenset({"robots", LINKGRAPH_ROBOTS_TOKEN.lower()})
_NOFOLLOW_DIRECTIVES: Final = frozenset({"nofollow", "none"})
_NOINDEX_DIRECTIVES: Final = frozenset({"noindex", "none"})

# X-Robots-Tag directives whose value follows a colon; "name: value" with one of
# these names is a directive, not a user-agent prefix.
_VALUED_DIRECTIVES: Final = frozenset(
    {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
)
_USER_AGENT: Final = re.compile(r"[a-z0-9_.\-]+")

# Elements visited looking for an image inside links with no text, per page.
# The links of a page that does not nest them are disjoint, so this bounds a
# walk over at most the page; no real page has an image link this large.
_IMAGE_SEARCH_BUDGET: Final = 1 << 16
# Text read for one anchor when links nest (see _anchors_by_walk).
_RUN_MAX_CHARS: Final = 16 * ANCHOR_MAX_CHARS

# -- the parse budget ---------------------------------------------------------
# Estimated steps of the tree builder's stack walks (one per open element per
# tag) allowed per page: 0.4-1.2 s of lexbor on the worst markup measured.
# Real pages use a few million.
_PARSE_BUDGET: Final = 100_000_000
# With fewer tags than this a page cannot reach the budget (k tags nest at most
# k deep: k*k/2 steps), so it is not scanned. Each tag takes at least 3 chars.
_PARSE_BUDGET_TAGS: Final = 14_142
_TAG: Final = re.compile(r"<(/?)([A-Za-z][^\t\n\f\r />]*)")
# Elements that never stay open.
_VOID_ELEMENTS: Final = frozenset(
    {
        "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image",
        "img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
    }
)  # fmt: skip
# Elements whose start tag closes an open one of the same name (<li><li>,
# <td><td>, <p><p>); nesting them takes another element in between, counted.
_SIBLING_ELEMENTS: Final = frozenset(
    {
        "body", "caption", "colgroup", "dd", "dt", "head", "html", "li", "optgroup", "option",
        "p", "rb", "rp", "rt", "rtc", "tbody", "td", "tfoot", "th", "thead", "tr",
    }
)  # fmt: skip


#: Elements whose content is not a page's text.
_NOT_TEXT = ["script", "style", "noscript", "template"]


@dataclass(slots=True)
class Extraction:
    """What one page yielded.

    ``links`` holds one :class:`~linkcore.records.Link` per
    ``(target_url, kind)``, in document order of first occurrence, with the
    first occurrence's anchor, image, rel flags, location and surrounding
    texts, and ``link_count`` counting occurrences (``canonical`` edges always
    count 1, location ``other``, no texts). ``dropped`` counts hrefs that did
    not resolve to an http(s) URL; ``truncated`` counts occurrences of edges
    not kept because ``max_links`` edges were kept already.
    ``robots_nofollow`` (``robots_noindex``) is true when meta robots said
    ``nofollow`` (``noindex``) or ``none``, or the caller said so (from
    ``X-Robots-Tag``). ``title`` is the first ``<title>``'s text and ``lang``
    the root element's ``lang``, cleaned like anchors; ``words`` counts the
    words of the body's visible text (docs/edges.md#page-facts), and
    ``profile`` sums that text up (docs/relevance.md).
    """

    links: list[Link] = field(default_factory=list)
    dropped: int = 0
    robots_nofollow: bool = False
    truncated: int = 0
    robots_noindex: bool = False
    title: str = ""
    lang: str = ""
    words: int = 0
    #: The page's text profile, [] for a page without words (docs/relevance.md).
    profile: Profile = field(default_factory=list)
    #: The page's visible text (scripts and styles left out), when asked for.
    text: str = ""


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


def meta_robots_noindex(content: str) -> bool:
    """True if a meta robots ``content`` holds ``noindex`` or ``none`` (tokens as for nofollow)."""
    return not _NOINDEX_DIRECTIVES.isdisjoint(_tokens(content))


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
    return _robots_header_says(values, token, _NOFOLLOW_DIRECTIVES)


def robots_header_noindex(values: Iterable[str], token: str = LINKGRAPH_ROBOTS_TOKEN) -> bool:
    """True if ``X-Robots-Tag`` header values say ``noindex``/``none`` to ``token``
    (read as :func:`robots_header_nofollow` reads them)."""
    return _robots_header_says(values, token, _NOINDEX_DIRECTIVES)


def _robots_header_says(values: Iterable[str], token: str, directives: frozenset[str]) -> bool:
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
            if applies and directive in directives:
                return True
    return False


# Texts up to this long are cleaned by splitting them whole (see _clean).
_SPLIT_WHOLE_CHARS: Final = 4 * ANCHOR_MAX_CHARS


def _clean(text: str) -> str:
    """``" ".join(text.split())[:ANCHOR_MAX_CHARS]``, without splitting all of a huge text."""
    if len(text) <= _SPLIT_WHOLE_CHARS:
        return " ".join(text.split())[:ANCHOR_MAX_CHARS]
    words: list[str] = []
    length = -1
    # re's \S for str is exactly what str.split() does not split on.
    for match in re.finditer(r"\S+", text):
        words.append(match.group())
        length += len(words[-1]) + 1
        if length >= ANCHOR_MAX_CHARS:
            break
    return " ".join(words)[:ANCHOR_MAX_CHARS]


def _count_tag_opens(data: bytes) -> int:
    """``html.count("<")`` of the page whose UTF-8 form is ``data``, three times
    faster on a page of the usual size.

    str.count tests one character at a time; numpy compares the UTF-8 bytes
    in vectorized code, and "<" is one byte there that no multi-byte sequence
    contains.
    """
    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == ord("<")))


def _parse_budget_cut(html: str, data: bytes) -> int:
    """Where to cut ``html`` (UTF-8: ``data``) so that parsing it stays within
    ``_PARSE_BUDGET``.

    Returns ``len(html)`` for any page that fits, which is every real one.

    The estimate counts generously: every start tag of a non-void element
    opens one (``/>`` included: outside SVG and MathML it closes nothing)
    until an end tag of the same name, and every tag costs the current depth.
    Elements the parser closes implicitly stay counted, except after a start
    tag that closes its open namesake (``<li><li>``, ``<td><td>``). End tags
    the parser ignores, and namesakes nested through another element
    (``<ul><li><ul><li>``), make it count low by a small factor.

    This guards against the deep nesting that broken and junk pages carry. It
    is not a proof against markup crafted to defeat it: foreign content, where
    HTML's void elements nest, is not modelled, and lexbor's attribute
    handling is quadratic in the attributes of one tag. A hard bound needs a
    CPU limit around the parse.
    """
    if len(html) < 3 * _PARSE_BUDGET_TAGS or _count_tag_opens(data) < _PARSE_BUDGET_TAGS:
        return len(html)
    open_elements: dict[str, int] = {}
    depth = 0
    cost = 0
    for match in _TAG.finditer(html):
        cost += depth
        if cost > _PARSE_BUDGET:
            return match.start()
        name = match.group(2).lower()
        if match.group(1):
            count = open_elements.get(name, 0)
            if count:
                open_elements[name] = count - 1
                depth -= 1
        elif name not in _VOID_ELEMENTS:
            count = open_elements.get(name, 0)
            if not count or name not in _SIBLING_ELEMENTS:
                open_elements[name] = count + 1
                depth += 1
    return len(html)


def _parse(html: str, response_url: str) -> LexborHTMLParser | None:
    # Encoded once, here: lexbor parses UTF-8 bytes as they are (it would
    # encode a str itself), and the budget counts tags in them. Lone
    # surrogates have no UTF-8 form: they are dropped, as lexbor drops them
    # from a str.
    data = html.encode("utf-8", "ignore")
    cut = _parse_budget_cut(html, data)
    if cut < len(html):
        log.warning(
            "page %s nests too deep to parse in time; links after char %d are not extracted",
            response_url,
            cut,
        )
        data = html[:cut].encode("utf-8", "ignore")
    try:
        return LexborHTMLParser(data, options=_PARSER_OPTIONS)
    except Exception:  # pragma: no cover - lexbor out of memory and the like
        log.warning("cannot parse page %s", response_url, exc_info=True)
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


def _set_anchor(link: Link, text: str, image: LexborNode | None) -> None:
    link.anchor = _clean(text)
    if not link.anchor and image is not None:
        link.image = True
        link.anchor = _clean(image.attributes.get("alt") or "")


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


def _anchors_by_text(pending: list[tuple[LexborNode, Link]]) -> None:
    """Set anchors from each link's own text: right when links do not nest."""
    budget = [_IMAGE_SEARCH_BUDGET]
    for node, link in pending:
        text = node.text_lexbor()
        if text and len(text) <= _SPLIT_WHOLE_CHARS and not text.isspace():
            # Most links: _set_anchor's work without its calls. A printable
            # text holds no whitespace but " ", so without a leading, trailing
            # or double space it is collapsed already.
            if (
                text.isprintable()
                and text[0] != " "
                and text[-1] != " "
                and "  " not in text
                and len(text) <= ANCHOR_MAX_CHARS
            ):
                link.anchor = text
            else:
                link.anchor = " ".join(text.split())[:ANCHOR_MAX_CHARS]
            continue
        image = None if text and not text.isspace() else _first_image(node, budget)
        _set_anchor(link, text, image)


def _anchors_by_walk(root: LexborNode, pending: list[tuple[LexborNode, Link]]) -> None:
    """Set anchors from one walk of the tree: linear however deep links nest.

    A link's text content is the run of the document's text from where the
    link opens to where it closes, so the walk concatenates all text once and
    notes each pending link's run; an image found while links without one are
    open is the first image of each of them.
    """
    wanted = {node.mem_id: link for node, link in pending}
    pieces: list[str] = []
    length = 0
    starts: dict[int, int] = {}
    runs: dict[int, tuple[int, int]] = {}
    images: dict[int, LexborNode] = {}
    imageless: list[int] = []  # open wanted links without an image, outermost first
    root_id = root.mem_id
    node: LexborNode | None = root
    while node is not None:
        if node.is_text_node:
            text = node.text_content or ""
            pieces.append(text)
            length += len(text)
        elif node.is_element_node:
            node_id = node.mem_id
            if node_id in wanted:
                starts[node_id] = length
                imageless.append(node_id)
            elif imageless and node.tag == "img":
                for link_id in imageless:
                    images[link_id] = node
                imageless.clear()
        child = node.first_child
        if child is not None:
            node = child
            continue
        # Leave this node and every ancestor that has no next sibling.
        while node is not None:
            node_id = node.mem_id
            if node_id in starts:
                runs[node_id] = (starts.pop(node_id), length)
                if imageless and imageless[-1] == node_id:
                    imageless.pop()
            if node_id == root_id:
                node = None
                break
            sibling = node.next
            if sibling is not None:
                node = sibling
                break
            node = node.parent
    text = "".join(pieces)
    for node_id, link in wanted.items():
        start, end = runs.get(node_id, (0, 0))
        # Reading at most _RUN_MAX_CHARS of each run keeps nested runs from
        # adding up; only whitespace by the kilobyte could hide an anchor's
        # first 512 characters beyond it.
        end = min(end, start + _RUN_MAX_CHARS)
        _set_anchor(link, text[start:end], images.get(node_id))


def _place(pending: list[tuple[LexborNode, Link]], size: int) -> None:
    """Set the location and surrounding texts of each first occurrence: the
    characters read for them stay within about four times the page's size."""
    place(pending, 4 * size + 65_536)


# Elements whose text is not the body's visible text.
# (<template> and <noscript> are rare enough to be counted.)
_HIDDEN_TEXT: Final = frozenset({"script", "style"})


def _page_facts(
    tree: LexborHTMLParser,
    result: Extraction,
    title: LexborNode | None,
    hidden: list[LexborNode],
) -> None:
    """Title, language, word count and text profile of the page (see
    :class:`Extraction`): ``title`` is its first ``<title>``, ``hidden`` are
    the body's elements whose text is not visible. One read of the body's
    text serves the count and the profile."""
    if title is not None:
        result.title = _clean(title.text_lexbor() or "")[:TITLE_MAX_CHARS]
    root = tree.root
    if root is not None:
        lang = root.attrs.get("lang")
        if lang:
            result.lang = " ".join(lang.split())[:LANG_MAX_CHARS].lower()
    body = tree.body
    if body is None:
        return
    # Text nodes joined by a space: adjacent blocks hold separate words.
    text = body.text(separator=" ")
    words = count_words(text)
    for element in hidden:
        hidden_text = element.text(separator=" ")
        words -= count_words(hidden_text)
        if hidden_text and not hidden_text.isspace():
            # A script's code is no topic (it is one run of the body's text).
            text = text.replace(hidden_text, " ", 1)
    result.words = max(words, 0)
    result.profile = text_profile(text)


def extract_links(
    html: str,
    response_url: str,
    source_url: str,
    *,
    robots_nofollow: bool = False,
    robots_noindex: bool = False,
    max_links: int = LINKGRAPH_MAX_LINKS_PER_PAGE,
    with_text: bool = False,
) -> Extraction:
    """Extract the ``a`` and ``canonical`` edges of an HTML page (docs/edges.md).

    ``response_url`` is the URL that answered (after redirects), the fallback
    base URL; ``source_url`` is its normalized form, and an edge whose
    normalized target equals it is dropped (not counted). ``robots_nofollow``
    says the response headers already forbade following; meta robots
    ``nofollow``/``none`` does the same, and either way every edge gets
    ``nofollow=True``. ``robots_noindex`` likewise says the headers said
    ``noindex``. At most ``max_links`` edges are kept. With ``with_text``,
    the page's text comes too (for the trap rules' fingerprint).

    Never raises on any ``html``, however malformed or hostile.
    """
    result = Extraction(robots_nofollow=robots_nofollow, robots_noindex=robots_noindex)
    tree = _parse(html, response_url)
    if tree is None:  # pragma: no cover - see _parse
        return result

    links: list[tuple[LexborNode, dict[str, str | None], str]] = []
    base_href: str | None = None
    page_nofollow = robots_nofollow
    page_noindex = robots_noindex
    hidden: list[LexborNode] = []
    title: LexborNode | None = None
    area_with_children = False
    for node in tree.css(_SELECTOR):
        tag = node.tag
        if tag == "a":  # most nodes: tested first
            links.append((node, node.attributes, "a"))
            continue
        if tag in _HIDDEN_TEXT:
            # Those of the head hold no body text (the head's children are its content).
            parent = node.parent
            if parent is not None and parent.tag != "head":
                hidden.append(node)
            continue
        if tag == "title":
            if title is None:
                title = node
            continue
        attributes = node.attributes
        if tag == "area":
            links.append((node, attributes, "a"))
            area_with_children = area_with_children or node.first_child is not None
        elif tag == "link":
            if "canonical" in _tokens(attributes.get("rel") or ""):
                links.append((node, attributes, "canonical"))
        elif tag == "base":
            if base_href is None:
                base_href = attributes.get("href") or ""
        elif tag == "meta" and (attributes.get("name") or "").strip().lower() in _META_ROBOTS_NAMES:
            content = attributes.get("content") or ""
            page_nofollow = page_nofollow or meta_robots_nofollow(content)
            page_noindex = page_noindex or meta_robots_noindex(content)
    result.robots_nofollow = page_nofollow
    result.robots_noindex = page_noindex
    _page_facts(tree, result, title, hidden)

    # An unparsable response URL leaves no base: absolute hrefs still resolve.
    base = _base_url(base_href, resolve(response_url))
    resolve_href = resolver(base, serialized=True)
    source = normalize(source_url) or source_url
    targets: dict[str, str | None] = {}
    # The edges by target, one dict per kind (no key tuples to build), and
    # all of them in document order.
    a_edges: dict[str, Link] = {}
    canonical_edges: dict[str, Link] = {}
    ordered: list[Link] = []
    pending: list[tuple[LexborNode, Link]] = []
    dropped = truncated = 0
    for node, attributes, kind in links:
        href = attributes.get("href") or ""
        # "" marks a miss: a resolved target is None or a non-empty URL.
        target = targets.get(href, "")
        if target == "":
            target = targets[href] = resolve_href(href)
        if target is None:
            dropped += 1
            continue
        if target == source:
            continue
        edges = a_edges if kind == "a" else canonical_edges
        edge = edges.get(target)
        if edge is not None:
            if kind == "a":
                edge.link_count += 1
            continue
        if len(ordered) >= max_links:
            truncated += 1
            continue
        rel = attributes.get("rel")
        if rel:
            nofollow, ugc, sponsored = parse_rel(rel)
            edge = Link(target, kind, "", False, nofollow or page_nofollow, ugc, sponsored)
        else:  # most links: no rel to parse
            edge = Link(target, kind, "", False, page_nofollow)
        edges[target] = edge
        ordered.append(edge)
        if kind == "a":
            pending.append((node, edge))

    if pending:
        root = tree.root
        nested = tree.css_first(_NESTED_LINK) is not None or (
            area_with_children and tree.css_first(_NESTED_AREA) is not None
        )
        if nested and root is not None:
            _anchors_by_walk(root, pending)
        else:
            _anchors_by_text(pending)
        _place(pending, len(html))
    result.links = ordered
    result.dropped = dropped
    result.truncated = truncated
    if with_text:
        # Last: stripping changes the tree the links were read from.
        tree.strip_tags(_NOT_TEXT)
        body = tree.body
        result.text = body.text(separator=" ") if body is not None else ""
    return result
