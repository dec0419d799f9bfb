"""Where a link sits on its page, and the text around it (docs/edges.md#where-a-link-sits).

:class:`Locator` gives a link element its ``location``: the nearest enclosing
landmark element or ARIA role, else the nearest element whose ``id`` or
``class`` follows one of the conventions of :data:`CONVENTIONS`, else
``other``. :class:`ContextReader` gives it ``text_before`` and ``text_after``:
the visible text next to it inside the same block. :func:`count_words` counts
the words of a page's visible text.

Part of the extraction hot path: the locator finds the few elements of a
page that can classify with one search of the tree and hands their answers
to the links inside them (:meth:`Locator.page`), so placing a link costs a
dictionary lookup; on a page with very many such elements it walks up from
each link instead, remembering the answer of every ancestor it visits. The
context walk stops
at the first block boundary, after :data:`CONTEXT_MAX_STEPS` nodes, or when a
per-page budget of characters read is spent, so hostile markup (deep
nesting, huge texts) stays linear in the page's size.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from selectolax.lexbor import LexborNode

__all__ = [
    "CONTEXT_MAX_CHARS",
    "CONVENTIONS",
    "LOCATIONS",
    "ContextReader",
    "Locator",
    "count_words",
]

#: Every value of ``location``; ``other`` for a link outside any landmark.
LOCATIONS: Final = ("other", "content", "nav", "header", "footer", "aside")
#: ``text_before`` keeps the last, ``text_after`` the first this many characters.
CONTEXT_MAX_CHARS: Final = 100

# Landmark elements and ARIA roles (docs/edges.md#where-a-link-sits).
_LANDMARK_TAGS: Final = {
    "nav": "nav",
    "header": "header",
    "footer": "footer",
    "aside": "aside",
    "main": "content",
    "article": "content",
}
_LANDMARK_ROLES: Final = {
    "navigation": "nav",
    "banner": "header",
    "contentinfo": "footer",
    "complementary": "aside",
    "main": "content",
    "article": "content",
}
#: The id/class conventions, for links outside any landmark: an ``id`` or
#: ``class`` token, lowercased and split on ``-`` and ``_``, with one of these
#: words classifies its element. Earlier locations win within one element
#: (``post-footer`` is a footer, ``main-nav`` a navigation).
CONVENTIONS: Final[tuple[tuple[str, frozenset[str]], ...]] = (
    ("nav", frozenset({"nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs"})),
    ("header", frozenset({"header", "masthead"})),
    ("footer", frozenset({"footer", "colophon"})),
    ("aside", frozenset({"sidebar", "aside", "blogroll"})),
    ("content", frozenset({"content", "main", "article", "post", "entry"})),
)
_CONVENTION_WORDS: Final = frozenset().union(*(words for _, words in CONVENTIONS))

# Elements whose text flows inside a block (HTML's phrasing content that
# shows text); the context of a link does not cross any other element.
_INLINE: Final = frozenset(
    {
        "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "br", "button", "cite", "code",
        "data", "del", "dfn", "em", "font", "i", "ins", "kbd", "label", "mark", "nobr", "q",
        "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u",
        "var", "wbr", "-text",
    }
)  # fmt: skip
# Elements inside a block that show no text of their own: passed over.
_SILENT: Final = frozenset(
    {
        "-comment", "script", "style", "template", "noscript", "img", "picture", "svg",
        "canvas", "iframe", "object", "embed", "video", "audio", "input", "select",
        "textarea", "math",
    }
)  # fmt: skip
_FLOWING: Final = _INLINE | _SILENT
#: Nodes one side of a link's context may visit (siblings and inline ancestors).
CONTEXT_MAX_STEPS: Final = 32
# Raw characters one side keeps reading until its collapsed text is long enough.
_RAW_MAX_CHARS: Final = 16 * CONTEXT_MAX_CHARS


# Location answers as small ints: the index in LOCATIONS, plus _LANDMARK when a
# landmark gave it (ints compare and hash cheaper than tuples, per ancestor).
_LANDMARK: Final = 8
_OTHER: Final = 0


class Locator:
    """The ``location`` of link elements of one page (see module doc)."""

    __slots__ = ("_answers", "_conventions")

    def __init__(self) -> None:
        # mem_id -> the answer seen from inside that element.
        self._answers: dict[int, int] = {}
        # id and class values repeat on a page ("row", "item"): read each once.
        self._conventions: dict[str, int] = {}

    def page(self, root: LexborNode, links: int) -> dict[int, int] | None:
        """The location answer of every link element of the page under ``root``
        (which has about ``links`` of them) that sits in a classified element,
        by ``mem_id`` (a link missing from it is ``other``); None when the
        page has too many classified elements, or they nest so that their
        links add up to many times the page's, for this way (then ask
        :meth:`answer` per link).

        The way most pages are placed: one search of the tree (lexbor's
        selector engine) finds the few elements that can classify; each one
        verified by :meth:`_own` gives its answer to the links inside it,
        outer elements before inner ones, every convention before any
        landmark. So a link gets its nearest landmark, else its nearest
        convention, as :meth:`answer` gives, without a step through its
        ancestors. A link's own attributes do not count.
        """
        found = root.css(_CANDIDATES)
        if len(found) > _CANDIDATES_MAX:
            return None
        conventions: list[tuple[LexborNode, int]] = []
        landmarks: list[tuple[LexborNode, int]] = []
        for element in found:
            own = self._own(element, element.tag or "-")
            if own >= _LANDMARK:
                landmarks.append((element, own))
            elif own:
                conventions.append((element, own))
        located: dict[int, int] = {}
        budget = 4 * links + 1024
        # Document order: an element comes before the elements inside it.
        for element, own in conventions + landmarks:
            itself = element.mem_id
            inside = element.css(_LINKS)
            budget -= len(inside)
            if budget < 0:
                return None
            for link in inside:
                key = link.mem_id
                if key != itself:
                    located[key] = own
        return located

    def answer(self, parent: LexborNode, tag: str) -> int:
        """The answer seen from inside ``parent`` (whose tag is ``tag``), remembered."""
        answers = self._answers
        key = parent.mem_id
        known = answers.get(key)
        if known is not None:
            return known
        own = self._own(parent, tag)
        if own >= _LANDMARK:
            answers[key] = own
            return own
        # The usual case, a link's block under an element seen before: no chain.
        grand = parent.parent
        if grand is not None:
            above = answers.get(grand.mem_id)
            if above is not None:
                if own and above < _LANDMARK:
                    above = own
                answers[key] = above
                return above
        return self._walk(key, own, grand)

    def _walk(self, key: int, own: int, element: LexborNode | None) -> int:
        """:meth:`answer` for an element whose parent (``element``) is new too."""
        answers = self._answers
        chain = [(key, own)]
        above = _OTHER
        while element is not None:
            key = element.mem_id
            known = answers.get(key)
            if known is not None:
                above = known
                break
            tag = element.tag or "-"
            if tag[0] == "-":  # the document
                break
            own = self._own(element, tag)
            chain.append((key, own))
            if own >= _LANDMARK:
                break
            element = element.parent
        # From the top down: a landmark above wins over any convention below
        # it; otherwise the nearest convention does.
        for key, own in reversed(chain):
            if own >= _LANDMARK or (own and above < _LANDMARK):
                above = own
            answers[key] = above
        return above

    def _own(self, element: LexborNode, tag: str) -> int:
        """The answer of one element alone: its tag, its ``role``, else its
        ``id``/``class`` conventions (``_OTHER``: none)."""
        own = _TAG_ANSWERS.get(tag)
        if own is not None:
            return own
        if tag[0] == "-":
            return _OTHER
        # One dict of the attributes: cheaper than three lookups through lexbor.
        attributes = element.attributes
        if not attributes:
            return _OTHER
        role = attributes.get("role")
        if role:
            # A role attribute lists fallbacks; the first one known applies.
            for token in role.lower().split():
                found = _LANDMARK_ROLES.get(token)
                if found is not None:
                    return LOCATIONS.index(found) + _LANDMARK
        conventions = self._conventions
        best = _OTHER
        value = attributes.get("id")
        if value:
            best = conventions.get(value, -1)
            if best < 0:
                best = conventions[value] = _convention(value)
        value = attributes.get("class")
        if value:
            known = conventions.get(value, -1)
            if known < 0:
                known = conventions[value] = _convention(value)
            if known and (not best or _RANK[known] < _RANK[best]):
                best = known
        return best


# Elements that may classify a link (verified by Locator._own): landmark
# tags, roles, and ids and classes that hold a convention word (the
# substrings cover every word of CONVENTIONS; "nav" covers "navbar" ...).
_SUBSTRINGS: Final = (
    "nav", "menu", "breadcrumb", "header", "masthead", "footer", "colophon", "sidebar",
    "aside", "blogroll", "content", "main", "article", "post", "entry",
)  # fmt: skip
_CANDIDATES: Final = ", ".join(
    [
        *_LANDMARK_TAGS,
        "[role]",
        *(f'[{name}*="{word}" i]' for name in ("id", "class") for word in _SUBSTRINGS),
    ]
)
# More than this many candidates (a menu of hundreds of items, or hostile
# nesting, where searching each one's links would add up): the links are
# placed one by one through their cached ancestors instead.
_CANDIDATES_MAX: Final = 256
_LINKS: Final = "a[href], area[href]"

# The answer of a landmark element (-1: look at its attributes).
_TAG_ANSWERS: Final = {
    tag: LOCATIONS.index(location) + _LANDMARK for tag, location in _LANDMARK_TAGS.items()
}
# Convention answers by priority: the first of CONVENTIONS wins within an element.
_RANK: Final = {LOCATIONS.index(location): rank for rank, (location, _) in enumerate(CONVENTIONS)}


def _convention(value: str) -> int:
    """The answer an ``id`` or ``class`` value gives by convention (``_OTHER``: none)."""
    words = set(value.lower().replace("_", " ").replace("-", " ").split())
    if _CONVENTION_WORDS.isdisjoint(words):
        return _OTHER
    for location, names in CONVENTIONS:
        if not names.isdisjoint(words):
            return LOCATIONS.index(location)
    return _OTHER  # pragma: no cover - a word of _CONVENTION_WORDS always matches


class ContextReader:
    """``text_before`` and ``text_after`` of link elements of one page.

    ``budget`` caps the characters read for the whole page (about four times
    the page's size: a real page never comes near it); once spent, the
    remaining links get empty texts.
    """

    __slots__ = ("budget",)

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def around(self, node: LexborNode, parent_tag: str | None = None) -> tuple[str, str]:
        """The collapsed visible text before and after ``node`` within its block
        (``parent_tag``: the tag of its parent, when the caller has it)."""
        if self.budget <= 0:
            return "", ""
        # Most links have a block or nothing on one side: answer those at once.
        before = after = ""
        neighbour = node.prev
        if neighbour is None:
            if parent_tag is None:
                parent = node.parent
                parent_tag = "" if parent is None else parent.tag
            if parent_tag in _INLINE:
                before = self._side(node, None, True)
        elif neighbour.tag in _FLOWING:
            before = self._side(node, neighbour, True)
        neighbour = node.next
        if neighbour is None:
            if parent_tag is None:
                parent = node.parent
                parent_tag = "" if parent is None else parent.tag
            if parent_tag in _INLINE:
                after = self._side(node, None, False)
        elif neighbour.tag in _FLOWING:
            after = self._side(node, neighbour, False)
        return before, after

    def _side(self, node: LexborNode, neighbour: LexborNode | None, before: bool) -> str:
        pieces: list[str] = []
        raw = 0
        steps = 0
        current = node
        while steps < CONTEXT_MAX_STEPS and raw < _RAW_MAX_CHARS:
            if neighbour is None:
                parent = current.parent
                if parent is None or parent.tag not in _INLINE:
                    break
                current = parent
                neighbour = current.prev if before else current.next
                steps += 1
                continue
            current = neighbour
            steps += 1
            tag = current.tag
            if tag not in _FLOWING:
                break
            neighbour = current.prev if before else current.next
            if tag == "-text":
                text = current.text_content or ""
            elif tag in _SILENT:
                continue
            elif tag == "br":
                text = " "
            else:
                text = current.text_lexbor() or ""
            self.budget -= len(text)
            if len(text) > _RAW_MAX_CHARS:
                text = text[-_RAW_MAX_CHARS:] if before else text[:_RAW_MAX_CHARS]
            pieces.append(text)
            raw += len(text)
            if raw >= CONTEXT_MAX_CHARS and _collapsed_length(pieces) >= CONTEXT_MAX_CHARS:
                break
        if not pieces:
            return ""
        if before:
            pieces.reverse()
            return " ".join("".join(pieces).split())[-CONTEXT_MAX_CHARS:].lstrip()
        return " ".join("".join(pieces).split())[:CONTEXT_MAX_CHARS].rstrip()


def _collapsed_length(pieces: list[str]) -> int:
    return len(" ".join("".join(pieces).split()))


# -- words ---------------------------------------------------------------------
# str.split()'s whitespace: ASCII 9-13 and 28-32, and these code points above.
_WIDE_SPACES: Final = np.array(
    [c for c in range(0x80, 0x3001) if chr(c).isspace()], dtype=np.uint32
)


def count_words(text: str) -> int:
    """``len(text.split())``, in vectorized code: a page's text holds thousands of words."""
    if not text:
        return 0
    if text.isascii():
        codes: np.ndarray = np.frombuffer(text.encode("ascii"), np.uint8)
        space = (codes == 32) | ((codes - 9) <= 4) | ((codes - 28) <= 3)
    else:
        wide = np.frombuffer(text.encode("utf-32-le"), np.uint32)
        space = (wide == 32) | ((wide - 9) <= 4) | ((wide - 28) <= 3)
        high = np.flatnonzero(wide >= 0x80)
        if high.size:
            space[high] = np.isin(wide[high], _WIDE_SPACES)
    # A word starts at every non-space that follows a space, or the text.
    return int(np.count_nonzero(space[:-1] & ~space[1:])) + int(not space[0])
