"""Per-job frontier queues with leases, behind scrapy-redis's Scheduler.

Each job has a FIFO list of entries (``{"u": url, "d": depth}`` as compact
JSON). Popping an entry moves it, atomically, into the job's lease set with a
deadline; the worker acknowledges it once the page is safely in Kafka (or the
fetch is finished with an error). A worker killed with ``kill -9`` acknowledges
nothing: when the lease expires, the next pop by any worker puts the entry back
in the queue. So a request is never lost, and a page is fetched twice only
when a worker dies or a lease runs out.

:class:`JobsQueue` serves every running job, round-robin, so one worker fleet
crawls all jobs at once.
"""

from __future__ import annotations

import json
import time
from typing import Any

import scrapy
from scrapy_redis.scheduler import Scheduler

from crawler.frontier.connection import REDIS_ERRORS

# KEYS: queue, leases. ARGV: lease seconds, max entries to reclaim.
# Returns the popped entry or nil. Expired leases go back to the front (the
# RPOP end) so that they are retried first.
_POP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, entry in ipairs(expired) do
  redis.call('ZREM', KEYS[2], entry)
  redis.call('RPUSH', KEYS[1], entry)
end
local entry = redis.call('RPOP', KEYS[1])
if entry then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), entry)
end
return entry
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


def encode_entry(url: str, depth: int, retries: int = 0) -> str:
    """The queue entry of a request (stable: equal requests give equal entries).

    ``retries`` carries Scrapy's ``retry_times`` across workers, so that a
    request retried by one worker and popped by another still stops after
    ``RETRY_TIMES`` attempts.
    """
    data: dict[str, object] = {"u": url, "d": depth}
    if retries:
        data["r"] = retries
    return json.dumps(data, separators=(",", ":"))


def decode_entry(entry: bytes | str) -> tuple[str, int, int]:
    data = json.loads(entry)
    return str(data["u"]), int(data["d"]), int(data.get("r", 0))


class JobsQueue:
    """The scrapy-redis queue interface (push, pop, len, clear) over all running jobs.

    Built by scrapy-redis's Scheduler as ``JobsQueue(server, spider, key,
    serializer)``; ``spider`` must provide ``store`` (a JobStore),
    ``lease_seconds`` and ``make_request(url, depth, job)``, and may provide
    ``hold(request)`` to track the leases it takes.
    """

    def __init__(self, server: Any, spider: Any, key: str, serializer: Any = None) -> None:
        self.server = server
        self.spider = spider
        self.store = spider.store
        self.lease_seconds = float(spider.lease_seconds)
        self._pop = server.register_script(_POP)
        self._release = server.register_script(_RELEASE)
        self._requeue = server.register_script(_REQUEUE)
        self._jobs: list[str] = []
        self._jobs_at = 0.0
        self._next = 0

    def _running(self) -> list[str]:
        # The running set changes rarely; reading it once a second is plenty.
        now = time.monotonic()
        if now - self._jobs_at > 1.0:
            self._jobs = sorted(self.store.running())
            self._jobs_at = now
        return self._jobs

    def _unavailable(self, error: Exception) -> None:
        outage = getattr(self.spider, "outage", None)
        if outage is not None:
            outage.noticed(error)

    def __len__(self) -> int:
        keys = self.store.keys
        try:
            return sum(int(self.server.llen(keys.queue(job))) for job in self._running())
        except REDIS_ERRORS as error:
            # Redis is away: no work to be had from it until it is back.
            self._unavailable(error)
            return 0

    def push(self, request: scrapy.Request) -> None:
        job = request.meta["job"]
        entry = encode_entry(
            request.meta["lg_url"],
            int(request.meta.get("depth", 0)),
            int(request.meta.get("retry_times", 0)),
        )
        keys = self.store.keys
        lease = request.meta.get("lease")
        if lease:
            self._requeue(keys=[keys.queue(job), keys.leases(job)], args=[entry, lease])
        else:
            self.server.lpush(keys.queue(job), entry)

    def push_new(self, request: scrapy.Request) -> bool:
        """Queue ``request`` unless its job has seen its URL (one atomic step).

        Returns False for a URL the job's Bloom filter already holds.
        """
        job = request.meta["job"]
        url = request.meta["lg_url"]
        entry = encode_entry(url, int(request.meta.get("depth", 0)))
        queued: bool = self.store.bloom(job).add_and_push(url, self.store.keys.queue(job), entry)
        return queued

    def pop(self, timeout: int = 0) -> scrapy.Request | None:
        try:
            return self._pop_one()
        except REDIS_ERRORS as error:
            # An entry popped just before Redis went away is leased in Redis
            # and comes back when its lease expires.
            self._unavailable(error)
            return None

    def _pop_one(self) -> scrapy.Request | None:
        jobs = self._running()
        keys = self.store.keys
        for offset in range(len(jobs)):
            job = jobs[(self._next + offset) % len(jobs)]
            entry = self._pop(
                keys=[keys.queue(job), keys.leases(job)], args=[self.lease_seconds, 100]
            )
            if entry is None:
                continue
            self._next = (self._next + offset + 1) % len(jobs)
            url, depth, retries = decode_entry(entry)
            request: scrapy.Request = self.spider.make_request(url, depth, job)
            if retries:
                request.meta["retry_times"] = retries
            request.meta["lease"] = entry.decode() if isinstance(entry, bytes) else entry
            hold = getattr(self.spider, "hold", None)
            if hold is not None:
                hold(request)
            return request
        return None

    def ack(self, job: str, entry: str) -> None:
        """The entry's work is done (page in Kafka, or fetch finished with an error)."""
        self.server.zrem(self.store.keys.leases(job), entry)

    def release(self, job: str, entry: str) -> bool:
        """Give a lease back to the queue now (graceful shutdown)."""
        keys = self.store.keys
        return bool(self._release(keys=[keys.queue(job), keys.leases(job)], args=[entry]))

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
