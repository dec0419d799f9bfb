"""The frontier alone: pages/s, Redis CPU and round trips per page, over 1, 2 and 4 shards.

Simulated workers drive the frontier as ``linkgraph worker`` does, without
fetching or parsing: pop a batch of leased requests, admit them (each
request's host rate slot and page count, one pipeline, as the worker's
engine starts a popped batch in one turn), hand the page's in-scope links, its counters and
its lease's ack to the :class:`~crawler.frontier.outbox.Outbox` (flushed every
0.25 s, as in the worker), renew held leases every third of the lease. Each
page links like a page of the benchmark web (:mod:`bench.web`): 12 navigation
links and 48 links within its site (among them pages ``2k+1`` and ``2k+2``, so
every page is reached), 8 to the other seed sites, 32 more that leave the
scope (counted, never queued); the web has 256 sites rather than 8, so that
hosts spread over the shards (a hash of 256 names still puts up to ~20 % more
than a quarter of them on one of four shards: the busiest shard sets the
ceiling).

Redis's cost is per URL it is asked about, and a worker asks only about
links it has not had checked before (:class:`~crawler.frontier.outbox.Outbox`):
the figures give both the URLs checked per page and the cost per URL, since
a web with fewer repeated links than this one checks more URLs per page.

The Redis servers are this benchmark's own: 1, 2 and 4 ``redis-server``
processes on free ports, each with a directory under a temporary one, no
persistence, stopped afterwards. Redis CPU is ``INFO cpu`` of every shard
before and after a job; round trips are counted at the workers' sockets (one
per command or pipeline sent). Each shard count runs three times, the counts
alternating, and keeps its median run (by Redis CPU per page).

The baseline is the frontier as it was: per page a pop, a host count, a rate
slot, counters, one Bloom script per in-scope link (ten ``SETBIT`` calls
each) in a pipeline, an ack and a counter, over one Redis.

What the 4-vs-1 ratio means depends on the machine: a simulated worker costs
far more CPU than Redis does per page, so on a machine with few cores the
workers, not Redis, set the pages/s, and adding shards cannot raise it. The
benchmark therefore also reports each shard's Redis CPU per page and the
ceiling it implies (1 s of one Redis core divided by the busiest shard's CPU
per page): what the fleet could reach with enough worker machines.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Figure, Note, Result, say

__all__ = ["run"]

#: Seed sites of the simulated web: more than the benchmark web's 8, so that
#: hosts spread over shards more as a real crawl's thousands do.
SITES = 256
#: Links per page that leave the crawl's scope (external, mailto, javascript).
OUT_OF_SCOPE = 32
#: Runs of each shard count (alternating); each figure is from the median run.
REPEATS = 3
#: Rate and page cap the simulated job runs with (never binding).
RATE = 100_000.0
HOST_CAP = 1_000_000
LEASE = 15.0

# The frontier as it was: one script call per link, one SETBIT per bit.
_LEGACY_ADD_AND_PUSH = """
local new = 0
for i = 2, #ARGV do
  if redis.call('SETBIT', KEYS[1], ARGV[i], 1) == 0 then new = 1 end
end
if new == 1 then redis.call('LPUSH', KEYS[2], ARGV[1]) end
return new
"""


def _site(index: int) -> str:
    return f"www.bench-site-{index}.com"


def _path(page: int) -> str:
    return "/" if page == 0 else f"/section/{page % 10}/article-{page}.html"


def _page_of(url: str) -> tuple[int, int]:
    """(site, page) of a simulated page's URL."""
    _, _, host, path = url.split("/", 3)
    site = int(host[len("www.bench-site-") : -len(".com")])
    page = 0 if not path else int(path.rsplit("-", 1)[1][: -len(".html")])
    return site, page


def links(url: str, per_site: int) -> list[str]:
    """The in-scope links of the simulated page at ``url`` (the benchmark web's counts)."""
    site, page = _page_of(url)
    rng = random.Random(site * 1_000_003 + page)
    host = _site(site)
    targets = [n % per_site for n in range(1, 13)]
    targets += [(2 * page + 1) % per_site, (2 * page + 2) % per_site]
    targets += [rng.randrange(per_site) for _ in range(46)]
    found = [f"http://{host}{_path(target)}" for target in targets]
    for _ in range(8):
        other = rng.choice([s for s in range(SITES) if s != site])
        found.append(f"http://{_site(other)}{_path(rng.randrange(per_site))}")
    return found


class _CountingConnection:
    """Mixed into redis-py's Connection: counts what it sends (one round trip each)."""

    sent = 0


def _counting_connection_class() -> type:
    import redis

    class Counting(redis.Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            _CountingConnection.sent += 1
            super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

    return Counting


@dataclass(slots=True)
class Run:
    """One simulated job: what it cost and how fast it went."""

    shards: int
    legacy: bool
    workers: int
    pages: int = 0
    wall: float = 0.0
    round_trips: int = 0
    commands: int = 0
    checked: int = 0
    #: Redis CPU seconds inside the Bloom scripts (``INFO commandstats`` of EVAL).
    bloom: float = 0.0
    cpu: list[float] = field(default_factory=list)

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.wall if self.wall else 0.0

    @property
    def cpu_us_per_page(self) -> float:
        return sum(self.cpu) / self.pages * 1e6 if self.pages else 0.0

    @property
    def us_per_url(self) -> float:
        """Redis CPU per URL checked, in the Bloom scripts."""
        return self.bloom / self.checked * 1e6 if self.checked else 0.0

    @property
    def us_per_page_besides(self) -> float:
        """Redis CPU per page outside the Bloom scripts (pops, admissions, acks, counters,
        renewals, and the network)."""
        return (sum(self.cpu) - self.bloom) / self.pages * 1e6 if self.pages else 0.0

    @property
    def busiest_us_per_page(self) -> float:
        return max(self.cpu) / self.pages * 1e6 if self.pages else 0.0

    @property
    def ceiling(self) -> float:
        """Pages/s at which the busiest shard would use one core."""
        return 1e6 / self.busiest_us_per_page if self.pages else 0.0


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_servers(root: Path, count: int) -> Iterator[list[str]]:
    """``count`` redis-servers on free ports, each in a folder of ``root``; their URLs."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not on PATH (Debian: apt-get install redis-server)")
    ports: list[int] = []
    try:
        for _ in range(count):
            port = _free_port()
            folder = root / f"redis-{port}"
            folder.mkdir(parents=True)
            subprocess.run(
                [binary, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
                 "--save", "", "--appendonly", "no", "--dir", str(folder),
                 "--logfile", str(folder / "redis.log")],
                check=True,
                capture_output=True,
            )  # fmt: skip
            ports.append(port)
        for port in ports:
            deadline = time.monotonic() + 20
            while True:
                try:
                    redis.Redis(port=port).ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server on {port} did not answer") from None
                    time.sleep(0.05)
        yield [f"redis://127.0.0.1:{port}/0" for port in ports]
    finally:
        for port in ports:
            # The connection closes as the server shuts down: that is its answer.
            with contextlib.suppress(redis.RedisError):
                redis.Redis(port=port).shutdown(nosave=True)


def _cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _commands(client: Any) -> tuple[int, float]:
    """Commands run so far, and seconds spent in EVAL (the outbox's Bloom scripts)."""
    stats = client.info("commandstats")
    calls = sum(int(stat["calls"]) for stat in stats.values())
    return calls, float(stats.get("cmdstat_eval", {}).get("usec", 0)) / 1e6


def _store(urls: list[str], prefix: str, counting: bool) -> Any:
    import redis

    from crawler.frontier.jobs import JobStore
    from crawler.frontier.keys import Keys
    from crawler.frontier.shards import Shards

    extra: dict[str, Any] = {}
    if counting:
        extra["connection_class"] = _counting_connection_class()
    clients = [redis.Redis(connection_pool=redis.ConnectionPool.from_url(u, **extra)) for u in urls]
    return JobStore(Shards(clients), Keys(prefix))


def _worker(urls: list[str], prefix: str, job: str, per_site: int, legacy: bool, out: Any) -> None:
    """One simulated worker: crawls ``job`` until it is finished; reports (pages, round
    trips, URLs checked)."""
    store = _store(urls, prefix, counting=True)
    crawl = _legacy_crawl if legacy else _crawl
    pages, checked = crawl(store, job, per_site)
    out.put((pages, _CountingConnection.sent, checked))


def _crawl(store: Any, job: str, per_site: int) -> tuple[int, int]:
    from crawler.frontier.outbox import FLUSH_SECONDS, Outbox
    from crawler.frontier.queue import (
        POP_BATCH,
        decode_entry,
        encode_entry,
        pop_entries,
        renew_leases,
    )
    from crawler.frontier.ratelimit import RateLimiter
    from crawler.frontier.shards import host_key

    limiter = RateLimiter(store.shards, store.keys)
    held: dict[tuple[str, str], str] = {}

    def acked(job: str, url: str) -> None:
        held.pop((job, url), None)

    outbox = Outbox(store, on_acked=acked)
    shards = len(store.shards)
    turn, pages = 0, 0
    flushed = renewed = time.monotonic()
    while True:
        entries: list[str] = []
        for offset in range(shards):
            shard = (turn + offset) % shards
            entries = pop_entries(store, job, shard, LEASE, POP_BATCH)
            if entries:
                turn = shard + 1
                break
        if not entries:
            outbox.flush()
            outbox.flush()
            if store.finish_if_done(job) or store.get(job).state != "running":
                return pages, outbox.checked
            # An idle worker looks again twice a second; this one sooner.
            time.sleep(0.05)
            continue
        # The engine starts a popped batch's requests in one turn: their
        # admissions go together (crawler.frontier.ratelimit.Admissions).
        decoded = [decode_entry(entry) for entry in entries]
        limiter.admit_many([(host_key(url), RATE, job, HOST_CAP) for url, _, _ in decoded])
        for entry, (url, depth, _) in zip(entries, decoded, strict=True):
            held[(job, url)] = entry
            children = [(t, encode_entry(t, depth + 1)) for t in links(url, per_site)]
            outbox.links(job, url, children)
            outbox.count(job, pages=1, links=len(children) + OUT_OF_SCOPE, produced=1)
            outbox.ack(job, url, entry)
            pages += 1
        now = time.monotonic()
        if now - flushed >= FLUSH_SECONDS:
            outbox.flush()
            flushed = now
        if now - renewed >= LEASE / 3:
            renew_leases(store, dict(held), LEASE)
            renewed = now


def _legacy_crawl(store: Any, job: str, per_site: int) -> tuple[int, int]:
    from crawler.frontier.bloom import positions
    from crawler.frontier.queue import decode_entry, encode_entry, pop_entries
    from crawler.frontier.ratelimit import RateLimiter
    from crawler.frontier.shards import host_key

    server = store.server
    limiter = RateLimiter(store.shards, store.keys)
    script = server.register_script(_LEGACY_ADD_AND_PUSH)
    bloom = store.bloom(job)
    queue, pages, checked = store.keys.queue(job), 0, 0
    while True:
        entries = pop_entries(store, job, 0, LEASE, 1)
        if not entries:
            if store.finish_if_done(job) or store.get(job).state != "running":
                return pages, checked
            time.sleep(0.05)
            continue
        entry = entries[0]
        url, depth, _ = decode_entry(entry)
        host = host_key(url)
        store.host_count(job, host)
        limiter.reserve(host, RATE)
        children = links(url, per_site)
        store.count(job, pages=1, links=len(children) + OUT_OF_SCOPE)
        pipe = server.pipeline(transaction=False)
        for target in children:
            args = [encode_entry(target, depth + 1), *positions(target, bloom.bits, bloom.hashes)]
            script(keys=[bloom.key, queue], args=args, client=pipe)
        pipe.execute()
        checked += len(children)
        store.ack(job, entry)
        store.count(job, produced=1)
        pages += 1


def _run(urls: list[str], pages: int, workers: int, legacy: bool) -> Run:
    import redis

    clients = [redis.Redis.from_url(url) for url in urls]
    for client in clients:
        client.flushall()
        client.config_resetstat()
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    job = "frontier"
    per_site = max(1, pages // SITES)
    store = _store(urls, prefix, counting=False)
    seeds = [f"http://{_site(site)}/" for site in range(SITES)]
    store.start(job, seeds, rate=RATE, max_pages_per_host=HOST_CAP, bloom_capacity=pages * 2)
    before = [_cpu(client) for client in clients]
    commands_before = [_commands(client) for client in clients]
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    started = time.monotonic()
    processes = [
        context.Process(target=_worker, args=(urls, prefix, job, per_site, legacy, out))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    reports = [out.get(timeout=1800) for _ in processes]
    wall = time.monotonic() - started
    for process in processes:
        process.join(30)
    result = Run(len(urls), legacy, workers, wall=wall)
    result.pages = int(store.require(job).counters["pages"])
    result.round_trips = sum(sent for _, sent, _ in reports)
    result.checked = sum(checked for _, _, checked in reports)
    result.cpu = [_cpu(client) - b for client, b in zip(clients, before, strict=True)]
    commands_after = [_commands(client) for client in clients]
    result.commands = sum(a[0] - b[0] for a, b in zip(commands_after, commands_before, strict=True))
    if not legacy:
        result.bloom = sum(
            a[1] - b[1] for a, b in zip(commands_after, commands_before, strict=True)
        )
    crawled = sum(n for n, _, _ in reports)
    if crawled != result.pages or result.pages != per_site * SITES:
        raise RuntimeError(
            f"simulated crawl of {per_site * SITES} pages crawled {crawled}, counted {result.pages}"
        )
    return result


def memory(url: str, entries: int) -> tuple[float, float, float]:
    """Redis bytes per queued request, per leased request and per seen URL.

    ``entries`` requests of the simulated web go into one job's queue (in
    chunks of 10,000 through the Bloom script, as workers queue them); then a
    tenth of them are leased. The queue and the lease set grow linearly,
    so the per-entry figures hold at 10M entries; the Bloom filter of a job
    sized for 10M URLs is allocated whole (its last bit set) and measured.
    """
    import redis

    from crawler.frontier.bloom import RedisBloom
    from crawler.frontier.queue import encode_entry, pop_entries

    client = redis.Redis.from_url(url)
    client.flushall()
    store = _store([url], "mem:", counting=False)
    store.start("mem", [f"http://{_site(0)}/"], bloom_capacity=max(entries * 2, 1))
    queue = store.keys.queue("mem")
    client.delete(queue)
    bloom = store.bloom("mem")
    per_site = max(1, entries // SITES)
    for start in range(0, entries, 10_000):
        chunk = []
        for n in range(start, min(entries, start + 10_000)):
            target = f"http://{_site(n % SITES)}{_path(n // SITES % per_site or 1)}?n={n}"
            chunk.append((target, encode_entry(target, 3)))
        bloom.add_and_push_many(chunk, queue)
    queued = int(client.llen(queue))
    queue_bytes = int(client.memory_usage(queue, samples=0) or 0)
    leased = 0
    while leased < queued // 10:
        leased += len(pop_entries(store, "mem", 0, 3600, 1000))
    lease_bytes = int(client.memory_usage(store.keys.leases("mem"), samples=0) or 0)
    full = RedisBloom(client, "mem:full-bloom", 10_000_000)
    client.setbit(full.key, full.bits - 1, 1)
    bloom_bytes = int(client.memory_usage(full.key, samples=0) or 0)
    client.flushall()
    return queue_bytes / max(queued - leased, 1), lease_bytes / max(leased, 1), bloom_bytes / 1e7


def run(*, quick: bool = False) -> Result:
    """Simulated jobs over 1, 2 and 4 shards and the old frontier over one."""
    pages = 4_000 if quick else 24_000
    legacy_pages = 2_000 if quick else 4_000
    workers = max(2, os.cpu_count() or 1)
    root = Path(tempfile.mkdtemp(prefix="linkgraph-bench-frontier-"))
    reps = 1 if quick else REPEATS
    tried: dict[int, list[Run]] = {1: [], 2: [], 4: []}
    try:
        with redis_servers(root, 4) as urls:
            say(f"frontier: old frontier, 1 shard, {legacy_pages} pages")
            legacy = _run(urls[:1], legacy_pages, workers, legacy=True)
            # Shard counts alternate, so that a slow spell of this shared machine
            # falls on all of them alike; each keeps its median run.
            for rep in range(reps):
                for shards in tried:
                    say(
                        f"frontier: {shards} shard(s), {pages} pages, {workers} workers "
                        f"(run {rep + 1} of {reps})"
                    )
                    tried[shards].append(_run(urls[:shards], pages, workers, legacy=False))
            say("frontier: memory per request")
            queued, leased, seen = memory(urls[0], 200_000 if quick else 1_000_000)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    runs = {
        shards: sorted(done, key=lambda r: r.cpu_us_per_page)[len(done) // 2]
        for shards, done in tried.items()
    }
    one, four = runs[1], runs[4]

    notes = [
        Note(
            f"frontier, {n} shard{'s' if n > 1 else ''}: pages/s",
            r.pages_per_second,
            "pages/s",
            f"median of {reps} runs by Redis CPU: {r.pages} simulated pages, {r.workers} "
            "simulated workers; Redis CPU "
            f"{r.cpu_us_per_page:.1f} µs per page in all (per shard: "
            + ", ".join(f"{c / r.pages * 1e6:.1f}" for c in r.cpu)
            + f"): {r.checked / r.pages:.1f} URLs checked per page at {r.us_per_url:.1f} µs "
            f"each in the Bloom script, {r.us_per_page_besides:.0f} µs per page besides; "
            f"{r.round_trips / r.pages:.2f} round trips and "
            f"{r.commands / r.pages:.1f} Redis commands per page; busiest shard's ceiling "
            f"{r.ceiling:,.0f} pages/s (one core per shard), "
            f"{n * 1e6 / max(r.cpu_us_per_page, 1e-9):,.0f} with the load spread evenly",
        )
        for n, r in runs.items()
    ]
    notes.append(
        Note(
            "old frontier (one Bloom script per link), 1 shard: pages/s",
            legacy.pages_per_second,
            "pages/s",
            f"{legacy.pages} simulated pages; Redis CPU {legacy.cpu_us_per_page:.0f} µs per "
            f"page ({legacy.checked / legacy.pages:.0f} URLs checked per page, "
            f"{sum(legacy.cpu) / legacy.checked * 1e6:.1f} µs of it per URL), "
            f"{legacy.round_trips / legacy.pages:.1f} round trips and "
            f"{legacy.commands / legacy.pages:.0f} Redis commands per page; ceiling "
            f"{legacy.ceiling:,.0f} pages/s",
        )
    )
    cores = os.cpu_count() or 1
    notes.append(
        Note(
            "frontier, 4 shards vs 1 on this machine (measured pages/s)",
            four.pages_per_second / one.pages_per_second if one.pages_per_second else 0.0,
            "×",
            f"{cores} cores for {four.workers} simulated workers and 4 redis-servers: the "
            "workers' CPU sets the pace here; the ceiling ratio above is what more worker "
            "machines would see",
        )
    )
    notes.append(
        Note(
            "Redis bytes per queued request",
            queued,
            "bytes",
            f"MEMORY USAGE of a job's queue of {200_000 if quick else 1_000_000:,} simulated "
            "requests (a list: linear, so also the figure at 10M)",
        )
    )
    notes.append(Note("Redis bytes per leased request", leased, "bytes", "the lease set"))
    notes.append(
        Note(
            "Redis bytes per seen URL",
            seen,
            "bytes",
            "a job's Bloom filter sized for 10M URLs at 0.1 % false positives, allocated "
            "whole (over several shards each filter is sized for twice its shard's share: "
            "twice this per URL in all)",
        )
    )
    return Result(
        figures=[
            Figure(
                "frontier: Redis CPU per page, 1 shard (target ≤ 50 µs)",
                "µs/page",
                one.cpu_us_per_page,
                legacy.cpu_us_per_page,
                "old frontier: a Bloom script per link",
                target=legacy.cpu_us_per_page / 50.0,
                higher_is_better=False,
            ),
            Figure(
                "frontier: Redis round trips per page on a worker, 4 shards (target ≤ 3)",
                "round trips",
                four.round_trips / four.pages,
                legacy.round_trips / legacy.pages,
                "old frontier, 1 shard",
                target=legacy.round_trips / legacy.pages / 3.0,
                higher_is_better=False,
            ),
            Figure(
                "frontier ceiling, 4 shards vs 1 (busiest shard's Redis CPU per page)",
                "pages/s",
                four.ceiling,
                one.ceiling,
                "1 shard",
                target=3.0,
            ),
            Figure(
                "frontier pages/s measured here, 4 shards vs 1",
                "pages/s",
                four.pages_per_second,
                one.pages_per_second,
                f"1 shard ({cores} cores: worker-bound)",
                target=3.0,
            ),
        ],
        notes=notes,
    )
