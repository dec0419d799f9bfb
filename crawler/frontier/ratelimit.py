"""A per-host request rate that holds across every worker (docs/crawling.md#politeness-and-caps).

Each request to a host reserves the host's next free slot in Redis, one Lua
script on the server's clock: ``slot = max(now, next); next = slot + 1/rate``.
The worker waits until its slot, then downloads. Workers on any number of
machines therefore space their requests to one host by ``1/rate`` seconds
together, not each.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.task import deferLater

log = logging.getLogger(__name__)

# KEYS: the host's key. ARGV: interval seconds. Returns seconds to wait, as a string.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval),
           'PX', math.ceil((slot - now + interval) * 1000) + 60000)
return string.format('%.6f', slot - now)
"""


class RateLimiter:
    """Reserves request slots per host at ``rate`` requests per second."""

    def __init__(self, server: Any, keys: Any) -> None:
        self.server = server
        self.keys = keys
        self._reserve = server.register_script(_RESERVE)

    def reserve(self, host: str, rate: float) -> float:
        """Seconds to wait before requesting ``host`` (0 when its slot is now)."""
        if rate <= 0:
            return 0.0
        return float(self._reserve(keys=[self.keys.rate(host)], args=[1.0 / rate]))


class RateLimitMiddleware:
    """Downloader middleware: waits for the host's cluster-wide slot.

    The rate is the request's job rate (``request.meta["rate"]``, requests per
    second per host), else ``LINKGRAPH_RATE``. Needs ``spider.rate_limiter``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.default_rate = crawler.settings.getfloat("LINKGRAPH_RATE", 0.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RateLimitMiddleware:
        if not crawler.settings.getbool("LINKGRAPH_DISTRIBUTED"):
            raise NotConfigured("one-process crawls use Scrapy's per-host delay")
        return cls(crawler)

    async def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        limiter = getattr(self.crawler.spider, "rate_limiter", None)
        if limiter is None:
            return None
        rate = float(request.meta.get("rate") or self.default_rate)
        host = (urlsplit(request.url).hostname or "").lower()
        outage = getattr(self.crawler.spider, "outage", None)
        if outage is not None:
            # Redis away: wait for it rather than fail the request or skip the rate.
            wait = await outage.call(lambda: limiter.reserve(host, rate))
        else:
            wait = limiter.reserve(host, rate)
        if wait > 0:
            # Imported here: importing the reactor at module level would install
            # Twisted's default reactor before Scrapy installs the asyncio one.
            from twisted.internet import reactor

            await maybe_deferred_to_future(deferLater(reactor, wait, lambda: None))
        return None
