"""Sharding of the frontier and the Bloom filter's positions, without Redis."""

from __future__ import annotations

import pytest

from crawler.frontier.bloom import bloom_size, positions
from crawler.frontier.connection import redis_url, redis_urls
from crawler.frontier.shards import Shards, host_key, shard_of, split_urls, url_shard
from linkcore.errors import ConfigError


def test_split_urls_takes_commas_and_ignores_blanks() -> None:
    assert split_urls("redis://a:1/0, redis://b:2/0,,") == ["redis://a:1/0", "redis://b:2/0"]
    assert split_urls("redis://a:1/0") == ["redis://a:1/0"]


def test_the_flag_and_the_environment_give_the_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINKGRAPH_REDIS", "redis://x:1/0,redis://y:2/0")
    assert redis_urls() == ["redis://x:1/0", "redis://y:2/0"]
    assert redis_url() == "redis://x:1/0"  # the first holds the jobs
    assert redis_urls("redis://z:3/0") == ["redis://z:3/0"]
    with pytest.raises(ConfigError):
        redis_urls(" , ")


def test_a_host_has_one_shard_for_good() -> None:
    # A hash of the lower-case host: the same on every machine and in every run,
    # and spread evenly over names that differ in one character only.
    assert [shard_of("example.com", 4), shard_of("EXAMPLE.com", 4)] == [3, 3]
    assert shard_of("example.com", 1) == 0
    counts = [0] * 4
    for n in range(4000):
        counts[shard_of(f"host-{n}.example", 4)] += 1
    assert min(counts) > 800, counts
    assert len({shard_of(f"www.site-{n}.com", 4) for n in range(8)}) > 1


def test_every_url_of_a_host_goes_where_its_host_goes() -> None:
    for url in ("http://Example.com/a", "http://example.com:8080/b?c", "http://example.com/"):
        assert host_key(url) == "example.com"
        assert url_shard(url, 4) == shard_of("example.com", 4)
    assert url_shard("http://[::1]:80/", 3) == shard_of("::1", 3)
    shards = Shards(["a", "b", "c"])
    assert shards.first == "a" and len(shards) == 3
    assert shards.of_url("http://example.com/x") == shards.of_host("example.com")
    with pytest.raises(ValueError):
        Shards([])


@pytest.mark.parametrize("capacity", [10, 1_000_000, 100_000_000])
def test_bit_positions_are_stable_and_inside_the_filter(capacity: int) -> None:
    bits, hashes = bloom_size(capacity, 0.001)
    for n in range(200):
        item = f"http://site-{n}.example/page/{n * 7}"
        found = positions(item, bits, hashes)
        assert len(found) == hashes and all(0 <= p < bits for p in found)
        assert found == positions(item, bits, hashes)
