"""The one factory for Redis clients (docs/storage.md: ``--redis``, ``LINKGRAPH_REDIS``)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from crawler.frontier.shards import Shards, split_urls
from linkcore import config
from linkcore.errors import ConfigError, ServiceUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


def redis_url(url: str | None = None) -> str:
    """The flag, else ``LINKGRAPH_REDIS``, else the default URL (the first of a list)."""
    urls = redis_urls(url)
    return urls[0]


def redis_urls(url: str | None = None) -> list[str]:
    """Every shard's URL: the flag, else ``LINKGRAPH_REDIS``, else the default, split at commas."""
    urls = split_urls(config.REDIS.resolve(url))
    if not urls:
        raise ConfigError("no Redis URL given (--redis URL[,URL…] or LINKGRAPH_REDIS)")
    return urls


def connect_shards(url: str | None = None, *, check: bool = True) -> Shards:
    """A client for every shard of ``url`` (see :func:`redis_urls`), each pinged unless
    ``check=False``; the errors of :func:`connect`."""
    return Shards([connect(each, check=check) for each in redis_urls(url)])


def connect(url: str | None = None, *, check: bool = True) -> redis.Redis:
    """A Redis client for ``url`` (see :func:`redis_url`), pinged unless ``check=False``.

    Of a comma-separated list, the first: the shard that holds the jobs.
    Raises :class:`ConfigError` for a malformed URL and
    :class:`ServiceUnavailable` (retriable) when Redis does not answer.
    """
    resolved = redis_url(url)
    try:
        client: redis.Redis = redis.Redis.from_url(
            resolved, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30
        )
    except ValueError as error:
        raise ConfigError(f"bad Redis URL {resolved!r}: {error}") from None
    if check:
        try:
            client.ping()
        except redis.RedisError as error:
            raise unavailable(error, resolved) from None
    return client


def unavailable(error: Exception, url: str | None = None) -> ServiceUnavailable:
    """A one-line, retriable error for a failed Redis call."""
    where = f" at {url}" if url is not None else ""
    text = " ".join(str(error).split())
    return ServiceUnavailable(
        f"Redis{where} is unavailable: {text} (start it with deploy/local/up, or pass --redis)"
    )


def server_time(client: Any) -> float:
    """The Redis server's clock, in seconds (all workers share it)."""
    seconds, micros = client.time()
    return float(seconds) + float(micros) / 1e6


#: What a Redis call raises when Redis is away (redis-py's errors, or ours).
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, ServiceUnavailable)


class RedisOutage:
    """Rides out Redis being away (restarted, failing over) in a crawl process.

    :meth:`call` retries one operation with back-off for up to
    ``retry_seconds``, waiting on the reactor's clock (never sleeping in it),
    then raises :class:`ServiceUnavailable`. :meth:`later` keeps operations
    that must not be lost but need not wait (lease acks, counters) in a
    backlog, run in order by :meth:`drain` once Redis answers again. The log
    gets one line when an outage starts and one when it ends.
    """

    def __init__(self, retry_seconds: float = config.LINKGRAPH_REDIS_RETRY_SECONDS) -> None:
        self.retry_seconds = retry_seconds
        self.down_since: float | None = None
        #: Outages noticed so far.
        self.outages = 0
        self._backlog: deque[Callable[[], Any]] = deque()
        self._next_try = 0.0

    def noticed(self, error: Exception) -> None:
        """Note that a Redis call failed with ``error`` (logs the start of an outage)."""
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            log.warning(
                "Redis is unavailable (%s); waiting for it, nothing is dropped",
                " ".join(str(error).split())[:200],
            )

    def _up(self) -> None:
        if self.down_since is not None:
            log.warning("Redis is back after %.1f s", time.monotonic() - self.down_since)
            self.down_since = None

    async def call(self, operation: Callable[[], T]) -> T:
        """``operation()``, retried while Redis is away (see class doc)."""
        # Imported here: importing the reactor at module level would install
        # Twisted's default reactor before Scrapy installs the asyncio one.
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            try:
                result = operation()
            except REDIS_ERRORS as error:
                self.noticed(error)
                if time.monotonic() + delay > deadline:
                    raise unavailable(error) from None
                await maybe_deferred_to_future(deferLater(reactor, delay, lambda: None))
                delay = min(delay * 2, 2.0)
                continue
            self._up()
            return result

    def later(self, operation: Callable[[], Any]) -> None:
        """Run ``operation`` now if Redis answers, else after the operations before it."""
        self._backlog.append(operation)
        self.drain()

    def drain(self) -> bool:
        """Run backlogged operations in order; False if Redis is still away."""
        if not self._backlog:
            return True
        now = time.monotonic()
        if self.down_since is not None and now < self._next_try:
            return False
        while self._backlog:
            try:
                self._backlog[0]()
            except REDIS_ERRORS as error:
                self.noticed(error)
                # Try again in a second, not on every call while Redis is away.
                self._next_try = now + 1.0
                return False
            self._backlog.popleft()
        self._up()
        return True

    def __len__(self) -> int:
        return len(self._backlog)
