"""robots.txt as RFC 9309 says, for the token ``linkgraph`` (docs/crawling.md#robotstxt).

Scrapy's RobotsTxtMiddleware parses whatever body comes back and allows
everything when the download fails. A polite crawler must not: per RFC 9309
§2.3.1,

- 2xx: the file is parsed (at most 512 KiB of it, §2.5); the download itself
  stops there, so a huge or endless robots.txt costs 512 KiB, not the
  page size cap;
- 3xx: followed, up to five redirects (the crawler's own redirect handling is
  off, so this middleware follows them itself); more than five is treated as
  "unavailable", i.e. allow all;
- 4xx: "unavailable": crawl as if there were no robots.txt;
- 5xx, or a network error after retries: "unreachable": crawl nothing on
  that host;
- a refused address (private network guard): nothing on that host either.
  When the guard refused the host itself (not a redirect hop), its pages are
  refused as the guard refuses, counted in ``linkgraph/refused_private``, not
  as forbidden by robots.txt; one warning line per host says why.

A robots.txt request waits at most ``LINKGRAPH_ROBOTS_TIMEOUT`` seconds (10;
a timeout counts as "unreachable"), and in a distributed crawl it takes a slot
of the host's job rate like any request (it carries the job's ``rate``).

``Crawl-delay`` for the ``linkgraph`` token (or ``*``) raises the host's
download delay in a one-process crawl to that value, capped by
``LINKGRAPH_MAX_CRAWL_DELAY`` (30 s), without jitter and out of AutoThrottle's
reach (docs/crawling.md#crawl-delay). Requests of a distributed job (they
carry the job's ``rate``) are paced by the cluster's rate limiter instead: the
Crawl-delay lowers the rate they reserve their host's slots at to 1/delay.

Parsing and matching stay Scrapy's (Protego), so group matching for the
``linkgraph`` token is unchanged. It also fixes a race in Scrapy's version:
requests that arrive while a host's robots.txt is being fetched all wait on
one Deferred, and all but the first get ``None`` — no robots.txt at all.
"""

from __future__ import annotations

import logging
from typing import Any
from weakref import WeakKeyDictionary

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest, StopDownload
from scrapy.http.request import NO_CALLBACK
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred

from crawler.middlewares import PrivateAddressRefused, count_refusal
from linkcore import config
from linkcore.urls import resolve

log = logging.getLogger(__name__)

#: RFC 9309 §2.5: parse at least 500 KiB; what follows is ignored.
MAX_ROBOTS_BYTES = 512 * 1024
#: RFC 9309 §2.3.1.2: follow at least five consecutive redirects.
MAX_ROBOTS_REDIRECTS = 5
_ALLOW_ALL = b""
_DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class RFC9309RobotsMiddleware(RobotsTxtMiddleware):
    """Drop-in for Scrapy's robots.txt middleware with RFC 9309 status rules."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.timeout = crawler.settings.getfloat(
            "LINKGRAPH_ROBOTS_TIMEOUT", config.LINKGRAPH_ROBOTS_TIMEOUT
        )
        self.max_crawl_delay = crawler.settings.getfloat(
            "LINKGRAPH_MAX_CRAWL_DELAY", config.LINKGRAPH_MAX_CRAWL_DELAY
        )
        # Crawl-delay by netloc, capped; 0 for none.
        self._crawl_delays: dict[str, float] = {}
        self._received: WeakKeyDictionary[Request, int] = WeakKeyDictionary()
        # Hosts (netlocs) whose own address the private network guard refused.
        self._refused: dict[str, PrivateAddressRefused] = {}
        crawler.signals.connect(self._bytes_received, signal=signals.bytes_received)

    def _bytes_received(self, data: bytes, request: Request, spider: Any = None) -> None:
        """Stop a robots.txt download past MAX_ROBOTS_BYTES; the part received is parsed."""
        if not request.meta.get("lg_robots"):
            return
        received = self._received.get(request, 0) + len(data)
        self._received[request] = received
        if received > MAX_ROBOTS_BYTES:
            raise StopDownload(fail=False)

    def process_request_2(self, rp: RobotParser | None, request: Request) -> None:
        refusal = self._refused.get(urlparse_cached(request).netloc)
        if refusal is not None:
            count_refusal(self.crawler, request, refusal)
            raise PrivateAddressRefused(refusal.host, refusal.why)
        super().process_request_2(rp, request)
        if rp is None:
            return
        rate = request.meta.get("rate")
        if rate is None:
            self._apply_crawl_delay(rp, request)
            return
        # A distributed job's request: its host's slots are spaced in Redis by
        # 1/rate across every worker (crawler/frontier/ratelimit.py), so the
        # Crawl-delay lowers the rate this request reserves its slot at.
        delay = self._crawl_delay(rp, request)
        if delay and (not rate or float(rate) > 1.0 / delay):
            request.meta["rate"] = 1.0 / delay

    def _crawl_delay(self, rp: RobotParser, request: Request) -> float:
        """The Crawl-delay of ``request``'s host, capped; 0 for none."""
        netloc = urlparse_cached(request).netloc
        delay = self._crawl_delays.get(netloc)
        if delay is None:
            try:
                declared = rp.crawl_delay(self._robotstxt_useragent or "linkgraph")
            except (TypeError, ValueError):
                declared = None
            delay = min(max(float(declared or 0.0), 0.0), self.max_crawl_delay)
            self._crawl_delays[netloc] = delay
            if delay:
                self._stats.inc_value("robotstxt/crawl_delay_hosts")
                log.info("%s asks for a Crawl-delay: %.1f s between requests", netloc, delay)
        return delay

    def _apply_crawl_delay(self, rp: RobotParser, request: Request) -> None:
        """Raise the download slot's delay of ``request`` to its host's Crawl-delay."""
        delay = self._crawl_delay(rp, request)
        if not delay or self.crawler.engine is None:
            return
        request.meta["autothrottle_dont_adjust_delay"] = True
        # Through Scrapy's public downloader: a slot made later takes its delay
        # from the per-slot settings (DOWNLOAD_SLOTS), one that exists (the
        # robots.txt request made it) is raised here.
        downloader = self.crawler.engine.downloader
        key = downloader.get_slot_key(request)
        settings = downloader.per_slot_settings.setdefault(key, {})
        settings.update(delay=max(float(settings.get("delay", 0.0)), delay), jitter=0.0)
        slot = downloader.slots.get(key)
        if slot is not None:
            slot.delay = max(slot.delay, delay)
            # Random variation could go below the asked delay.
            slot.jitter = 0.0

    def parsed(self, netloc: str) -> RobotParser | None:
        """``netloc``'s robots.txt as this crawl read it; None while it has not been read.

        Sitemap discovery reads its ``Sitemap:`` lines from here rather than
        fetching robots.txt again (docs/crawling.md#sitemaps).
        """
        parser = self._parsers.get(netloc)
        return parser if isinstance(parser, RobotParser) else None

    async def robot_parser(self, request: Request) -> RobotParser | None:
        netloc = urlparse_cached(request).netloc
        if netloc not in self._parsers:
            waiting: Deferred[RobotParser | None] = Deferred()
            self._parsers[netloc] = waiting
            scheme = urlparse_cached(request).scheme
            body = await self._fetch(
                f"{scheme}://{netloc}/robots.txt", netloc, request.meta.get("rate")
            )
            parsed: RobotParser = build_from_crawler(self._parserimpl, self.crawler, body)
            self._parsers[netloc] = parsed
            self._stats.inc_value("robotstxt/request_count")
            waiting.callback(parsed)
        parser = self._parsers[netloc]
        if isinstance(parser, Deferred):
            # Each waiter gets a Deferred of its own: awaiting one shared
            # Deferred from several coroutines hands the parser to the first
            # only (the adapter's callback returns None to the rest), and a
            # None parser means "no robots.txt" — every request that arrived
            # while robots.txt was in flight would skip it.
            mine: Deferred[RobotParser | None] = Deferred()

            def relay(result: RobotParser | None) -> RobotParser | None:
                mine.callback(result)
                return result

            parser.addCallback(relay)
            result: RobotParser | None = await maybe_deferred_to_future(mine)
            return result
        return parser

    async def _fetch(self, url: str, netloc: str, rate: float | None = None) -> bytes:
        """The robots.txt body to parse for ``netloc`` (see module doc)."""
        for hop in range(MAX_ROBOTS_REDIRECTS + 1):
            robots_request = Request(
                url,
                priority=self.DOWNLOAD_PRIORITY,
                meta={
                    "dont_obey_robotstxt": True,
                    "lg_robots": True,
                    "rate": rate,
                    "download_timeout": self.timeout,
                    # The size is capped while downloading (_bytes_received), so a
                    # large declared Content-Length must not refuse the download.
                    "download_maxsize": 0,
                },
                callback=NO_CALLBACK,
            )
            try:
                assert self.crawler.engine is not None
                response: Any = await self.crawler.engine.download_async(robots_request)
            except PrivateAddressRefused as refused:
                self._stats.inc_value("robotstxt/refused")
                if hop:
                    log.warning(
                        "robots.txt of %s redirects to %s, which %s: not crawling that host",
                        netloc,
                        url,
                        refused.why,
                    )
                    return _DISALLOW_ALL
                self._refused[netloc] = refused
                log.warning(
                    "not crawling %s: it %s (refused by default; --allow-private-networks "
                    "allows it)",
                    netloc,
                    refused.why,
                )
                return _DISALLOW_ALL
            except IgnoreRequest as refused:
                self._stats.inc_value("robotstxt/refused")
                log.warning(
                    "robots.txt of %s refused (%s): not crawling that host", netloc, refused
                )
                return _DISALLOW_ALL
            except Exception as error:
                self._stats.inc_value("robotstxt/unreachable")
                log.warning(
                    "robots.txt of %s unreachable (%s): not crawling that host",
                    netloc,
                    " ".join(str(error).split())[:200],
                )
                return _DISALLOW_ALL
            status = int(response.status)
            self._stats.inc_value("robotstxt/response_count")
            self._stats.inc_value(f"robotstxt/response_status_count/{status}")
            if 300 <= status < 400:
                location = response.headers.get("Location")
                target = resolve(location.decode("latin-1"), url) if location else None
                if not target or not target.startswith(("http://", "https://")):
                    return _ALLOW_ALL
                url = target
                continue
            if 200 <= status < 300:
                return bytes(response.body[:MAX_ROBOTS_BYTES])
            if 400 <= status < 500:
                return _ALLOW_ALL
            self._stats.inc_value("robotstxt/unreachable")
            log.warning("robots.txt of %s answered %d: not crawling that host", netloc, status)
            return _DISALLOW_ALL
        return _ALLOW_ALL
