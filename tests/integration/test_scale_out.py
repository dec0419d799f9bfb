"""The frontier that scales out: over two Redis shards, short leases that live
workers renew, a dead worker's requests back in seconds.

Real workers, consumer and Kafka as in :mod:`tests.integration.test_distributed`;
the first shard is the shared Redis, the second a redis-server of this
module's own on a free port.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from crawler.frontier.keys import Keys
from crawler.frontier.queue import decode_entry
from linkcore import config
from tests.integration.cluster import (
    KAFKA,
    REDIS,
    Cluster,
    compare,
    duplicate_fetches,
    fetch_counts,
    require_services,
)
from tests.integration.redis_servers import RedisServers
from tests.synthweb import ProxyServer, SyntheticWeb, expect

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def second_shard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_services()
    servers = RedisServers(tmp_path_factory.mktemp("shard"), 1).start()
    yield servers.urls[0]
    servers.stop()


@pytest.fixture
def cluster(web_proxy: ProxyServer, tmp_path: Path) -> Iterator[Cluster]:
    require_services()
    web_proxy.log.clear()
    cluster = Cluster(web_proxy, tmp_path, REDIS, KAFKA)
    yield cluster
    cluster.stop_all()


def _job_on_shard(url: str, cluster: Cluster, job: str) -> tuple[int, int]:
    """(entries ever queued, page requests counted) of ``job`` on the shard at ``url``."""
    client = redis.Redis.from_url(url)
    keys = Keys(cluster.prefix)
    pushed = int(client.get(keys.pushed(job)) or 0)
    counted = client.scan_iter(match=keys.host(job, "*"), count=1000)
    hosts = sum(int(client.get(key) or 0) for key in counted)
    client.close()
    return pushed, hosts


def test_a_job_over_two_redis_shards_stores_the_exact_index(
    web_proxy: ProxyServer, tmp_path: Path, second_shard: str, synth_web: SyntheticWeb
) -> None:
    web_proxy.log.clear()
    cluster = Cluster(web_proxy, tmp_path, f"{REDIS},{second_shard}", KAFKA)
    try:
        cluster.start_consumer()
        cluster.start_workers(3)
        cluster.start_job(synth_web, "two-shards", "--rate", "200")
        status = cluster.wait_job("two-shards")
        cluster.stop_all()
    finally:
        cluster.stop_all()
    compare(cluster, synth_web)
    extra, total = duplicate_fetches(cluster, synth_web)
    assert extra == 0, f"{extra} of {total} fetches were repeats\n{cluster.logs()}"
    # Both shards carried part of the frontier and of the hosts' counts.
    first, second = (_job_on_shard(url, cluster, "two-shards") for url in (REDIS, second_shard))
    assert first[0] > 0 and second[0] > 0, (first, second)
    assert first[1] > 0 and second[1] > 0, (first, second)
    # Each request is counted on its host's shard (retries of 5xx pages too).
    assert first[1] + second[1] >= status["pages"]


def test_a_killed_workers_requests_are_served_again_within_the_lease(
    cluster: Cluster, synth_web: SyntheticWeb, tmp_path: Path
) -> None:
    lease = config.LINKGRAPH_LEASE_SECONDS
    assert lease <= 15
    client = redis.Redis.from_url(REDIS)
    leases = Keys(cluster.prefix).leases("killed")
    cluster.start_consumer()
    # The first worker crawls alone, with the default lease, so every lease
    # at its death is its own; the others fetch through a proxy of their own.
    cluster.start_workers(1)
    cluster.wait_for_workers()
    cluster.start_job(synth_web, "killed", "--rate", "20")
    deadline = time.monotonic() + 90
    while len(cluster.requests()) < 30 or not client.zcard(leases):
        if time.monotonic() > deadline:
            pytest.fail(f"the crawl did not get under way\n{cluster.logs()}")
        time.sleep(0.05)
    cluster.workers[0].send_signal(signal.SIGKILL)
    cluster.workers[0].wait(30)
    killed_at = time.monotonic()
    orphans = {decode_entry(entry)[0] for entry in client.zrange(leases, 0, -1)}
    with ProxyServer(synth_web) as others:
        cluster.start_workers(2, proxy=others)
        cluster.wait_job("killed", "200")
        finished_after = time.monotonic() - killed_at
        refetched = {r.url for r in others.log.entries()}
    client.close()
    cluster.stop_all()
    print(f"\nkill -9: job finished {finished_after:.1f} s after it (lease {lease:g} s)")
    # Every request the dead worker held was taken by the others (and fetched,
    # unless robots.txt forbids it): once its lease ran out, not two minutes later.
    orphans &= expect(synth_web).fetched
    assert orphans, "the killed worker held no lease of a page to fetch"
    assert orphans <= refetched, sorted(orphans - refetched)
    assert finished_after < lease + 45, (
        f"the job finished {finished_after:.0f} s after the kill (lease {lease:g} s)\n"
        f"{cluster.logs()}"
    )
    # Apart from that, the crawl is exact: the index does not know about the kill.
    for request in others.log.entries():
        cluster.proxy.log.record(request)
    compare(cluster, synth_web)


def test_a_slow_page_is_not_fetched_twice_while_its_worker_lives(
    cluster: Cluster, synth_web: SyntheticWeb, web_proxy: ProxyServer
) -> None:
    lease, slow = 3.0, 10.0
    expectation = expect(synth_web)
    page = min(
        url
        for url, depth in expectation.depth.items()
        if depth == 1 and url in expectation.fetched and url not in expectation.retriable
    )
    web_proxy.delay(page, slow)
    try:
        cluster.start_consumer()
        cluster.start_workers(2, "--lease", str(lease))
        cluster.start_job(synth_web, "slow", "--rate", "200")
        cluster.wait_job("slow")
        cluster.stop_all()
    finally:
        web_proxy.delay(page, 0)
    counts = fetch_counts(cluster)
    assert counts[page] == 1, f"{page} fetched {counts[page]} times\n{cluster.logs()}"
    # Renewed leases: no page of the crawl went to a second worker.
    extra, total = duplicate_fetches(cluster, synth_web)
    assert extra == 0, f"{extra} of {total} fetches were repeats\n{cluster.logs()}"
    compare(cluster, synth_web)
