"""Downloader middlewares: a crawler must not be turned against its own network.

:class:`PrivateNetworkMiddleware` refuses requests to loopback, private,
link-local (cloud metadata included), multicast, reserved and unspecified
addresses — by IP literal, by ``localhost`` names, and by what a host name
resolves to — unless ``LINKGRAPH_ALLOW_PRIVATE_NETWORKS`` is set (SPEC §1).
Redirect targets and robots.txt requests pass through it like any request.

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

from linkgraph.urls import is_ip_host

log = logging.getLogger(__name__)


class PrivateAddressRefused(IgnoreRequest):
    """A request whose host is or resolves to a non-public address."""


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
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("linkgraph/refused_private")
        log.info("refused %s: %s %s", request.url, host, why)
        raise PrivateAddressRefused(f"refused {host}: {why}")

    async def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        host = (urlsplit(request.url).hostname or "").lower().rstrip(".")
        if host == "localhost" or host.endswith(".localhost"):
            self._refuse(request, host, "loopback name")
        if is_ip_host(host):
            if not is_public_address(host):
                self._refuse(request, host, "non-public address")
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
