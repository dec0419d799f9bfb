"""Dupefilter memory per URL in Redis: the job Bloom filter against scrapy-redis.

scrapy-redis's ``RFPDupeFilter`` keeps each request's 40-character SHA1
fingerprint in a Redis set; linkgraph keeps a Bloom filter per job
(:mod:`crawler.frontier.bloom`) sized for the job's expected URLs at 0.1 %
false positives. Both get the same ``n`` URLs, in bulk:

- the set gets the fingerprints scrapy-redis would store (SHA1 hex digests,
  the shape of ``RFPDupeFilter.request_fingerprint``) by pipelined ``SADD``;
- the filter's bitmap is built with the filter's own bit positions
  (:func:`crawler.frontier.bloom.positions`, vectorized) and stored with one
  ``SET`` — the value ``SETBIT`` one URL at a time would leave, without ten
  million round trips — then spot-checked through a :class:`RedisBloom`.

Memory is Redis's own account of each key (``MEMORY USAGE``). Keys live under
a random prefix and are deleted afterwards.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from bench.common import Figure, Note, Result

__all__ = ["run"]

_CHUNK = 10_000


def _urls(start: int, stop: int) -> list[str]:
    return [
        f"http://www.site-{n % 50_000}.example.com/articles/{n}.html" for n in range(start, stop)
    ]


def _fill_set(server: Any, key: str, count: int) -> None:
    pipe = server.pipeline(transaction=False)
    for start in range(0, count, _CHUNK):
        fingerprints = [
            hashlib.sha1(url.encode()).hexdigest()
            for url in _urls(start, min(count, start + _CHUNK))
        ]
        pipe.sadd(key, *fingerprints)
        if len(pipe) >= 20:
            pipe.execute()
    pipe.execute()


def _bloom_bitmap(count: int, bits: int, hashes: int) -> bytes:
    import numpy as np

    bitmap = np.zeros((bits + 7) // 8, dtype=np.uint8)
    for start in range(0, count, 200_000):
        digests = b"".join(
            hashlib.blake2b(url.encode(), digest_size=16).digest()
            for url in _urls(start, min(count, start + 200_000))
        )
        halves = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)
        # (a + i*b) mod m == (a mod m + i*(b mod m)) mod m: small enough for uint64.
        first = halves[:, 0] % np.uint64(bits)
        second = (halves[:, 1] | np.uint64(1)) % np.uint64(bits)
        for i in range(hashes):
            position = (first + np.uint64(i) * second) % np.uint64(bits)
            # Redis bit 0 is the most significant bit of byte 0.
            np.bitwise_or.at(
                bitmap,
                (position >> np.uint64(3)).astype(np.int64),
                (np.uint8(0x80) >> (position & np.uint64(7)).astype(np.uint8)),
            )
    return bitmap.tobytes()


def run(*, quick: bool = False, redis_url: str | None = None) -> Result:
    """Redis bytes per URL of both dupefilters at 10M URLs (100k with ``quick``)."""
    from crawler.frontier.bloom import RedisBloom, positions
    from crawler.frontier.connection import connect

    count = 100_000 if quick else 10_000_000
    server = connect(redis_url)
    prefix = f"linkgraph-bench:{uuid.uuid4().hex[:10]}:"
    set_key, bloom_key = prefix + "dupefilter", prefix + "bloom"
    try:
        _fill_set(server, set_key, count)
        set_bytes = int(server.memory_usage(set_key, samples=0) or 0)
        members = int(server.scard(set_key))
        server.unlink(set_key)
        bloom = RedisBloom(server, bloom_key, capacity=count, error_rate=0.001)
        server.set(bloom_key, _bloom_bitmap(count, bloom.bits, bloom.hashes))
        bloom_bytes = int(server.memory_usage(bloom_key, samples=0) or 0)
        # What was stored is what RedisBloom.add sets: every sample tests present.
        sample = _urls(0, 200)
        pipe = server.pipeline(transaction=False)
        for url in sample:
            for position in positions(url, bloom.bits, bloom.hashes):
                pipe.getbit(bloom_key, position)
        if not all(pipe.execute()) or not bloom.add(sample[0]):
            raise RuntimeError("the bulk-built Bloom filter disagrees with RedisBloom")
        fill = bloom.fill_ratio()
    finally:
        server.unlink(set_key, bloom_key)
    if members != count:
        raise RuntimeError(f"the fingerprint set holds {members} of {count} URLs")
    return Result(
        figures=[
            Figure(
                f"dupefilter memory per URL at {count / 1e6:g}M URLs",
                "bytes/URL",
                bloom_bytes / count,
                set_bytes / count,
                "scrapy-redis RFPDupeFilter (Redis set of SHA1 hex)",
                target=20.0,
                higher_is_better=False,
            )
        ],
        notes=[
            Note(
                "Bloom filter",
                bloom_bytes / 2**20,
                "MiB",
                f"{bloom.hashes} hashes, 0.1 % false positives, {fill:.0%} of bits set",
            ),
            Note("fingerprint set", set_bytes / 2**20, "MiB", f"{count:,} members"),
        ],
    )
