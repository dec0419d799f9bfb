"""A Bloom filter of normalized URLs in a Redis bitmap, one per job.

Redis has no Bloom module in Debian's package, so the filter is a plain bitmap:
``k`` bit positions per URL from one 128-bit BLAKE2b digest (Kirsch–Mitzenmacher
double hashing), tested and set by one Lua script. For ``n`` URLs at false
positive rate ``p`` it takes ``m = -n·ln p / (ln 2)²`` bits, i.e. 1.44·log2(1/p)
bits per URL: 1.8 bytes per URL at p = 0.1 % (scrapy-redis's RFPDupeFilter keeps
a 40-character hex fingerprint per URL in a Redis set, about 100 bytes with set
overhead). A false positive means one URL of the job is never fetched; past
``capacity`` URLs the rate rises (``fill_ratio`` shows how full a filter is).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from scrapy import Request
from scrapy.dupefilters import BaseDupeFilter

# Returns 1 when every bit was already set (seen before), else 0; sets them all.
_TEST_AND_SET = """
local seen = 1
for i = 1, #ARGV do
  if redis.call('SETBIT', KEYS[1], ARGV[i], 1) == 0 then seen = 0 end
end
return seen
"""

# KEYS: filter, queue. ARGV: queue entry, then bit positions. Marks the item
# seen and queues its entry in one step, so that a worker killed in between
# cannot leave a URL marked seen but never queued. Returns 1 if queued.
_ADD_AND_PUSH = """
local new = 0
for i = 2, #ARGV do
  if redis.call('SETBIT', KEYS[1], ARGV[i], 1) == 0 then new = 1 end
end
if new == 1 then redis.call('LPUSH', KEYS[2], ARGV[1]) end
return new
"""


def bloom_size(capacity: int, error_rate: float) -> tuple[int, int]:
    """Bits ``m`` and hash count ``k`` for ``capacity`` items at ``error_rate``."""
    capacity = max(1, capacity)
    bits = math.ceil(-capacity * math.log(error_rate) / (math.log(2) ** 2))
    hashes = max(1, round(bits / capacity * math.log(2)))
    return bits, hashes


def positions(item: str, bits: int, hashes: int) -> list[int]:
    """The ``hashes`` bit positions of ``item`` in a filter of ``bits`` bits."""
    digest = hashlib.blake2b(item.encode("utf-8"), digest_size=16).digest()
    first = int.from_bytes(digest[:8], "little")
    second = int.from_bytes(digest[8:], "little") | 1
    return [(first + i * second) % bits for i in range(hashes)]


class RedisBloom:
    """One filter at ``key`` sized for ``capacity`` items at ``error_rate``."""

    def __init__(self, server: Any, key: str, capacity: int, error_rate: float = 0.001):
        self.server = server
        self.key = key
        self.bits, self.hashes = bloom_size(capacity, error_rate)
        self._script = server.register_script(_TEST_AND_SET)
        self._add_and_push = server.register_script(_ADD_AND_PUSH)

    def add(self, item: str) -> bool:
        """Add ``item``; True if it was (probably) there already."""
        return bool(self._script(keys=[self.key], args=positions(item, self.bits, self.hashes)))

    def add_and_push(self, item: str, queue_key: str, entry: str) -> bool:
        """Add ``item`` and, if it is new, LPUSH ``entry`` onto ``queue_key``, atomically.

        Returns True when the entry was queued.
        """
        positions_ = positions(item, self.bits, self.hashes)
        return bool(self._add_and_push(keys=[self.key, queue_key], args=[entry, *positions_]))

    def add_and_push_many(self, items: list[tuple[str, str]], queue_key: str) -> int:
        """:meth:`add_and_push` for each ``(item, entry)``, in one round trip; how many queued."""
        if not items:
            return 0
        pipe = self.server.pipeline(transaction=False)
        for item, entry in items:
            positions_ = positions(item, self.bits, self.hashes)
            self._add_and_push(keys=[self.key, queue_key], args=[entry, *positions_], client=pipe)
        return sum(bool(queued) for queued in pipe.execute())

    def fill_ratio(self) -> float:
        """Share of bits set (about 0.5 at capacity)."""
        return float(self.server.bitcount(self.key)) / self.bits


class BloomDupeFilter(BaseDupeFilter):
    """Scrapy dupefilter over the per-job filters of :class:`~crawler.frontier.jobs.JobStore`.

    A request's job is ``request.meta["job"]``; its URL the normalized
    ``request.meta["lg_url"]``.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    @classmethod
    def from_spider(cls, spider: Any) -> BloomDupeFilter:
        """scrapy-redis builds its dupefilter here; the worker spider owns the job store."""
        return cls(spider.store)

    def request_seen(self, request: Request) -> bool:
        job = request.meta.get("job", "")
        url = request.meta.get("lg_url") or request.url
        return bool(self.store.bloom(job).add(url))

    def clear(self) -> None:
        # Filters belong to jobs and go when a job is deleted, not when a worker stops.
        return None
