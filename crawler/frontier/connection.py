"""The one factory for Redis clients (SPEC §5: ``--redis``, ``LINKGRAPH_REDIS``)."""

from __future__ import annotations

import os
from typing import Any

import redis

from linkgraph import defaults
from linkgraph.errors import ConfigError, ServiceUnavailable


def redis_url(url: str | None = None) -> str:
    """The flag, else ``LINKGRAPH_REDIS``, else the default URL."""
    return url or os.environ.get("LINKGRAPH_REDIS") or defaults.REDIS_URL


def connect(url: str | None = None, *, check: bool = True) -> redis.Redis:
    """A Redis client for ``url`` (see :func:`redis_url`), pinged unless ``check=False``.

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
    where = f" at {redis_url(url)}" if url is not None else ""
    text = " ".join(str(error).split())
    return ServiceUnavailable(
        f"Redis{where} is unavailable: {text} (start it with deploy/local/up, or pass --redis)"
    )


def server_time(client: Any) -> float:
    """The Redis server's clock, in seconds (all workers share it)."""
    seconds, micros = client.time()
    return float(seconds) + float(micros) / 1e6
