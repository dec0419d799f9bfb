"""Text profiles: what a page is about, in a few hundred bytes (docs/relevance.md).

A page's profile is the :data:`PROFILE_TERMS` most frequent terms of a sample
of its visible text, each with its count there (1 to :data:`MAX_COUNT`): a
sparse term vector, never the text itself. A link's ``relevance`` is the
cosine of two such vectors weighted TF-IDF (:func:`tf_weights`,
:func:`idf`, :func:`weighted`, :func:`similarity`); a domain's vector sums
its pages' (:func:`merge`), and its heaviest terms are the domain's topical
profile.

How a profile is built (:func:`text_profile`), and why (measured against a
static embedding model in docs/relevance.md):

- the text is sampled in :data:`WINDOWS` windows spread over it, at most
  :data:`SAMPLE_CHARS` characters in all, so a profile costs the same on a
  page of any size (the extraction's CPU budget sets the size), and the
  boilerplate at a page's top does not decide it alone;
- terms are runs of letters (any script; digits, punctuation and the common
  Unicode separators split them), lowercased, at most :data:`TERM_MAX_BYTES`
  bytes of UTF-8; ASCII words of one or two letters, English function words
  and web boilerplate words are left out (:data:`STOPWORDS`);
- only counts are kept: the weights (sublinear term frequency times inverse
  document frequency) are applied when profiles are compared, since document
  frequencies are the index's (linkindex/relevance.py). So a profile is final
  when the page is extracted, whichever process extracts it.

The serialized form (:func:`encode`, :func:`decode`) is ``"term:count
term:count …"``, most frequent first: one string in a page record.
"""

from __future__ import annotations

import math
from collections import _count_elements  # type: ignore[attr-defined]
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any, Final

__all__ = [
    "MAX_COUNT",
    "PROFILE_TERMS",
    "SAMPLE_CHARS",
    "STOPWORDS",
    "TERM_MAX_BYTES",
    "WINDOWS",
    "Profile",
    "decode",
    "encode",
    "idf",
    "merge",
    "similarity",
    "text_profile",
    "tf_weights",
    "weighted",
]

#: Terms a profile keeps, heaviest first.
PROFILE_TERMS: Final = 64
#: Characters of a page's text a profile reads, in :data:`WINDOWS` windows.
SAMPLE_CHARS: Final = 600
#: Windows the sample is read in, spread evenly over the text.
WINDOWS: Final = 2
#: Longer letter runs are not words (CJK text without spaces, base64, junk).
TERM_MAX_BYTES: Final = 32
#: The highest count a profile keeps (stored in one byte).
MAX_COUNT: Final = 255

#: A profile: ``(term, count)`` pairs, most frequent first, counts 1 to 255.
Profile = list[tuple[str, int]]

#: Words that say nothing about a topic: English function words and the
#: words every site's navigation, header and footer carry.
STOPWORDS: Final = frozenset(
    str.split(
        """
    about above after again against all also although always among and another any are
    aren around because been before being below between both but can cannot could did
    didn does doesn doing don done down during each either else even ever every few for
    from further had hadn has hasn have haven having her here hers herself him himself his
    how however into isn its itself just least less let like made make many may might more
    most much must mustn need never nor not now off often once one only onto other others
    our ours ourselves out over own per perhaps quite rather really same shall shan she
    should shouldn since some such than that the their theirs them themselves then there
    these they thing things this those though through thus too under until upon very was
    wasn way ways well were weren what whatever when where whether which while who whom
    whose why will with within without won would wouldn yes yet you your yours yourself
    yourselves able already anyway get gets got just also etc via new use used using
    home page pages menu search login log sign contact privacy policy terms cookie
    cookies copyright rights reserved skip content main navigation nav footer header
    sidebar share follow subscribe newsletter read more next previous prev back top
    click here view all blog post posts comment comments reply email site website
    www http https html com org net
    """
    )
)

# UTF-8 bytes: ASCII letters lowercased (already, by str.lower) stay, every
# other ASCII byte splits terms; bytes of multi-byte characters (0x80 and up)
# are letters, so any script's words stay whole.
_BYTE_TABLE: Final = bytes(c if (97 <= c <= 122 or c >= 0x80) else 32 for c in range(256))
# The Unicode separators common in web text (no-break and other spaces,
# quotes, dashes, ellipsis, bullets), which would otherwise glue to words.
_SEPARATORS: Final = (
    "\xa0", "\u2009", "\u200b", "\u2018", "\u2019", "\u201c", "\u201d", "\u2013", "\u2014",
    "\u2026", "\xab", "\xbb", "\u2022", "\xb7", "\u3000", "\u3001", "\u3002", "\xbf", "\xa1",
)  # fmt: skip
_LETTERS: Final = [bytes([c]) for c in range(97, 123)]
# Stopwords, and every ASCII word shorter than 3 letters, left out after counting.
_DROPPED: Final = frozenset(
    [word.encode() for word in STOPWORDS] + _LETTERS + [a + b for a in _LETTERS for b in _LETTERS]
)
_DROPPED_TEXT: Final = frozenset(word.decode() for word in _DROPPED)
_BY_COUNT: Final = itemgetter(1)


def _sample(text: str) -> str:
    """At most :data:`SAMPLE_CHARS` characters of ``text``, in :data:`WINDOWS`
    evenly spread windows, each without the words its ends cut."""
    size = len(text)
    if size <= SAMPLE_CHARS:
        return text
    width = SAMPLE_CHARS // WINDOWS
    step = size // WINDOWS
    windows = []
    for start in range(0, WINDOWS * step, step):
        window = text[start : start + width]
        if start and not text[start - 1].isspace():
            window = window.partition(" ")[2]
        end = start + width
        if end < size and not text[end].isspace():
            window = window.rpartition(" ")[0]
        windows.append(window)
    return " ".join(windows)


def _is_word(term: str) -> bool:
    """True for a non-ASCII token that is a word: printable (no spaces of any
    kind) and with a letter."""
    return term.isprintable() and any(c.isalpha() for c in term)


def text_profile(text: str) -> Profile:
    """The profile of a page whose visible text is ``text`` (see module doc).

    Deterministic: the same text gives the same profile (terms of equal
    count in the order first seen). An empty text, or one without terms,
    gives ``[]``. Part of the extraction hot path: the text is split,
    counted and sorted in C (bytes.translate, bytes.split, Counter's
    counting loop), and
    Python touches only the terms kept.
    """
    if not text:
        return []
    low = _sample(text).lower()
    if low.isascii():
        # Split as text (bytes and characters are one): no term to decode.
        counts: dict[Any, int] = {}
        _count_elements(counts, low.encode("ascii").translate(_BYTE_TABLE).decode("ascii").split())
        for word in _DROPPED_TEXT.intersection(counts):
            del counts[word]
        return [
            (term, count if count < MAX_COUNT else MAX_COUNT)
            for term, count in _ranked(counts)
            if len(term) <= TERM_MAX_BYTES
        ]
    for separator in _SEPARATORS:
        if separator in low:
            low = low.replace(separator, " ")
    counts = {}
    _count_elements(counts, low.encode("utf-8", "ignore").translate(_BYTE_TABLE).split())
    for raw_word in _DROPPED.intersection(counts):
        del counts[raw_word]
    # Tokens are whole UTF-8 sequences (only ASCII bytes split them). The
    # byte table takes every non-ASCII character for a letter: the tokens of
    # other spaces and symbols (NEL, ©) are dropped.
    profile = []
    for raw, count in _ranked(counts):
        if len(raw) <= TERM_MAX_BYTES:
            term = raw.decode()
            if term.isascii() or _is_word(term):
                profile.append((term, count if count < MAX_COUNT else MAX_COUNT))
    return profile


def _ranked(counts: dict[Any, int]) -> list[tuple[Any, int]]:
    """The :data:`PROFILE_TERMS` most frequent of ``counts``, most frequent first."""
    # Counter.most_common(n) ranks in Python (heapq); sorted() in C, stably,
    # so terms of equal count stay in the order first seen.
    ranked = sorted(counts.items(), key=_BY_COUNT, reverse=True)
    del ranked[PROFILE_TERMS:]
    return ranked


def encode(profile: Profile) -> str:
    """The record form of ``profile``: ``"term:count term:count …"``."""
    return " ".join(f"{term}:{weight}" for term, weight in profile)


def decode(text: str) -> Profile:
    """The profile of :func:`encode`'s form; raises ValueError for anything
    else (a bad pair, a count outside 1–255, too many terms)."""
    profile: Profile = []
    for item in text.split():
        term, colon, weight = item.rpartition(":")
        if not colon or not term or not weight.isdigit():
            raise ValueError(f"bad profile term {item[:40]!r}")
        value = int(weight)
        if not 1 <= value <= MAX_COUNT or len(term.encode()) > TERM_MAX_BYTES:
            raise ValueError(f"bad profile term {item[:40]!r}")
        profile.append((term, value))
    if len(profile) > PROFILE_TERMS:
        raise ValueError(f"a profile holds at most {PROFILE_TERMS} terms")
    return profile


def tf_weights(profile: Profile) -> list[tuple[str, float]]:
    """A profile's term weights before IDF: ``1 + ln(count)`` (sublinear: a
    word repeated ten times is not ten times the topic)."""
    return [(term, 1.0 + math.log(count)) for term, count in profile]


def idf(pages: int, frequency: int) -> float:
    """Inverse document frequency of a term found in ``frequency`` of
    ``pages`` profiles: ``ln((1 + pages) / (1 + frequency)) + 1`` (smoothed:
    never zero, highest for a term no other page has)."""
    return math.log((1 + pages) / (1 + frequency)) + 1.0


def weighted(
    vector: Iterable[tuple[str, float]], idfs: Mapping[str, float], unknown: float
) -> list[tuple[str, float]]:
    """``vector``'s weights times each term's IDF (``unknown`` for a term
    ``idfs`` lacks)."""
    return [(term, weight * idfs.get(term, unknown)) for term, weight in vector]


def similarity(a: Iterable[tuple[str, float]], b: Iterable[tuple[str, float]]) -> float | None:
    """Cosine of two term vectors, 0 to 1, rounded to 4 places (None when
    either is empty): a link's ``relevance``."""
    left = dict(a)
    right = dict(b)
    if not left or not right:
        return None
    dot = sum(weight * right.get(term, 0.0) for term, weight in left.items())
    norms = math.sqrt(sum(w * w for w in left.values()) * sum(w * w for w in right.values()))
    return round(dot / norms, 4) if norms else None


def merge(profiles: Iterable[Profile], terms: int = PROFILE_TERMS) -> list[tuple[str, float]]:
    """A domain's term vector: the sum of its pages' :func:`tf_weights`, each
    scaled to unit length first (a long page weighs as much as a short one),
    its ``terms`` heaviest terms, heaviest first (ties by term). The index
    computes the same in SQL (linkindex/relevance.py)."""
    total: dict[str, float] = {}
    for profile in profiles:
        vector = tf_weights(profile)
        norm = math.sqrt(sum(weight * weight for _, weight in vector))
        if not norm:
            continue
        for term, weight in vector:
            total[term] = total.get(term, 0.0) + weight / norm
    ranked = sorted(total.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:terms]
