"""The frontier's scripts against a real Redis: Bloom pushes, batched pops,
lease renewal, the per-host admission, the outbox, and a job over two shards.

Single-shard cases use the shared Redis (``deploy/local/up``) under a random
prefix; two-shard cases add a redis-server of their own on a free port.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from crawler.frontier.bloom import RedisBloom, positions
from crawler.frontier.jobs import JobStore
from crawler.frontier.keys import Keys
from crawler.frontier.outbox import Outbox
from crawler.frontier.queue import (
    JobsQueue,
    decode_entry,
    encode_entry,
    pop_entries,
    renew_leases,
)
from crawler.frontier.ratelimit import RateLimiter
from crawler.frontier.shards import Shards
from crawler.spiders.worker import WorkerSpider
from tests.integration.cluster import REDIS, require_services
from tests.integration.private_services import free_port
from tests.integration.redis_servers import RedisServers

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def shared() -> Iterator[redis.Redis]:
    require_services()
    client = redis.Redis.from_url(REDIS)
    yield client
    client.close()


@pytest.fixture
def prefix(shared: redis.Redis) -> Iterator[str]:
    prefix = f"lgtest:{uuid.uuid4().hex[:10]}:"
    yield prefix
    for key in shared.scan_iter(match=f"{prefix}*", count=1000):
        shared.unlink(key)


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    servers = RedisServers(tmp_path_factory.mktemp("shards"), 1).start()
    client = redis.Redis.from_url(servers.urls[0])
    yield client
    client.close()
    servers.stop()


def test_one_call_marks_and_queues_like_one_setbit_after_another(
    shared: redis.Redis, prefix: str
) -> None:
    bloom = RedisBloom(shared, prefix + "bloom", 10_000, pushed_key=prefix + "pushed")
    urls = [f"http://a.example/{n}" for n in range(300)]
    items = [(url, encode_entry(url, 1)) for url in urls]
    # A URL twice in one call is queued once; every bit of every URL is set,
    # at the positions the reference computes.
    assert bloom.add_and_push_many([*items, items[0]], prefix + "queue") == 300
    pipe = shared.pipeline(transaction=False)
    for url in urls:
        for position in positions(url, bloom.bits, bloom.hashes):
            pipe.getbit(prefix + "bloom", position)
    assert all(pipe.execute())
    queued = [decode_entry(e)[0] for e in shared.lrange(prefix + "queue", 0, -1)]
    assert queued == list(reversed(urls))  # LPUSH in order: the first is popped first
    assert int(shared.get(prefix + "pushed") or 0) == 300
    assert bloom.add_and_push_many(items, prefix + "queue") == 0
    assert bloom.add(urls[5]) is True
    assert bloom.add("http://a.example/new") is False
    assert bloom.add("http://a.example/new") is True
    assert shared.llen(prefix + "queue") == 300


def test_large_batches_cross_the_script_chunks(shared: redis.Redis, prefix: str) -> None:
    bloom = RedisBloom(shared, prefix + "bloom", 1_000_000)
    items = [(f"http://b.example/{n}", f"e{n}") for n in range(5_000)]
    assert bloom.add_and_push_many(items, prefix + "queue") == 5_000
    assert bloom.add_and_push_many(items[::7], prefix + "queue") == 0


def _store(clients: list[redis.Redis], prefix: str) -> JobStore:
    return JobStore(Shards(clients), Keys(prefix))


def test_pop_leases_a_batch_and_renewal_keeps_it(shared: redis.Redis, prefix: str) -> None:
    store = _store([shared], prefix)
    seeds = [f"http://c{n}.example/" for n in range(12)]
    store.start("pop", seeds)
    popped = pop_entries(store, "pop", 0, 0.5, 8)
    assert len(popped) == 8
    assert store.status("pop")["in_flight"] == 8 and store.status("pop")["queued"] == 4
    held = {("pop", decode_entry(e)[0]): e for e in popped[:4]}
    time.sleep(0.3)
    assert renew_leases(store, held, 30) == 4
    time.sleep(0.4)
    # The four unrenewed leases expired and come back first; the renewed stay.
    again = pop_entries(store, "pop", 0, 30, 20)
    assert set(popped[4:]) <= set(again)
    assert not set(popped[:4]) & set(again)
    # An acked lease is not renewed back into existence.
    store.ack("pop", popped[0])
    assert renew_leases(store, {("pop", "x"): popped[0]}, 30) == 0
    assert shared.zscore(store.keys.leases("pop"), popped[0]) is None


def test_admit_counts_the_host_and_reserves_its_slot(shared: redis.Redis, prefix: str) -> None:
    limiter = RateLimiter(shared, Keys(prefix))
    count, wait = limiter.admit("h.example", 10.0, "job", 2)
    assert count == 1 and wait == 0.0
    count, wait = limiter.admit("h.example", 10.0, "job", 2)
    assert count == 2 and 0.05 < wait <= 0.1
    # Over the cap: counted, no slot taken (the next request's wait did not grow).
    count, wait = limiter.admit("h.example", 10.0, "job", 2)
    assert count == 3 and wait == 0.0
    assert 0.1 < limiter.reserve("h.example", 10.0) <= 0.2


def test_outbox_acks_a_page_only_after_its_links_are_queued(
    shared: redis.Redis, second: redis.Redis, prefix: str
) -> None:
    store = _store([shared, second], prefix)
    seeds = [f"http://d{n}.example/" for n in range(6)]
    store.start("out", seeds)
    acked: list[str] = []
    outbox = Outbox(store, on_acked=lambda job, url: acked.append(url))
    entries = [e for shard in (0, 1) for e in pop_entries(store, "out", shard, 30, 10)]
    assert len(entries) == 6
    parent = entries[0]
    url = decode_entry(parent)[0]
    children = [
        (f"http://d{n}.example/x", encode_entry(f"http://d{n}.example/x", 1)) for n in range(6)
    ]
    assert {store.shards.of_url(c) for c, _ in children} == {0, 1}
    outbox.links("out", url, children)
    outbox.count("out", pages=1, links=6)
    outbox.ack("out", url, parent)
    for other in entries[1:]:
        outbox.ack("out", decode_entry(other)[0], other)
    assert outbox.flush() is False  # the parent's ack waits for its links
    assert url not in acked and len(acked) == 5
    assert outbox.flush() is True
    assert url in acked and outbox.queued == 6
    status = store.status("out")
    assert status["in_flight"] == 0 and status["queued"] == 6 and status["pages"] == 1
    assert status["state"] == "running"


def test_outbox_keeps_what_a_dead_shard_is_owed(
    shared: redis.Redis, tmp_path: Path, prefix: str
) -> None:
    servers = RedisServers(tmp_path, 1).start()
    other = redis.Redis.from_url(servers.urls[0], socket_timeout=2)
    store = _store([shared, other], prefix)
    store.start("dead", [f"http://e{n}.example/" for n in range(6)])
    outbox = Outbox(store)
    entries = [e for shard in (0, 1) for e in pop_entries(store, "dead", shard, 30, 10)]
    on_zero = next(e for e in entries if store.shards.of_url(decode_entry(e)[0]) == 0)
    url = decode_entry(on_zero)[0]
    children = [
        (f"http://e{n}.example/y", encode_entry(f"http://e{n}.example/y", 1)) for n in range(6)
    ]
    outbox.links("dead", url, children)
    outbox.ack("dead", url, on_zero)
    servers.stop()
    with pytest.raises(redis.RedisError):
        outbox.flush()
    with pytest.raises(redis.RedisError):
        outbox.flush()
    # The first shard got its links, but the page's lease stays: its links on
    # the dead shard are not queued.
    assert shared.zscore(store.keys.leases("dead"), on_zero) is not None
    assert len(outbox) > 0


def test_a_job_over_two_shards_finishes_only_when_both_are_empty(
    shared: redis.Redis, second: redis.Redis, prefix: str
) -> None:
    store = _store([shared, second], prefix)
    seeds = [f"http://f{n}.example/" for n in range(10)]
    job = store.start("two", seeds)
    assert job.shards == 2
    on_second = [decode_entry(e)[0] for e in second.lrange(store.keys.queue("two"), 0, -1)]
    assert on_second and all(store.shards.of_url(u) == 1 for u in on_second)
    assert store.status("two")["queued"] == 10
    first = pop_entries(store, "two", 0, 30, 20)
    for entry in first:
        store.ack("two", entry)
    assert not store.finish_if_done("two")  # the second shard still has work
    rest = pop_entries(store, "two", 1, 30, 20)
    assert not store.finish_if_done("two")  # leased
    for entry in rest:
        store.ack("two", entry)
    assert store.finish_if_done("two")
    assert store.status("two")["state"] == "finished"
    # A store over one shard leaves the job alone.
    assert not _store([shared], prefix).serves("two")


def test_admissions_in_one_pipeline_match_one_by_one(
    shared: redis.Redis, second: redis.Redis, prefix: str
) -> None:
    limiter = RateLimiter(Shards([shared, second]), Keys(prefix))
    hosts = [f"g{n}.example" for n in range(6)]
    assert {limiter.shards.of_host(h) for h in hosts} == {0, 1}
    batch = [(host, 10.0, "job", 3) for host in hosts for _ in range(4)]
    results = limiter.admit_many(batch)
    for n, host in enumerate(hosts):
        mine = results[4 * n : 4 * n + 4]
        # Counted 1..4; slots 0.1 s apart; the fourth is over the cap: no slot.
        assert [count for count, _ in mine] == [1, 2, 3, 4], (host, mine)
        assert mine[0][1] == 0.0 and 0.05 < mine[1][1] <= 0.1 and 0.15 < mine[2][1] <= 0.2
        assert mine[3][1] == 0.0
    # A Redis that lost its scripts (a restart) gets them again.
    second.script_flush()
    again = limiter.admit_many([(h, 10.0, "job", 3) for h in hosts])
    assert [count for count, _ in again] == [5] * 6


def test_outbox_keeps_everything_when_redis_fails_before_the_pipeline(
    shared: redis.Redis, prefix: str
) -> None:
    # The first flush of a job reads its filter's size from Redis: Redis away
    # then must not lose the links gathered meanwhile.
    _store([shared], prefix).start("early", ["http://h1.example/"])
    dead = redis.Redis(port=free_port(), socket_connect_timeout=1)
    outbox = Outbox(_store([dead], prefix))
    links = [
        (f"http://h1.example/{n}", encode_entry(f"http://h1.example/{n}", 1)) for n in range(5)
    ]
    outbox.links("early", "http://h1.example/", links)
    lease = encode_entry("http://h1.example/", 0)
    outbox.ack("early", "http://h1.example/", lease)
    outbox.count("early", pages=1)
    before = len(outbox)
    with pytest.raises(redis.RedisError):
        outbox.flush()
    assert len(outbox) == before
    # The page's ack still waits for its links.
    assert outbox._deferred == {("early", "http://h1.example/"): lease}


def _retry_of_a_popped_request(store: JobStore, job: str) -> tuple[WorkerSpider, Any, str]:
    spider = WorkerSpider()
    spider.store = store
    spider.lease_seconds = 30
    queue = JobsQueue(store.server, spider, "unused")
    request = queue.pop()
    assert request is not None
    entry = request.meta["lease"]
    assert spider._held == {(job, request.meta["lg_url"]): entry}
    # What Scrapy's RetryMiddleware hands the scheduler after a 5xx.
    retry = request.replace(dont_filter=True)
    retry.meta["retry_times"] = 1
    return spider, retry, entry


def test_a_retry_goes_back_to_the_queue_and_its_old_lease_is_no_longer_held(
    shared: redis.Redis, prefix: str
) -> None:
    store = _store([shared], prefix)
    store.start("retry", ["http://r1.example/"])
    spider, retry, entry = _retry_of_a_popped_request(store, "retry")
    JobsQueue(shared, spider, "unused").push(retry)
    assert shared.zscore(store.keys.leases("retry"), entry) is None
    assert shared.lrange(store.keys.queue("retry"), 0, -1) == [
        encode_entry("http://r1.example/", 0, 1).encode()
    ]
    # Were Redis to come back without the requeue (its last second lost), the
    # old lease must run out rather than be renewed by this worker for good.
    assert spider._held == {}


def test_a_retry_redis_refuses_is_left_to_its_lease(shared: redis.Redis, prefix: str) -> None:
    store = _store([shared], prefix)
    store.start("refused", ["http://r2.example/"])
    spider, retry, entry = _retry_of_a_popped_request(store, "refused")
    dead = redis.Redis(port=free_port(), socket_connect_timeout=1)
    queue = JobsQueue(shared, spider, "unused")
    queue.store = _store([dead], prefix)
    # Scrapy's engine drops a request whose scheduling raised: the lease is
    # then the request's only way back, so it must not be renewed.
    queue.push(retry)
    assert spider._held == {}
    assert shared.zscore(store.keys.leases("refused"), entry) is not None
    assert spider.outage.down_since is not None
