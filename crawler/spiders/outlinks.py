"""The ``outlinks`` spider: crawl seed domains, emit every page's links.

Per fetched URL it yields one :class:`~linkcore.records.PageRecord` carrying
its status, fetch time, robots flags and every edge (docs/edges.md); it follows
in-scope targets of ``a`` edges (unless the page says nofollow) and of
redirects (docs/crawling.md#what-is-followed).
Redirects are handled here, not by Scrapy, so that every
3xx becomes a ``redirect`` edge even when its target was crawled already.

Arguments (``-a`` on the scrapy command line, keywords from the CLI):
``seeds`` (a seeds file path) or ``seed_urls`` (a list), ``max_pages``,
``max_depth``, ``job``, ``revisits`` (a list of :class:`~linkcore.revisits.Revisit`,
docs/crawling.md#revisits). Settings: ``LINKGRAPH_MAX_PAGES``,
``LINKGRAPH_MAX_DEPTH``, ``LINKGRAPH_MAX_URL_LENGTH``,
``LINKGRAPH_MAX_LINKS_PER_PAGE`` and the trap rules' ``LINKGRAPH_TRAP_*``
(crawler/traps.py; docs/crawling.md#spider-traps): an in-scope link the rules
decline is not followed, and counted as ``linkgraph/trap/RULE``.
``LINKGRAPH_MAX_LINKS_PER_PAGE``, ``LINKGRAPH_SITEMAPS`` and its caps
(sitemaps: :mod:`crawler.sitemaps`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from crawler.extract import extract_links, robots_header_nofollow, robots_header_noindex
from crawler.revisit import count_outcome, make_revisit, revisit_of, validators_of
from crawler.sitemaps import SitemapBook, SitemapCaps, count, read_sitemap, sitemap_request
from crawler.traps import TrapLimits, TrapRules, url_template
from linkcore import config
from linkcore.records import Link, PageRecord
from linkcore.revisits import Revisit
from linkcore.seeds import parse_seeds, read_seeds_file
from linkcore.urls import host_of, registered_domain, resolve_and_normalize

log = logging.getLogger(__name__)

_HTML_TYPES = ("text/html", "application/xhtml+xml")
#: Authorities whose scope a spider remembers; past this many it starts over.
_SCOPE_CACHE_SIZE = 100_000


def _header(response: Response, name: str) -> list[str]:
    return [v.decode("utf-8", "replace") for v in response.headers.getlist(name)]


def fetched_from(response: Response) -> str:
    """The address the response came from, when the crawler resolved the host
    itself; "" behind a proxy (the address would be the proxy's) or when unknown."""
    try:
        if response.meta.get("proxy"):
            return ""
    except AttributeError:  # a response built without a request
        return ""
    address = getattr(response, "ip_address", None)
    if address is None:
        return ""
    return str(address)


def page_from_response(
    response: Response,
    job: str,
    max_links: int,
    *,
    with_text: bool = False,
    with_follow: bool = True,
) -> tuple[PageRecord, list[tuple[str, int]], str]:
    """The page record of one response, the (url, depth) pairs it asks to follow
    (none without ``with_follow``), and, ``with_text``, an HTML page's text (else "").

    3xx with a Location: one ``redirect`` edge, followed at the same depth.
    2xx HTML: every edge of docs/edges.md; ``a`` targets are followed one level deeper
    unless the page says nofollow. Anything else: a record without links.
    Scope, depth and budget are the caller's to apply.
    """
    source_url = response.meta.get("lg_url") or response.url
    depth = int(response.meta.get("depth", 0))
    status = response.status
    content_type = _header(response, "Content-Type")
    content_type_value = content_type[0].split(";", 1)[0].strip().lower() if content_type else ""
    robots_header = _header(response, "X-Robots-Tag")
    page_nofollow = robots_header_nofollow(robots_header)
    page = PageRecord(
        url=source_url,
        status=status,
        fetched_at=time.time(),
        content_type=content_type_value,
        robots_nofollow=page_nofollow,
        depth=depth,
        job=job,
        robots_noindex=robots_header_noindex(robots_header),
        ip=fetched_from(response),
    )
    page.etag, page.last_modified = validators_of(response)
    follow: list[tuple[str, int]] = []
    text = ""
    # 304 Not Modified: the page is as stored (docs/crawling.md#revisits).
    if 300 <= status < 400 and status != 304:
        location = response.headers.get("Location")
        if location:
            raw = location.decode("utf-8", "replace")
            target = resolve_and_normalize(raw, response.url)
            if target is None:
                page.dropped_links += 1
            elif target != source_url:
                page.links.append(Link(target, "redirect", nofollow=page_nofollow))
                follow.append((target, depth))
    elif (
        200 <= status < 300
        and content_type_value in _HTML_TYPES
        and isinstance(response, TextResponse)
    ):
        extraction = extract_links(
            response.text,
            response.url,
            source_url,
            robots_nofollow=page_nofollow,
            robots_noindex=page.robots_noindex,
            max_links=max_links,
            with_text=with_text,
        )
        text = extraction.text
        page.links = extraction.links
        page.robots_noindex = extraction.robots_noindex
        page.title = extraction.title
        page.lang = extraction.lang
        page.words = extraction.words
        page.profile = extraction.profile
        page.dropped_links = extraction.dropped + extraction.truncated
        page.robots_nofollow = extraction.robots_nofollow
        if with_follow and not extraction.robots_nofollow:
            follow.extend(
                (link.target_url, depth + 1) for link in extraction.links if link.kind == "a"
            )
    return page, follow, text


def count_page(crawler: Crawler, page: PageRecord) -> None:
    """Crawl stats for one page record."""
    stats = crawler.stats
    assert stats is not None
    stats.inc_value("linkgraph/pages")
    stats.inc_value(f"linkgraph/status/{page.status}")
    stats.inc_value("linkgraph/links", len(page.links))


class OutlinksSpider(scrapy.Spider):
    """Crawls the registered domains of its seeds (see module doc)."""

    name = "outlinks"

    def __init__(
        self,
        seeds: str | None = None,
        seed_urls: list[str] | None = None,
        max_pages: int | str | None = None,
        max_depth: int | str | None = None,
        job: str = "",
        revisits: list[Revisit] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.revisits = list(revisits or [])
        urls = list(seed_urls or [])
        if seeds:
            urls.extend(read_seeds_file(seeds))
        self.seed_urls = parse_seeds(urls)
        self.scope = {registered_domain(host_of(url)) for url in self.seed_urls}
        self._max_pages_arg = max_pages
        self._max_depth_arg = max_depth
        self.job = job
        self.pages = 0
        # URLs already requested in this crawl. The dupefilter (URLDupeFilter,
        # keyed by the same normalized URL) would drop a second request anyway;
        # checking here first spares building a Request for every repeated link
        # of every page, most of a page's in-scope links once a site is known.
        self.requested: set[str] = set()
        # in_scope()'s answers by URL authority.
        self._scope_by_authority: dict[str, bool] = {}
        self.max_pages = 0
        self.max_depth = -1
        self.max_url_length = config.LINKGRAPH_MAX_URL_LENGTH
        self.max_links = config.LINKGRAPH_MAX_LINKS_PER_PAGE
        self.traps = TrapRules()
        self.sitemaps: SitemapBook | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> OutlinksSpider:
        spider: OutlinksSpider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.max_pages = int(
            spider._max_pages_arg
            if spider._max_pages_arg is not None
            else settings.getint("LINKGRAPH_MAX_PAGES")
        )
        spider.max_depth = int(
            spider._max_depth_arg
            if spider._max_depth_arg is not None
            else settings.getint("LINKGRAPH_MAX_DEPTH", -1)
        )
        spider.max_url_length = settings.getint(
            "LINKGRAPH_MAX_URL_LENGTH", config.LINKGRAPH_MAX_URL_LENGTH
        )
        spider.max_links = settings.getint(
            "LINKGRAPH_MAX_LINKS_PER_PAGE", config.LINKGRAPH_MAX_LINKS_PER_PAGE
        )
        spider.traps = TrapRules(TrapLimits.from_settings(settings))
        if settings.getbool("LINKGRAPH_SITEMAPS", config.LINKGRAPH_SITEMAPS):
            spider.sitemaps = SitemapBook(
                SitemapCaps.from_settings(settings), spider.in_scope, spider.max_url_length
            )
        return spider

    # -- requests -----------------------------------------------------------
    def in_scope(self, url: str) -> bool:
        """True when ``url``'s registered domain is one of the seeds' (docs/crawling.md#scope).

        ``url`` is normalized, so its authority decides: the answer is kept per
        authority (a page's links go to few hosts, again and again).
        """
        parts = url.split("/", 3)
        authority = parts[2] if len(parts) > 2 else url
        scoped = self._scope_by_authority.get(authority)
        if scoped is None:
            if len(self._scope_by_authority) >= _SCOPE_CACHE_SIZE:
                self._scope_by_authority.clear()
            scoped = registered_domain(host_of(url)) in self.scope
            self._scope_by_authority[authority] = scoped
        return scoped

    def make_request(self, url: str, depth: int, revisit: Revisit | None = None) -> scrapy.Request:
        self.requested.add(url)
        request = scrapy.Request(
            url,
            callback=self.parse,
            errback=self.failed,
            meta={"lg_url": url, "depth": depth, "dont_redirect": True},
        )
        return request if revisit is None else make_revisit(request, revisit)

    async def start(self) -> AsyncIterator[Any]:
        revisits = {revisit.url: revisit for revisit in self.revisits}
        for url in self.seed_urls:
            # A seed the index holds goes with its validators, as a seed.
            known = revisits.pop(url, None)
            seed = None if known is None else Revisit(url, 0, known.etag, known.last_modified)
            yield self.make_request(url, 0, seed)
        for revisit in revisits.values():
            if revisit.url not in self.requested:
                yield self.make_request(revisit.url, revisit.depth, revisit)

    def _budget_left(self) -> bool:
        return not self.max_pages or self.pages < self.max_pages

    def _wanted(self, url: str, depth: int) -> bool:
        if not (
            url not in self.requested
            and (self.max_depth < 0 or depth <= self.max_depth)
            and len(url) <= self.max_url_length
            and self.in_scope(url)
        ):
            return False
        rule = self.traps.admit(url)
        if rule is None:
            return True
        # Declined once: a later link to it is not counted again.
        self.requested.add(url)
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value(f"linkgraph/trap/{rule}")
        return False

    def traps_for(self, job: str) -> TrapRules:
        """The trap rules a request of ``job`` is judged by: this crawl's."""
        return self.traps

    def _observe(self, page: PageRecord, text: str) -> None:
        """Show a fetched HTML page to the near-duplicate rule."""
        if not text and not page.links:
            return
        rule = self.traps.observe(page.url, text, (link.target_url for link in page.links))
        if rule is not None:
            template = url_template(page.url)[1]
            log.warning("declining URLs like %s as a trap: %s", template, rule)

    def closed(self, reason: str) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.set_value(
            "linkgraph/trap_declined",
            [[count, host, rule] for count, host, rule in self.traps.summary()],
        )

    # -- responses ----------------------------------------------------------
    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        if not self._budget_left():
            return
        self.pages += 1
        fingerprint = self.traps.wants_fingerprint(response.meta.get("lg_url") or response.url)
        page, follow, text = page_from_response(
            response, self.job, self.max_links, with_text=fingerprint
        )
        count_page(self.crawler, page)
        if fingerprint and 200 <= page.status < 300:
            self._observe(page, text)
        revisit = revisit_of(response.meta)
        if revisit is not None:
            count_outcome(self.crawler.stats, page.status)
            if not revisit.follow:
                follow = []
        yield page
        if not self._budget_left():
            log.info("max_pages (%d) reached; stopping", self.max_pages)
            raise CloseSpider("max_pages")
        for url, child_depth in follow:
            if self._wanted(url, child_depth):
                yield self.make_request(url, child_depth)
        # A page that follows nothing (--revisit-referrers) reads no sitemaps either.
        follows = revisit is None or revisit.follow
        if self.sitemaps is not None and self.max_depth != 0 and follows:
            for sitemap, named in self.sitemaps.discover(self.crawler, response.url):
                yield self._sitemap_request(sitemap, named)

    # -- sitemaps (docs/crawling.md#sitemaps) ----------------------------------
    def _sitemap_request(self, url: str, named: bool) -> scrapy.Request:
        assert self.sitemaps is not None
        return sitemap_request(
            url,
            named=named,
            caps=self.sitemaps.caps,
            callback=self.parse_sitemap,
            errback=self.sitemap_failed,
        )

    def parse_sitemap(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """A sitemap file: the files it lists are read next, its pages queued at depth 1.

        No page record and no edges."""
        book = self.sitemaps
        assert book is not None
        reading = read_sitemap(response, book.caps)
        if not reading.kind:
            count(self.crawler, "sitemaps_skipped")
            log.info("sitemap %s not read: %s", response.url, reading.why)
            return
        if reading.kind != "redirect":
            count(self.crawler, "sitemaps")
        if reading.over_cap:
            count(self.crawler, "sitemap_urls_over_cap", reading.over_cap)
            log.info(
                "sitemap %s: %d entries past the first %d not read",
                response.url,
                reading.over_cap,
                book.caps.max_urls,
            )
        for url, _ in book.take([(url, False) for url in reading.sitemaps]):
            yield self._sitemap_request(url, False)
        count(self.crawler, "sitemap_urls", len(reading.urls))
        queued = 0
        for url in reading.urls:
            if self._budget_left() and self._wanted(url, 1):
                queued += 1
                yield self.make_request(url, 1)
        count(self.crawler, "sitemap_queued", queued)

    def sitemap_failed(self, failure: Failure) -> None:
        count(self.crawler, "sitemaps_skipped")
        request = getattr(failure, "request", None)
        log.info("sitemap %s not read: %s", getattr(request, "url", "?"), failure.getErrorMessage())

    def failed(self, failure: Failure) -> None:
        stats = self.crawler.stats
        assert stats is not None
        if isinstance(failure.value, IgnoreRequest):
            stats.inc_value("linkgraph/ignored")
            return
        stats.inc_value("linkgraph/errors")
        stats.inc_value(f"linkgraph/errors/{failure.type.__name__ if failure.type else 'error'}")
        request = getattr(failure, "request", None)
        log.info("fetch failed: %s: %s", getattr(request, "url", "?"), failure.getErrorMessage())
