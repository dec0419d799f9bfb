"""Downloader middlewares: a crawler must not be turned against its own network.

:class:`PrivateNetworkMiddleware` refuses requests to loopback, private,
link-local (cloud metadata included), multicast, reserved and unspecified
addresses — by IP literal, by ``localhost`` names, and by what a host name
resolves to — unless
``LINKGRAPH_ALLOW_PRIVATE_NETWORKS`` is set (docs/crawling.md#the-private-network-guard).
Redirect targets and robots.txt requests pass through it like any request;
``linkgraph/refused_private`` counts the refused page requests (a refused
robots.txt stands for its host's pages: see :mod:`crawler.robots`).

When the request goes through a proxy (``http_proxy``), the proxy resolves the
name, so only literal addresses and ``localhost`` names are checked here.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.threads import deferToThread

from linkcore.urls import is_ip_host

log = logging.getLogger(__name__)


class PrivateAddressRefused(IgnoreRequest):
    """A request whose host is or resolves to a non-public address.

    ``why`` completes a sentence about the host: "is a loopback name", "is a
    non-public address", "resolves to a non-public address".
    """

    def __init__(self, host: str, why: str) -> None:
        super().__init__(host, why)
        self.host = host
        self.why = why

    def __str__(self) -> str:
        return f"{self.host} {self.why}"


def count_refusal(crawler: Crawler, request: Request, refusal: PrivateAddressRefused) -> None:
    """Count ``request`` as refused for its address (``linkgraph/refused_private``)."""
    assert crawler.stats is not None
    crawler.stats.inc_value("linkgraph/refused_private")
    log.info("refused %s: %s", request.url, refusal)


def is_public_address(address: str) -> bool:
    """True when ``address`` is a globally routable unicast IP address."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PrivateNetworkMiddleware:
    """Refuses non-public targets (see module doc); counts refusals in stats."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._resolved: OrderedDict[str, bool] = OrderedDict()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PrivateNetworkMiddleware:
        if crawler.settings.getbool("LINKGRAPH_ALLOW_PRIVATE_NETWORKS"):
            raise NotConfigured("private networks allowed")
        return cls(crawler)

    def _refuse(self, request: Request, host: str, why: str) -> None:
        refusal = PrivateAddressRefused(host, why)
        # A robots.txt request is not counted: it stands for the pages of its
        # host, which the robots.txt middleware then refuses and counts.
        if not request.meta.get("lg_robots"):
            count_refusal(self.crawler, request, refusal)
        raise refusal

    async def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        host = (urlsplit(request.url).hostname or "").lower().rstrip(".")
        if host == "localhost" or host.endswith(".localhost"):
            self._refuse(request, host, "is a loopback name")
        if is_ip_host(host):
            if not is_public_address(host):
                self._refuse(request, host, "is a non-public address")
            return None
        if request.meta.get("proxy"):
            return None
        public = self._resolved.get(host)
        if public is None:
            public = await maybe_deferred_to_future(deferToThread(self._resolve, host))
            self._resolved[host] = public
            if len(self._resolved) > 50_000:
                self._resolved.popitem(last=False)
        if not public:
            self._refuse(request, host, "resolves to a non-public address")
        return None

    @staticmethod
    def _resolve(host: str) -> bool:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            # Let the download fail with its own DNS error.
            return True
        return all(is_public_address(str(info[4][0])) for info in infos)


class HostPageCapExceeded(IgnoreRequest):
    """A request to a host that has had its page cap of fetches."""


class HostPageCapMiddleware:
    """Refuses requests to a host once it had ``LINKGRAPH_MAX_PAGES_PER_HOST`` fetches.

    A bound on spider traps within a crawl's scope: endless calendars, session
    ids in paths, generated pages. robots.txt requests do not count. In a
    distributed crawl the count is the job's, across every worker
    (in Redis: counted with the request's rate slot by
    :class:`~crawler.frontier.ratelimit.RateLimitMiddleware`, else
    ``spider.host_budget(job, host)``) and the cap is the job's
    (``request.meta["host_cap"]``); otherwise it is this process's. Refused
    requests are counted as ``linkgraph/host_cap`` in the crawl stats.
    """

    def __init__(self, crawler: Crawler, cap: int) -> None:
        self.crawler = crawler
        self.cap = cap
        self.counts: dict[str, int] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HostPageCapMiddleware:
        return cls(crawler, crawler.settings.getint("LINKGRAPH_MAX_PAGES_PER_HOST", 0))

    async def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        if request.meta.get("lg_robots") or request.meta.get("dont_obey_robotstxt"):
            return None
        cap = int(request.meta.get("host_cap", self.cap) or 0)
        if cap <= 0:
            return None
        host = (urlsplit(request.url).hostname or "").lower()
        budget = getattr(self.crawler.spider, "host_budget", None)
        if "lg_host_count" in request.meta:
            # Counted in Redis with the request's rate slot (RateLimitMiddleware).
            count = int(request.meta["lg_host_count"])
        elif budget is not None and request.meta.get("job"):
            count = int(await budget(request.meta["job"], host))
        else:
            count = self.counts.get(host, 0) + 1
            self.counts[host] = count
        if count > cap:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("linkgraph/host_cap")
            if count == cap + 1:
                log.warning("%s had its %d pages: not fetching more from it", host, cap)
            raise HostPageCapExceeded(f"{host} had its {cap} pages")
        return None


class TrapDeclined(IgnoreRequest):
    """A request whose URL the crawl's trap rules declined (crawler/traps.py)."""


class TrapMiddleware:
    """Declines queued requests whose URL template became a trap after they were queued.

    The spider's ``traps_for(job)`` (a :class:`crawler.traps.TrapRules`, or
    None) decides; a spider without it is not checked. Before robots.txt (so a declined URL
    costs no robots.txt fetch on a new host) and before the host page cap.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TrapMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        traps_for = getattr(self.crawler.spider, "traps_for", None)
        if traps_for is None or request.meta.get("lg_robots"):
            return None
        traps = traps_for(request.meta.get("job") or "")
        if traps is None:
            return None
        rule = traps.still_wanted(request.meta.get("lg_url") or request.url)
        if rule is not None:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value(f"linkgraph/trap/{rule}")
            raise TrapDeclined(f"{request.url}: declined as a trap ({rule})")
        return None
