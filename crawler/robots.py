"""robots.txt as RFC 9309 says, for the token ``linkgraph`` (SPEC §1).

Scrapy's RobotsTxtMiddleware parses whatever body comes back and allows
everything when the download fails. A polite crawler must not: per RFC 9309
§2.3.1,

- 2xx: the file is parsed (at most 512 KiB of it, §2.5);
- 3xx: followed, up to five redirects (the crawler's own redirect handling is
  off, so this middleware follows them itself); more than five is treated as
  "unavailable", i.e. allow all;
- 4xx: "unavailable": crawl as if there were no robots.txt;
- 5xx, or a network error after retries: "unreachable": crawl nothing on
  that host;
- a refused address (private network guard): nothing on that host either.

Parsing and matching stay Scrapy's (Protego), so group matching for the
``linkgraph`` token is unchanged. It also fixes a race in Scrapy's version:
requests that arrive while a host's robots.txt is being fetched all wait on
one Deferred, and all but the first get ``None`` — no robots.txt at all.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http.request import NO_CALLBACK
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler
from twisted.internet.defer import Deferred

from linkgraph.urls import resolve

log = logging.getLogger(__name__)

#: RFC 9309 §2.5: parse at least 500 KiB; what follows is ignored.
MAX_ROBOTS_BYTES = 512 * 1024
#: RFC 9309 §2.3.1.2: follow at least five consecutive redirects.
MAX_ROBOTS_REDIRECTS = 5
_ALLOW_ALL = b""
_DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class RFC9309RobotsMiddleware(RobotsTxtMiddleware):
    """Drop-in for Scrapy's robots.txt middleware with RFC 9309 status rules."""

    async def robot_parser(self, request: Request) -> RobotParser | None:
        netloc = urlparse_cached(request).netloc
        if netloc not in self._parsers:
            waiting: Deferred[RobotParser | None] = Deferred()
            self._parsers[netloc] = waiting
            scheme = urlparse_cached(request).scheme
            body = await self._fetch(f"{scheme}://{netloc}/robots.txt", netloc)
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

    async def _fetch(self, url: str, netloc: str) -> bytes:
        """The robots.txt body to parse for ``netloc`` (see module doc)."""
        for _hop in range(MAX_ROBOTS_REDIRECTS + 1):
            robots_request = Request(
                url,
                priority=self.DOWNLOAD_PRIORITY,
                meta={"dont_obey_robotstxt": True},
                callback=NO_CALLBACK,
            )
            try:
                assert self.crawler.engine is not None
                response: Any = await self.crawler.engine.download_async(robots_request)
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
