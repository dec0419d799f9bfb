"""Sitemaps: where a host's are, what they list, within caps (docs/crawling.md#sitemaps).

For every in-scope host a crawl reaches (a response of that host was
parsed), its sitemaps are the ``Sitemap:`` lines of its robots.txt, as the
crawl's robots.txt middleware already read it, or, when there are none, its
``/sitemap.xml`` if robots.txt allows that. Sitemap indexes list more sitemap
files; gzipped files (``.gz`` or gzip content) are decompressed. The in-scope
URLs of a ``urlset`` enter the frontier at depth 1; a sitemap yields no edges
and no page record.

Caps (:class:`SitemapCaps`): a sitemap file larger than ``max_bytes`` after
decompression is not read; at most ``max_urls`` entries of one file are read;
at most ``max_files`` files per host (the file's host; indexes and the files
they list together).

This module holds what both spiders share: finding a host's sitemaps
(:func:`host_sitemaps`), the request of one file (:func:`sitemap_request`),
reading a response (:func:`read_sitemap`), and a one-process crawl's
bookkeeping (:class:`SitemapBook`). Parsing is Scrapy's own
(:class:`scrapy.utils.sitemap.Sitemap`, :func:`scrapy.utils.gz.gunzip`), as
in Scrapy's ``SitemapSpider``.

A distributed job queues each sitemap file as a frontier entry of its own,
its URL marked with :data:`MARK` (a fragment, which no normalized URL has), so
that it goes through the job's Bloom filter (each file once per job), is
leased like a page (a killed worker's file is read by another) and keeps the
job from finishing while it is unread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.http import Response, XmlResponse
from scrapy.robotstxt import RobotParser
from scrapy.settings import BaseSettings
from scrapy.utils.gz import gunzip, gzip_magic_number
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.sitemap import Sitemap

from linkcore import config
from linkcore.urls import resolve_and_normalize

log = logging.getLogger(__name__)

#: What marks a frontier entry of a distributed job as a sitemap file, not a page
#: (:data:`MARK_NAMED`: a file named in robots.txt).
MARK: Final = "#lg-sitemap"
MARK_NAMED: Final = "#lg-sitemap-robots"
#: The sitemap tried on a host whose robots.txt names none.
FALLBACK_PATH: Final = "/sitemap.xml"

URLSET: Final = "urlset"
INDEX: Final = "sitemapindex"
REDIRECT: Final = "redirect"


def marked(url: str, named: bool = False) -> str:
    """The frontier entry URL of sitemap file ``url`` in a distributed job."""
    return url + (MARK_NAMED if named else MARK)


def unmarked(url: str) -> tuple[str, bool] | None:
    """``(sitemap file, named in robots.txt)`` of a marked entry URL; None for a page's."""
    if url.endswith(MARK):
        return url[: -len(MARK)], False
    if url.endswith(MARK_NAMED):
        return url[: -len(MARK_NAMED)], True
    return None


@dataclass(frozen=True, slots=True)
class SitemapCaps:
    """How much of a host's sitemaps is read (see module doc)."""

    max_bytes: int = config.LINKGRAPH_SITEMAP_MAX_BYTES
    max_urls: int = config.LINKGRAPH_SITEMAP_MAX_URLS
    max_files: int = config.LINKGRAPH_SITEMAPS_PER_HOST

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> SitemapCaps:
        return cls(
            max_bytes=settings.getint(
                "LINKGRAPH_SITEMAP_MAX_BYTES", config.LINKGRAPH_SITEMAP_MAX_BYTES
            ),
            max_urls=settings.getint(
                "LINKGRAPH_SITEMAP_MAX_URLS", config.LINKGRAPH_SITEMAP_MAX_URLS
            ),
            max_files=settings.getint(
                "LINKGRAPH_SITEMAPS_PER_HOST", config.LINKGRAPH_SITEMAPS_PER_HOST
            ),
        )


@dataclass(slots=True)
class SitemapReading:
    """What one sitemap response held.

    ``kind``: ``urlset``, ``sitemapindex``, ``redirect`` (a 3xx whose target is
    another file to read), or ``""`` when nothing could be read, ``why`` then
    saying why. ``sitemaps``: further sitemap files (normalized); ``urls``:
    the pages listed (normalized, unparsable entries dropped); ``over_cap``:
    entries past ``max_urls``, not read.
    """

    kind: str = ""
    sitemaps: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    over_cap: int = 0
    why: str = ""


def _robots(crawler: Crawler) -> Any:
    """The crawl's robots.txt middleware (one with ``parsed``), or None."""
    engine = crawler.engine
    if engine is None:
        return None
    for middleware in engine.downloader.middleware.middlewares:
        if callable(getattr(middleware, "parsed", None)):
            return middleware
    return None


def _robots_sitemaps(parser: RobotParser) -> list[str]:
    # Protego (Scrapy's default parser) keeps the Sitemap: lines; others may not.
    protego = getattr(parser, "rp", None)
    return [str(url) for url in getattr(protego, "sitemaps", ())]


def host_sitemaps(crawler: Crawler, url: str) -> list[tuple[str, bool]]:
    """The sitemap files of ``url``'s host: ``(normalized URL, named in robots.txt)``.

    The ``Sitemap:`` lines of the host's robots.txt as the crawl read it (each
    once, in order); when there are none, ``/sitemap.xml`` unless robots.txt
    disallows it. Scope and caps are the caller's to apply.
    """
    parts = urlparse_cached(Request(url))
    root = f"{parts.scheme}://{parts.netloc}"
    middleware = _robots(crawler)
    parser: RobotParser | None = middleware.parsed(parts.netloc) if middleware is not None else None
    found: list[tuple[str, bool]] = []
    if parser is not None:
        seen: set[str] = set()
        for line in _robots_sitemaps(parser):
            target = resolve_and_normalize(line, f"{root}/robots.txt")
            if target is not None and target not in seen:
                seen.add(target)
                found.append((target, True))
    if found:
        return found
    fallback = resolve_and_normalize(FALLBACK_PATH, root)
    if fallback is None:
        return []
    token = crawler.settings.get("ROBOTSTXT_USER_AGENT") or config.LINKGRAPH_ROBOTS_TOKEN
    if parser is not None and not parser.allowed(fallback, token):
        return []
    return [(fallback, False)]


def sitemap_request(
    url: str,
    *,
    named: bool,
    caps: SitemapCaps,
    callback: Callable[..., Any],
    errback: Callable[..., Any],
    meta: dict[str, Any] | None = None,
) -> Request:
    """The request of sitemap file ``url``.

    A file named in robots.txt is fetched whatever robots.txt's rules say (it
    was named there for crawlers to read); any other (``/sitemap.xml``, files
    listed by an index) obeys them. Sitemaps are not pages: the per-host page
    cap does not count them (``host_cap`` 0), but a job's rate does.
    """
    return Request(
        url,
        callback=callback,
        errback=errback,
        # Each file is read once by the caller's own bookkeeping; the
        # dupefilter is for pages (a page may link to a sitemap).
        dont_filter=True,
        meta={
            **(meta or {}),
            "lg_sitemap": url,
            "dont_redirect": True,
            "dont_obey_robotstxt": named,
            "host_cap": 0,
            "download_maxsize": caps.max_bytes,
        },
    )


def _body(response: Response, max_bytes: int) -> tuple[bytes | None, str]:
    """The XML of a sitemap response, as Scrapy's SitemapSpider finds it, or (None, why)."""
    if isinstance(response, XmlResponse):
        return response.body, ""
    if gzip_magic_number(response):
        try:
            return gunzip(response.body, max_size=max_bytes), ""
        except ValueError:
            # Scrapy's size error is a ValueError.
            return None, f"larger than {max_bytes} bytes decompressed"
        except (OSError, EOFError):
            return None, "broken gzip"
    # A .xml.gz that is not gzip was decompressed on the way (Content-Encoding).
    if response.url.endswith((".xml", ".xml.gz")):
        return response.body, ""
    return None, "not XML"


def read_sitemap(response: Response, caps: SitemapCaps) -> SitemapReading:
    """What a sitemap response holds (see :class:`SitemapReading`)."""
    status = response.status
    if 300 <= status < 400:
        location = response.headers.get("Location")
        target = (
            resolve_and_normalize(location.decode("latin-1"), response.url) if location else None
        )
        if target is None:
            return SitemapReading(why=f"HTTP {status} without a usable Location")
        return SitemapReading(kind=REDIRECT, sitemaps=[target])
    if not 200 <= status < 300:
        return SitemapReading(why=f"HTTP {status}")
    body, why = _body(response, caps.max_bytes)
    if body is None:
        return SitemapReading(why=why)
    if len(body) > caps.max_bytes:
        return SitemapReading(why=f"larger than {caps.max_bytes} bytes")
    try:
        sitemap = Sitemap(body)
    except Exception as error:  # lxml's errors, and StopIteration on an empty body
        return SitemapReading(why=f"not a sitemap ({type(error).__name__})")
    if sitemap.type not in (URLSET, INDEX):
        return SitemapReading(why=f"not a sitemap (<{sitemap.type}>)")
    reading = SitemapReading(kind=sitemap.type)
    listed = reading.urls if sitemap.type == URLSET else reading.sitemaps
    read = 0
    try:
        for entry in sitemap:
            if read >= caps.max_urls:
                reading.over_cap += 1
                continue
            read += 1
            target = resolve_and_normalize(str(entry.get("loc", "")), response.url)
            if target is not None:
                listed.append(target)
    except Exception as error:  # a document broken past lxml's recovery
        log.info("sitemap %s is broken after %d entries: %s", response.url, read, error)
    return reading


def count(crawler: Crawler, name: str, amount: int = 1) -> None:
    """Add ``amount`` to the crawl stat ``linkgraph/NAME``."""
    if amount and crawler.stats is not None:
        crawler.stats.inc_value(f"linkgraph/{name}", amount)


@dataclass(slots=True)
class SitemapBook:
    """A one-process crawl's sitemaps: hosts looked at, files requested per host.

    ``in_scope`` is the crawl's scope rule, ``max_url_length`` its URL limit:
    sitemap files are fetched only within both.
    """

    caps: SitemapCaps
    in_scope: Callable[[str], bool]
    max_url_length: int = config.LINKGRAPH_MAX_URL_LENGTH
    hosts: set[str] = field(default_factory=set)
    files: dict[str, int] = field(default_factory=dict)
    requested: set[str] = field(default_factory=set)

    def discover(self, crawler: Crawler, url: str) -> list[tuple[str, bool]]:
        """The sitemap files to fetch for ``url``'s host, the first time it is seen."""
        netloc = urlparse_cached(Request(url)).netloc
        if netloc in self.hosts:
            return []
        self.hosts.add(netloc)
        return self.take(host_sitemaps(crawler, url))

    def take(self, files: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
        """Of ``files``, those to fetch: in scope, not requested before, within the
        file cap of their host."""
        chosen = []
        for url, named in files:
            if url in self.requested or len(url) > self.max_url_length:
                continue
            if not self.in_scope(url):
                continue
            netloc = urlsplit(url).netloc
            used = self.files.get(netloc, 0)
            if used >= self.caps.max_files:
                if used == self.caps.max_files:
                    log.info("%s: %d sitemap files read, not reading more", netloc, used)
                    self.files[netloc] = used + 1
                continue
            self.requested.add(url)
            self.files[netloc] = used + 1
            chosen.append((url, named))
        return chosen
