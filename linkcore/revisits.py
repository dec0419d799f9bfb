"""Revisits: URLs fetched again, with the validators of their stored fetch.

A revisit (docs/crawling.md#revisits) is a request for a URL the index holds,
sent with ``If-None-Match`` (its stored ``ETag``) and ``If-Modified-Since``
(its stored ``Last-Modified``) where known. The index lists them
(:mod:`linkindex.revisits`), the crawl sends them (:mod:`crawler.revisit`), and
every answer to one counts as one :data:`OUTCOMES` entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: What a revisit's answer says about the page: 304 ``unchanged``, 2xx
#: ``changed`` (the page was sent again), 404/410 ``gone``; any other answer
#: (a redirect, a 5xx, a failed fetch) counts in none of them.
OUTCOMES: Final = ("unchanged", "changed", "gone")

#: Longest validator kept: a real ETag or HTTP date is far shorter; a longer
#: header is a broken or hostile server's, and is not sent back.
MAX_VALIDATOR_LENGTH: Final = 512


@dataclass(frozen=True, slots=True)
class Revisit:
    """One URL to fetch again: normalized ``url``, the ``depth`` it was crawled
    at, its stored validators (``""``: unknown), and whether the links of its
    answer are followed (``follow``; a revisit of referring pages follows
    nothing)."""

    url: str
    depth: int = 0
    etag: str = ""
    last_modified: str = ""
    follow: bool = True


def outcome(status: int) -> str | None:
    """The :data:`OUTCOMES` entry of a revisit answered with ``status``, or None."""
    if status == 304:
        return "unchanged"
    if 200 <= status < 300:
        return "changed"
    if status in (404, 410):
        return "gone"
    return None


def validator(value: str) -> str:
    """``value`` as stored and sent back: trimmed, ``""`` if it cannot be a validator."""
    value = value.strip()
    if len(value) > MAX_VALIDATOR_LENGTH or any(c in value for c in "\r\n\0"):
        return ""
    return value
