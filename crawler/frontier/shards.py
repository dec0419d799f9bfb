"""The frontier sharded over several Redis servers, by host.

``--redis URL,URL,…`` (``LINKGRAPH_REDIS`` with commas) names the shards. A
URL's host decides its shard (:func:`shard_of`), so everything about one
host — its queued and leased requests, the Bloom filter bits of its URLs, its
request-rate slot and its page count — lives on one server, and politeness
needs no coordination between shards. The first shard also holds what is one
per deployment: the set of jobs, each job's settings, state and counters.

The number of shards is part of a job: it is recorded when the job starts,
and workers leave alone a job recorded with another number (its URLs would
be looked for on the wrong servers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit


def split_urls(text: str) -> list[str]:
    """The Redis URLs of a ``--redis`` value: comma-separated, blanks ignored."""
    return [part.strip() for part in text.split(",") if part.strip()]


def shard_of(host: str, count: int) -> int:
    """The shard (0 to ``count`` - 1) of ``host``: a BLAKE2b hash of its lower-case name.

    (Not CRC-32: it is linear, and names that differ in one character, such
    as ``site-1`` … ``site-8``, can all land on one shard.)
    """
    if count <= 1:
        return 0
    digest = hashlib.blake2b(host.lower().encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % count


def host_key(url: str) -> str:
    """The host a URL's politeness and shard go by (what the rate limiter reserves for)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def url_shard(url: str, count: int) -> int:
    """The shard of a URL: its host's."""
    return 0 if count <= 1 else shard_of(host_key(url), count)


class Shards:
    """The Redis clients of the frontier, in order; the first holds the jobs."""

    def __init__(self, clients: Sequence[Any]) -> None:
        if not clients:
            raise ValueError("no Redis shard")
        self.clients: tuple[Any, ...] = tuple(clients)

    def __len__(self) -> int:
        return len(self.clients)

    def __getitem__(self, index: int) -> Any:
        return self.clients[index]

    @property
    def first(self) -> Any:
        """The shard that holds jobs, their settings, state and counters."""
        return self.clients[0]

    def of_host(self, host: str) -> int:
        return shard_of(host, len(self.clients))

    def of_url(self, url: str) -> int:
        return url_shard(url, len(self.clients))
