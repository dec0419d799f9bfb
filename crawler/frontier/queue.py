"""Per-job frontier queues with leases, behind scrapy-redis's Scheduler.

Each job has a FIFO list of entries (``{"u": url, "d": depth}`` as compact
JSON; a revisit adds ``"rv": 1`` and its validators, see :func:`encode_entry`).
Popping an entry moves it, atomically, into the job's lease set with a deadline;
the worker acknowledges it once the page is safely in Kafka (or the fetch is
finished with an error). A live worker renews the leases it holds
(:func:`renew_leases`, every third of the lease), so a slow page is never
handed to a second worker while its worker lives. A worker killed with
``kill -9`` renews and acknowledges nothing: when the lease expires (15 s by
default), the next pop by any worker puts the entry back in the queue. So a
request is never lost, and a page is fetched twice only when a worker dies.

With several shards (:mod:`.shards`) each job has a queue and a lease set on
every shard, holding the requests of that shard's hosts.

:class:`JobsQueue` serves every running job, round-robin, so one worker fleet
crawls all jobs at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from typing import Any

import scrapy
from scrapy_redis.scheduler import Scheduler

from crawler.frontier.connection import REDIS_ERRORS
from crawler.revisit import make_revisit, revisit_of
from linkcore.revisits import Revisit

log = logging.getLogger(__name__)

# KEYS: queue, leases. ARGV: lease seconds, max entries to reclaim, max
# entries to pop. Returns the popped entries (maybe none), each leased until
# now + lease seconds. Expired leases go back to the front (the RPOP end) so
# that they are retried first.
_POP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, entry in ipairs(expired) do
  redis.call('ZREM', KEYS[2], entry)
  redis.call('RPUSH', KEYS[1], entry)
end
local popped = redis.call('RPOP', KEYS[1], tonumber(ARGV[3]))
if not popped then return {} end
local leases = {}
local deadline = now + tonumber(ARGV[1])
for i, entry in ipairs(popped) do
  leases[2 * i - 1] = deadline
  leases[2 * i] = entry
end
redis.call('ZADD', KEYS[2], unpack(leases))
return popped
"""

# KEYS: leases. ARGV: lease seconds, then entries. Moves the deadline of each
# entry that is still leased to now + lease seconds (XX: an entry acked or
# handed out again meanwhile is not leased anew). Returns how many moved.
RENEW = """
local t = redis.call('TIME')
local deadline = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
local moved = 0
for i = 2, #ARGV, 500 do
  local leases = {}
  for j = i, math.min(#ARGV, i + 499) do
    leases[#leases + 1] = deadline
    leases[#leases + 1] = ARGV[j]
  end
  moved = moved + redis.call('ZADD', KEYS[1], 'XX', 'CH', unpack(leases))
end
return moved
"""

# KEYS: queue, leases. ARGV: new entry, the lease it replaces. A leased request
# coming back (a retry) is queued again and its old lease dropped, atomically.
_REQUEUE = """
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS: queue, leases. Give a lease back now (graceful shutdown).
_RELEASE = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  return 1
end
return 0
"""

#: Entries one pop takes from a queue: the round trip is shared by that many pages.
POP_BATCH = 16


def encode_entry(url: str, depth: int, retries: int = 0, revisit: Revisit | None = None) -> str:
    """The queue entry of a request (stable: equal requests give equal entries).

    ``retries`` carries Scrapy's ``retry_times`` across workers, so that a
    request retried by one worker and popped by another still stops after
    ``RETRY_TIMES`` attempts. A ``revisit`` (docs/crawling.md#revisits) adds
    ``"rv": 1``, its validators (``"e"``: ETag, ``"m"``: Last-Modified) when
    known and ``"nf": 1`` when its links are not followed; the fields are
    optional, so entries queued before they existed decode as they did.
    """
    data: dict[str, object] = {"u": url, "d": depth}
    if retries:
        data["r"] = retries
    if revisit is not None:
        data["rv"] = 1
        if revisit.etag:
            data["e"] = revisit.etag
        if revisit.last_modified:
            data["m"] = revisit.last_modified
        if not revisit.follow:
            data["nf"] = 1
    return json.dumps(data, separators=(",", ":"))


def decode_entry(entry: bytes | str) -> tuple[str, int, int]:
    """The URL, depth and retries of a queue entry."""
    url, depth, retries, _ = decode_request(entry)
    return url, depth, retries


def decode_request(entry: bytes | str) -> tuple[str, int, int, Revisit | None]:
    """The URL, depth, retries and revisit (None: an ordinary request) of a queue entry."""
    data = json.loads(entry)
    url, depth = str(data["u"]), int(data["d"])
    revisit = None
    if data.get("rv"):
        revisit = Revisit(
            url,
            depth,
            str(data.get("e", "")),
            str(data.get("m", "")),
            follow=not data.get("nf"),
        )
    return url, depth, int(data.get("r", 0)), revisit


def pop_entries(
    store: Any, job: str, shard: int, lease_seconds: float, count: int = POP_BATCH
) -> list[str]:
    """Up to ``count`` entries of ``job``'s queue on ``shard``, leased for ``lease_seconds``."""
    keys = store.keys
    popped = store.script(shard, _POP)(
        keys=[keys.queue(job), keys.leases(job)], args=[lease_seconds, 100, count]
    )
    return [entry.decode() if isinstance(entry, bytes) else entry for entry in popped or ()]


def renew_leases(store: Any, held: dict[tuple[str, str], str], lease_seconds: float) -> int:
    """Move the deadline of every lease in ``held`` ((job, url) -> entry) to now +
    ``lease_seconds``: one pipeline per shard. Returns how many leases moved.

    Raises Redis's errors; leases on shards that answered are renewed.
    """
    by_shard: dict[int, dict[str, list[str]]] = {}
    for (job, url), entry in held.items():
        by_shard.setdefault(store.shards.of_url(url), {}).setdefault(job, []).append(entry)
    moved = 0
    failure: Exception | None = None
    for shard, jobs in by_shard.items():
        pipe = store.shards[shard].pipeline(transaction=False)
        for job, entries in jobs.items():
            pipe.eval(RENEW, 1, store.keys.leases(job), lease_seconds, *entries)
        try:
            moved += sum(int(n) for n in pipe.execute())
        except REDIS_ERRORS as error:
            failure = error
    if failure is not None:
        raise failure
    return moved


class JobsQueue:
    """The scrapy-redis queue interface (push, pop, len, clear) over all running jobs.

    Built by scrapy-redis's Scheduler as ``JobsQueue(server, spider, key,
    serializer)``; ``spider`` must provide ``store`` (a JobStore),
    ``lease_seconds`` and ``make_request(url, depth, job)``, and may provide
    ``hold(request)`` to track the leases it takes and ``let_go(request)``,
    called when a request's lease is handed back with its retry.

    A pop takes up to :data:`POP_BATCH` entries of one job on one shard in one
    round trip (all leased at once) and hands them out one by one; jobs and
    shards take turns.
    """

    def __init__(self, server: Any, spider: Any, key: str, serializer: Any = None) -> None:
        self.spider = spider
        self.store = spider.store
        self.lease_seconds = float(spider.lease_seconds)
        self.batch = int(getattr(spider, "pop_batch", POP_BATCH))
        self._popped: deque[scrapy.Request] = deque()
        self._sources: list[tuple[str, int]] = []
        self._sources_at = 0.0
        self._next = 0

    def _running(self) -> list[tuple[str, int]]:
        # The running set changes rarely; reading it once a second is plenty.
        now = time.monotonic()
        if now - self._sources_at > 1.0:
            # Archive jobs are read by the worker's ArchiveReader, not crawled.
            jobs = [
                job
                for job in sorted(self.store.running())
                if self.store.serves(job) and self.store.kind(job) == "crawl"
            ]
            self._sources = [
                (job, shard) for job in jobs for shard in range(len(self.store.shards))
            ]
            self._sources_at = now
        return self._sources

    def _unavailable(self, error: Exception) -> None:
        outage = getattr(self.spider, "outage", None)
        if outage is not None:
            outage.noticed(error)

    def __len__(self) -> int:
        if self._popped:
            return len(self._popped)
        keys = self.store.keys
        try:
            total = 0
            sources = self._running()
            for shard in {shard for _, shard in sources}:
                pipe = self.store.shards[shard].pipeline(transaction=False)
                for job, _ in (s for s in sources if s[1] == shard):
                    pipe.llen(keys.queue(job))
                total += sum(int(n) for n in pipe.execute())
            return total
        except REDIS_ERRORS as error:
            # Redis is away: no work to be had from it until it is back.
            self._unavailable(error)
            return 0

    def push(self, request: scrapy.Request) -> None:
        job = request.meta["job"]
        url = request.meta["lg_url"]
        entry = encode_entry(
            url,
            int(request.meta.get("depth", 0)),
            int(request.meta.get("retry_times", 0)),
            revisit_of(request.meta),
        )
        keys = self.store.keys
        shard = self.store.shards.of_url(url)
        lease = request.meta.get("lease")
        if not lease:
            self.store.shards[shard].lpush(keys.queue(job), entry)
            return
        try:
            self.store.script(shard, _REQUEUE)(
                keys=[keys.queue(job), keys.leases(job)], args=[entry, lease]
            )
        except REDIS_ERRORS as error:
            # Scrapy's engine would drop the request without an outcome. Its
            # lease is still in Redis: left to run out, it hands the request
            # to a worker again.
            self._unavailable(error)
            log.warning("%s: retry left to its lease (%s)", url, " ".join(str(error).split()))
        finally:
            # Requeued or not, the old lease is no longer this worker's to
            # renew: renewed, a lease that Redis kept (or got back with its
            # append-only file's last second) would outlive every outcome.
            let_go = getattr(self.spider, "let_go", None)
            if let_go is not None:
                let_go(request)

    def push_new(self, request: scrapy.Request) -> bool:
        """Queue ``request`` unless its job has seen its URL (one atomic step).

        Returns False for a URL the job's Bloom filter already holds.
        """
        job = request.meta["job"]
        url = request.meta["lg_url"]
        entry = encode_entry(url, int(request.meta.get("depth", 0)), 0, revisit_of(request.meta))
        shard = self.store.shards.of_url(url)
        bloom = self.store.bloom(job, shard)
        queued: bool = bloom.add_and_push(url, self.store.keys.queue(job), entry)
        return queued

    def pop(self, timeout: int = 0) -> scrapy.Request | None:
        if not self._popped:
            try:
                self._fill()
            except REDIS_ERRORS as error:
                # Entries popped just before Redis went away are leased in
                # Redis and come back when their lease expires.
                self._unavailable(error)
                return None
        return self._popped.popleft() if self._popped else None

    def _fill(self) -> None:
        sources = self._running()
        for offset in range(len(sources)):
            job, shard = sources[(self._next + offset) % len(sources)]
            entries = pop_entries(self.store, job, shard, self.lease_seconds, self.batch)
            if not entries:
                continue
            self._next = (self._next + offset + 1) % len(sources)
            hold = getattr(self.spider, "hold", None)
            for entry in entries:
                url, depth, retries, revisit = decode_request(entry)
                request: scrapy.Request = self.spider.make_request(url, depth, job)
                if revisit is not None:
                    make_revisit(request, revisit)
                if retries:
                    request.meta["retry_times"] = retries
                request.meta["lease"] = entry
                if hold is not None:
                    hold(request)
                self._popped.append(request)
            return

    def ack(self, job: str, entry: str) -> None:
        """The entry's work is done (page in Kafka, or fetch finished with an error)."""
        self.store.ack(job, entry)

    def release(self, job: str, entry: str) -> bool:
        """Give a lease back to the queue now (graceful shutdown)."""
        return bool(self.store.release(job, entry))

    def clear(self) -> None:
        # Queues belong to jobs (``job stop`` clears them), not to a worker.
        return None


class JobsScheduler(Scheduler):  # type: ignore[misc]  # scrapy-redis ships no types
    """scrapy-redis's Scheduler, with the seen-check and the push made one step.

    The stock scheduler asks the dupefilter, then pushes: a worker killed
    between the two would leave a URL marked seen but never queued, and the
    job would silently miss it.
    """

    def enqueue_request(self, request: scrapy.Request) -> bool:
        queue: JobsQueue = self.queue
        if request.dont_filter:
            queue.push(request)
        elif not queue.push_new(request):
            self.df.log(request, self.spider)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis", spider=self.spider)
        return True
