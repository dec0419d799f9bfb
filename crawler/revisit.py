"""Revisit requests: validators out, outcomes counted (docs/crawling.md#revisits).

A revisit request carries its :class:`~linkcore.revisits.Revisit` in
``request.meta["lg_revisit"]`` and the conditional headers of its stored
validators. Its answer is a page like any other (a 304 is a page record with
status 304 and no links, which the writer turns into a refresh of the stored
edges); only the follow-up differs: a revisit of referring pages follows
nothing.

A 304 reaches the spider: ``HTTPERROR_ALLOW_ALL`` lets every status through
(crawler/settings.py), and Scrapy's HTTP cache, which would answer a
revalidation itself, is never enabled.
"""

from __future__ import annotations

from typing import Any, Final

from scrapy import Request
from scrapy.http import Response

from linkcore.revisits import Revisit, outcome, validator

#: The request meta key of a revisit.
META: Final = "lg_revisit"


def conditional_headers(revisit: Revisit) -> dict[str, str]:
    """``If-None-Match`` / ``If-Modified-Since`` for the validators ``revisit`` knows."""
    headers = {}
    if revisit.etag:
        headers["If-None-Match"] = revisit.etag
    if revisit.last_modified:
        headers["If-Modified-Since"] = revisit.last_modified
    return headers


def make_revisit(request: Request, revisit: Revisit) -> Request:
    """Mark ``request`` as the revisit ``revisit`` and add its conditional headers."""
    request.meta[META] = revisit
    for name, value in conditional_headers(revisit).items():
        request.headers[name] = value
    return request


def revisit_of(meta: dict[str, Any]) -> Revisit | None:
    """The revisit a request (its ``meta``) is, or None for an ordinary request."""
    revisit = meta.get(META)
    return revisit if isinstance(revisit, Revisit) else None


def validators_of(response: Response) -> tuple[str, str]:
    """The ``ETag`` and ``Last-Modified`` of a 2xx or 304 answer (``""`` when absent
    or unusable); none for any other status, whose validators would say nothing
    about a page's links."""
    status = response.status
    if not (200 <= status < 300 or status == 304):
        return "", ""
    found = []
    for name in ("ETag", "Last-Modified"):
        value = response.headers.get(name)
        found.append(validator(value.decode("latin-1")) if value else "")
    return found[0], found[1]


def count_outcome(stats: Any, status: int) -> str | None:
    """Count a revisit's answer in the crawl stats (``linkgraph/revisits``, and
    ``linkgraph/revisits/OUTCOME``); returns the outcome, if any."""
    stats.inc_value("linkgraph/revisits")
    result = outcome(status)
    if result is not None:
        stats.inc_value(f"linkgraph/revisits/{result}")
    return result
