"""Where a link sits on its page, and the text around it (docs/edges.md#where-a-link-sits).

:class:`Locator` gives a link element its ``location``: the nearest enclosing
landmark element or ARIA role, else the nearest element whose ``id`` or
``class`` follows one of the conventions of :data:`CONVENTIONS`, else
``other``. :class:`ContextReader` gives it ``text_before`` and ``text_after``:
the visible text next to it inside the same block. :func:`count_words` counts
the words of a page's visible text.

Part of the extraction hot path: the locator remembers the answer of every
ancestor it visits (links share their ancestors, so a page costs one visit
per distinct ancestor however many links it has), and the context walk stops
at the first block boundary, after :data:`CONTEXT_MAX_STEPS` nodes, or when a
per-page budget of characters read is spent, so hostile markup (deep
nesting, huge texts) stays linear in the page's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import numpy as np
from selectolax.lexbor import LexborNode

from linkcore.records import Link

__all__ = [
    "CONTEXT_MAX_CHARS",
    "CONVENTIONS",
    "LOCATIONS",
    "ContextReader",
    "Locator",
    "count_words",
    "place",
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
        # One dict of the attributes: cheaper than three lookups through
        # lexbor (and empty for a node that is not an element).
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
        value = attributes.get("class")
        if value:
            best = conventions.get(value)
            if best is None:
                best = conventions[value] = _convention(value)
        else:
            best = _OTHER
        value = attributes.get("id")
        if value:
            known = conventions.get(value)
            if known is None:
                known = conventions[value] = _convention(value)
            # Within one element the earlier row of CONVENTIONS wins.
            if known and (not best or _RANK[known] < _RANK[best]):
                best = known
        return best


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


def place(pending: Iterable[tuple[LexborNode, Link]], budget: int) -> None:
    """Set the ``location`` and the texts around each link element of
    ``pending`` on its :class:`~linkcore.records.Link` (``budget``: as for
    :class:`ContextReader`).

    :meth:`Locator.answer` and :meth:`ContextReader.around` in one loop,
    without their calls for the usual link (this is the extraction's hot
    path): its parent is placed through a grandparent seen before, and it has
    a block or nothing on either side.
    """
    locator = Locator()
    answers = locator._answers
    conventions = locator._conventions
    own_of = locator._own
    walk = locator._walk
    tag_answers = _TAG_ANSWERS
    reader = ContextReader(budget)
    side = reader._side
    locations = LOCATIONS
    inline = _INLINE
    flowing = _FLOWING
    for node, link in pending:
        parent = node.parent
        if parent is None:  # pragma: no cover - a link element always has a parent
            continue
        tag = parent.tag or "-"
        key = parent.mem_id
        where = answers.get(key)
        if where is None:
            # Locator.answer and, for an element with a class alone, _own: inline.
            attributes = parent.attributes
            if tag in tag_answers or "role" in attributes or "id" in attributes:
                own = own_of(parent, tag)
            else:
                value = attributes.get("class")
                known = conventions.get(value) if value else _OTHER
                own = own_of(parent, tag) if known is None else known
            if own >= _LANDMARK:
                where = answers[key] = own
            else:
                grand = parent.parent
                above = None if grand is None else answers.get(grand.mem_id)
                if above is None:
                    where = walk(key, own, grand)
                else:
                    if own and above < _LANDMARK:
                        above = own
                    where = answers[key] = above
        where &= 7
        if where:
            link.location = locations[where]
        if reader.budget <= 0:
            continue
        # ContextReader.around, inline.
        neighbour = node.prev
        if neighbour is None:
            if tag in inline:
                link.text_before = side(node, None, True)
        elif neighbour.tag in flowing:
            link.text_before = side(node, neighbour, True)
        neighbour = node.next
        if neighbour is None:
            if tag in inline:
                link.text_after = side(node, None, False)
        elif neighbour.tag in flowing:
            link.text_after = side(node, neighbour, False)


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
    codes: np.ndarray
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), np.uint8)
    else:
        codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    # 9-13 and 28-32 are 0-4 and 19-23 after subtracting 9 (below 9 wraps
    # around to large values): two comparisons instead of three, and in place
    # where numpy can (fewer page-sized temporaries).
    shifted = codes - codes.dtype.type(9)
    space = shifted <= 4
    shifted -= codes.dtype.type(19)
    space |= shifted <= 4
    if codes.dtype == np.uint32:
        high = np.flatnonzero(codes >= 0x80)
        if high.size:
            space[high] = np.isin(codes[high], _WIDE_SPACES)
    # A word starts at every non-space that follows a space, or the text
    # (True > False: a space, then a non-space).
    return int(np.count_nonzero(space[:-1] > space[1:])) + int(not space[0])
