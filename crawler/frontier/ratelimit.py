"""A per-host request rate that holds across every worker (docs/crawling.md#politeness-and-caps).

Each request to a host reserves the host's next free slot in Redis, one Lua
script on the server's clock: ``slot = max(now, next); next = slot + 1/rate``.
The worker waits until its slot, then downloads. Workers on any number of
machines therefore space their requests to one host by ``1/rate`` seconds
together, not each.

The same script counts the request against the job's per-host page cap
(:class:`~crawler.middlewares.HostPageCapMiddleware` reads the count from
``request.meta["lg_host_count"]``); a request over the cap reserves no slot.
A worker sends the admissions of the requests it starts together
(:class:`Admissions`): one script call per shard for the whole batch.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from crawler.frontier.connection import REDIS_ERRORS
from crawler.frontier.shards import Shards

log = logging.getLogger(__name__)

#: A request to admit: (host, requests per second, job or "", the job's per-host cap or 0).
Admission = tuple[str, float, str, int]

# KEYS: per request, the host's rate key and the job's count of the host (any
# key when the request is not counted). ARGV: per request, interval seconds
# (0: no rate), the job's per-host cap (0: none), 1 when counted else 0.
# Returns per request its count and its seconds to wait (as a string): the
# host's request count in the job (0 when not counted), and no wait (no slot
# taken) when the count is over the cap. One call admits a whole batch, on one
# clock reading: Redis's cost per request is then a few commands, not a script
# call each.
_ADMIT = """
local t = redis.call('TIME')
local now = t[1] + t[2] / 1000000
local out = {}
for i = 1, #KEYS / 2 do
  local a = 3 * i
  local count = 0
  local wait = '0'
  if ARGV[a] == '1' then count = redis.call('INCR', KEYS[2 * i]) end
  local cap = ARGV[a - 1] + 0
  local interval = ARGV[a - 2] + 0
  if interval > 0 and (cap <= 0 or count <= cap) then
    local key = KEYS[2 * i - 1]
    local slot = math.max(now, (redis.call('GET', key) or 0) + 0)
    redis.call('SET', key, string.format('%.6f', slot + interval),
               'PX', math.ceil((slot - now + interval) * 1000) + 60000)
    if slot > now then wait = string.format('%.6f', slot - now) end
  end
  out[2 * i - 1] = count
  out[2 * i] = wait
end
return out
"""


class RateLimiter:
    """Reserves request slots per host at ``rate`` requests per second.

    ``server`` is one Redis client or :class:`~crawler.frontier.shards.Shards`:
    a host's slot lives on its shard.
    """

    def __init__(self, server: Any, keys: Any) -> None:
        self.shards = server if isinstance(server, Shards) else Shards([server])
        self.keys = keys
        self._admit = [client.register_script(_ADMIT) for client in self.shards.clients]

    def admit(self, host: str, rate: float, job: str = "", cap: int = 0) -> tuple[int, float]:
        """Count a request of ``job`` to ``host`` (when ``job`` is given) and reserve its
        slot: ``(the host's count in the job, 0 if not counted; seconds to wait)``."""
        return self.admit_many([(host, rate, job, cap)])[0]

    def admit_many(self, requests: list[Admission]) -> list[tuple[int, float]]:
        """:meth:`admit` for each ``(host, rate, job, cap)``, in order: one script call
        per shard concerned."""
        by_shard: dict[int, list[int]] = {}
        for index, (host, _, _, _) in enumerate(requests):
            by_shard.setdefault(self.shards.of_host(host), []).append(index)
        results: list[tuple[int, float]] = [(0, 0.0)] * len(requests)
        for shard, indexes in by_shard.items():
            keys: list[str] = []
            args: list[Any] = []
            for index in indexes:
                host, rate, job, cap = requests[index]
                rate_key = self.keys.rate(host)
                keys += (rate_key, self.keys.host(job, host) if job else rate_key)
                args += (1.0 / rate if rate > 0 else 0.0, cap, 1 if job else 0)
            # The Script object loads the script again if Redis restarted without it.
            replies = self._admit[shard](keys=keys, args=args)
            for position, index in enumerate(indexes):
                results[index] = (int(replies[2 * position]), float(replies[2 * position + 1]))
        return results

    def reserve(self, host: str, rate: float) -> float:
        """Seconds to wait before requesting ``host`` (0 when its slot is now)."""
        if rate <= 0:
            return 0.0
        return self.admit(host, rate)[1]


class Admissions:
    """Admits requests in batches: every :meth:`admit` asked for in one turn of the
    reactor goes to Redis together (:meth:`RateLimiter.admit_many`).

    The engine hands the downloader the requests it takes from the scheduler
    one after the other in one turn, so a worker's admissions of a batch of
    popped requests cost one round trip per shard, not one each; each request
    still reserves its slot just before it goes out.
    """

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self._pending: list[tuple[Admission, Deferred[tuple[int, float]]]] = []
        #: Admissions sent, and the batches they went in.
        self.admitted = 0
        self.batches = 0

    def admit(self, host: str, rate: float, job: str, cap: int) -> Deferred[tuple[int, float]]:
        """The result of :meth:`RateLimiter.admit`, once this turn's batch is answered
        (or its Redis error)."""
        from twisted.internet import reactor as twisted_reactor

        reactor: Any = twisted_reactor
        answer: Deferred[tuple[int, float]] = Deferred()
        if not self._pending:
            reactor.callLater(0, self._send)
        self._pending.append(((host, rate, job, cap), answer))
        return answer

    def _send(self) -> None:
        pending, self._pending = self._pending, []
        try:
            results = self.limiter.admit_many([request for request, _ in pending])
        except REDIS_ERRORS as error:
            for _, answer in pending:
                answer.errback(error)
            return
        self.admitted += len(pending)
        self.batches += 1
        for (_, answer), result in zip(pending, results, strict=True):
            answer.callback(result)


class RateLimitMiddleware:
    """Downloader middleware: waits for the host's cluster-wide slot.

    The rate is the request's job rate (``request.meta["rate"]``, requests per
    second per host), else ``LINKGRAPH_RATE``. Needs ``spider.rate_limiter``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.default_rate = crawler.settings.getfloat("LINKGRAPH_RATE", 0.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RateLimitMiddleware:
        if not crawler.settings.getbool("LINKGRAPH_DISTRIBUTED"):
            raise NotConfigured("one-process crawls use Scrapy's per-host delay")
        return cls(crawler)

    async def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        limiter = getattr(self.crawler.spider, "rate_limiter", None)
        if limiter is None:
            return None
        rate = float(request.meta.get("rate") or self.default_rate)
        host = (urlsplit(request.url).hostname or "").lower()
        job = request.meta.get("job") or ""
        cap = int(request.meta.get("host_cap") or 0)
        counted = bool(
            job
            and cap > 0
            and not request.meta.get("lg_robots")
            and not request.meta.get("dont_obey_robotstxt")
        )
        if not counted and rate <= 0:
            return None

        def admit() -> tuple[int, float]:
            admitted: tuple[int, float] = limiter.admit(
                host, rate, job if counted else "", cap if counted else 0
            )
            return admitted

        outage = getattr(self.crawler.spider, "outage", None)
        admissions = getattr(self.crawler.spider, "admissions", None)
        answered = False
        if admissions is not None:
            try:
                count, wait = await maybe_deferred_to_future(
                    admissions.admit(host, rate, job if counted else "", cap if counted else 0)
                )
                answered = True
            except REDIS_ERRORS as error:
                if outage is None:
                    raise
                outage.noticed(error)
        if not answered and outage is not None:
            # Redis away: wait for it rather than fail the request or skip the rate.
            count, wait = await outage.call(admit)
        elif not answered:
            count, wait = admit()
        if counted:
            request.meta["lg_host_count"] = count
        if wait > 0:
            # Imported here: importing the reactor at module level would install
            # Twisted's default reactor before Scrapy installs the asyncio one.
            from twisted.internet import reactor

            await maybe_deferred_to_future(deferLater(reactor, wait, lambda: None))
        return None
