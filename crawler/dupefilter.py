"""Request deduplication by normalized URL.

Scrapy's default fingerprint canonicalizes URLs its own way; linkgraph's rule
is the normalization of docs/urls.md, which the spider puts in ``request.meta["lg_url"]``.
"""

from __future__ import annotations

from scrapy import Request
from scrapy.dupefilters import BaseDupeFilter

from linkcore.urls import normalize


def request_url(request: Request) -> str:
    """The normalized URL a request fetches (falls back to normalizing request.url)."""
    url = request.meta.get("lg_url")
    if isinstance(url, str):
        return url
    return normalize(request.url) or request.url


class URLDupeFilter(BaseDupeFilter):
    """In-memory set of normalized URLs seen in this crawl."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def request_seen(self, request: Request) -> bool:
        url = request_url(request)
        if url in self.seen:
            return True
        self.seen.add(url)
        return False
