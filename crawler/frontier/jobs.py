"""Crawl jobs kept in Redis: settings, state, counters, frontier (``job`` in docs/commands.md).

A job is a hash (``Keys.job``) with its settings (seeds' registered domains as
scope, max_pages, max_depth, rate, Bloom capacity), its state and counters; a
FIFO queue and a lease set (:mod:`.queue`); a Bloom filter (:mod:`.bloom`).
Over several shards (:mod:`.shards`) the hash is on the first, and each shard
has the queue, lease set and Bloom filter of its hosts.

States: ``running`` → ``finished`` (frontier empty and nothing leased, or
max_pages reached) or ``stopped`` (``job stop``). A job is done crawling when
its state is not ``running``; every page it produced is then in Kafka, since
leases are acknowledged only after Kafka's acknowledgement.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import redis

from crawler.frontier.bloom import HASHES as BLOOM_HASHES
from crawler.frontier.bloom import RedisBloom
from crawler.frontier.connection import server_time, unavailable
from crawler.frontier.keys import Keys
from crawler.frontier.queue import decode_entry, encode_entry
from crawler.frontier.shards import Shards
from crawler.traps import TrapLimits
from linkcore import config
from linkcore.errors import UsageError
from linkcore.revisits import OUTCOMES, Revisit
from linkcore.urls import host_of, registered_domain

log = logging.getLogger(__name__)

JOB_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: Requests per second per host when a job does not say.
DEFAULT_RATE: Final = config.LINKGRAPH_RATE
#: URLs a job's Bloom filter is sized for when a job does not say.
DEFAULT_BLOOM_CAPACITY: Final = config.LINKGRAPH_EXPECTED_URLS
BLOOM_ERROR_RATE: Final = 0.001
#: Revisits answered, and how (docs/crawling.md#revisits): one of each per fetch.
REVISIT_COUNTERS: Final = tuple(f"revisit_{outcome}" for outcome in OUTCOMES)
_COUNTERS: Final = (
    "pages",
    "links",
    "errors",
    "produced",
    "dropped",
    "declined",
    "revisits",
    *REVISIT_COUNTERS,
    # docs/crawling.md#sitemaps: files read, URLs they listed, URLs queued new.
    "sitemaps",
    "sitemap_urls",
    "sitemap_queued",
    # Archive jobs (docs/ingest.md#many-machines): files read whole, their
    # WARC records, and the corrupt or truncated ones among them.
    "files_read",
    "records",
    "corrupt",
)
#: Job kinds: a crawl of seeds, or the reading of web archives (``--warc-paths``).
KINDS: Final = ("crawl", "archives")
#: Revisits one script call queues at job start.
_REVISIT_CHUNK: Final = 5_000

# KEYS: job hash, queue, leases, running set. ARGV: job name, reason, finished_at.
# Marks a running job finished when its frontier is empty and nothing is leased
# (or unconditionally when ARGV[4] == "force").
_FINISH = """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
if ARGV[4] ~= 'force' then
  if redis.call('LLEN', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[3]) > 0 then return 0 end
end
redis.call('HSET', KEYS[1], 'state', ARGV[2] == 'stopped' and 'stopped' or 'finished',
           'finish_reason', ARGV[2], 'finished_at', ARGV[3])
redis.call('SREM', KEYS[4], ARGV[1])
return 1
"""


def archive_entry_url(kind: str, path: str) -> str:
    """What stands for archive ``path`` of ``kind`` in a job's queue entries: ``KIND:PATH``."""
    return f"{kind}:{path}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(slots=True)
class Job:
    """A job's settings, state and counters as stored in Redis."""

    name: str
    scope: list[str]
    seeds: int
    max_pages: int
    max_depth: int
    rate: float
    max_pages_per_host: int
    bloom_capacity: int
    state: str
    created_at: float
    #: Redis shards the job's frontier is spread over (see :mod:`.shards`).
    shards: int = 1
    #: The job's trap rules (docs/crawling.md#spider-traps).
    traps: TrapLimits = field(default_factory=TrapLimits.defaults)
    #: Whether the hosts' sitemaps are read (docs/crawling.md#sitemaps).
    sitemaps: bool = True
    finished_at: float = 0.0
    finish_reason: str = ""
    #: URLs queued at start as revisits (docs/crawling.md#revisits).
    revisits_queued: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    #: One of :data:`KINDS`; jobs started before archive jobs existed are crawls.
    kind: str = "crawl"
    #: Archives an ``archives`` job was started with.
    files: int = 0

    def in_scope(self, url: str) -> bool:
        """True when ``url``'s registered domain is one of the seeds' (docs/crawling.md#scope)."""
        return registered_domain(host_of(url)) in self.scope

    @classmethod
    def from_hash(cls, name: str, data: dict[Any, Any]) -> Job:
        text = {_text(k): _text(v) for k, v in data.items()}
        return cls(
            name=name,
            scope=json.loads(text.get("scope", "[]")),
            seeds=int(text.get("seeds", 0)),
            max_pages=int(text.get("max_pages", 0)),
            max_depth=int(text.get("max_depth", -1)),
            max_pages_per_host=int(text.get("max_pages_per_host", 0)),
            rate=float(text.get("rate", DEFAULT_RATE)),
            bloom_capacity=int(text.get("bloom_capacity", DEFAULT_BLOOM_CAPACITY)),
            state=text.get("state", "unknown"),
            shards=int(text.get("shards", 1)),
            traps=TrapLimits.from_settings(text),
            sitemaps=text.get("read_sitemaps", "1") != "0",
            created_at=float(text.get("created_at", 0)),
            finished_at=float(text.get("finished_at", 0) or 0),
            finish_reason=text.get("finish_reason", ""),
            revisits_queued=int(text.get("revisits_queued", 0)),
            counters={name: int(text.get(name, 0)) for name in _COUNTERS},
            kind=text.get("kind", "crawl"),
            files=int(text.get("files", 0)),
        )


class JobStore:
    """Jobs in one Redis, or over :class:`~crawler.frontier.shards.Shards`, under one
    key prefix. Every Redis failure of an operator command becomes a one-line,
    retriable :class:`~linkcore.errors.ServiceUnavailable`."""

    def __init__(self, server: redis.Redis | Shards, keys: Keys | None = None) -> None:
        self.shards = server if isinstance(server, Shards) else Shards([server])
        #: The shard that holds the jobs.
        self.server = self.shards.first
        self.keys = keys or Keys.from_env()
        self._finish = self.server.register_script(_FINISH)
        self._scripts: dict[tuple[int, str], Any] = {}
        self._blooms: dict[tuple[str, int], RedisBloom] = {}
        self._cache: dict[str, tuple[float, Job | None]] = {}
        self._refused: set[str] = set()

    def script(self, shard: int, text: str) -> Any:
        """The Lua script ``text`` registered with ``shard``'s client."""
        script = self._scripts.get((shard, text))
        if script is None:
            script = self.shards[shard].register_script(text)
            self._scripts[(shard, text)] = script
        return script

    # -- operator commands ----------------------------------------------------
    def start(
        self,
        name: str,
        seeds: list[str],
        *,
        max_pages: int = 0,
        max_depth: int = -1,
        max_pages_per_host: int = 0,
        rate: float = DEFAULT_RATE,
        bloom_capacity: int = DEFAULT_BLOOM_CAPACITY,
        traps: TrapLimits | None = None,
        revisits: Iterable[Revisit] = (),
        sitemaps: bool = True,
    ) -> Job:
        """Create job ``name`` and queue its seeds (normalized URLs) at depth 0,
        then its ``revisits`` (docs/crawling.md#revisits) with their validators;
        a seed that is also a revisit goes as a seed, with the validators.
        Scope is the seeds' registered domains; a job of revisits alone (of
        referring pages, which follow nothing) may have no seeds."""
        if not JOB_NAME.match(name):
            raise UsageError(
                f"job name {name!r} must be 1-100 letters, digits, '.', '_' or '-'"
                " and start with a letter or digit"
            )
        revisits = iter(revisits)
        first = next(revisits, None)
        if not seeds and first is None:
            raise UsageError(f"job {name}: no seeds")
        if rate <= 0:
            raise UsageError(f"job {name}: --rate must be more than 0 requests per second")
        scope = sorted({registered_domain(host_of(url)) for url in seeds})
        try:
            created = self.server.hsetnx(self.keys.job(name), "state", "starting")
            if not created:
                raise UsageError(
                    f"job {name} already exists (state {self._state(name)}); choose another name"
                )
            self.server.hset(
                self.keys.job(name),
                mapping={
                    "scope": json.dumps(scope),
                    "seeds": len(seeds),
                    "max_pages": max_pages,
                    "max_depth": max_depth,
                    "max_pages_per_host": max_pages_per_host,
                    **(traps or TrapLimits.defaults()).as_settings(),
                    "rate": rate,
                    "bloom_capacity": bloom_capacity,
                    "bloom_hashes": BLOOM_HASHES,
                    "shards": len(self.shards),
                    # Not "sitemaps": that is the counter of files read.
                    "read_sitemaps": int(sitemaps),
                    "created_at": server_time(self.server),
                    **{counter: 0 for counter in _COUNTERS},
                },
            )
            queued = self._queue_start(
                name, seeds, itertools.chain([first] if first else [], revisits)
            )
            self.server.hset(self.keys.job(name), "revisits_queued", queued)
            self.server.sadd(self.keys.jobs, name)
            self.server.hset(self.keys.job(name), "state", "running")
            self.server.sadd(self.keys.running, name)
        except redis.RedisError as error:
            raise unavailable(error) from None
        job = self.get(name)
        assert job is not None
        return job

    def start_archives(self, name: str, archives: list[tuple[str, str]]) -> Job:
        """Create job ``name`` that reads web archives, one per lease
        (docs/ingest.md#many-machines): ``archives`` are (kind, path or URL)
        pairs, kind ``warc`` or ``wat``, queued in their order (repeats once)."""
        if not JOB_NAME.match(name):
            raise UsageError(
                f"job name {name!r} must be 1-100 letters, digits, '.', '_' or '-'"
                " and start with a letter or digit"
            )
        unique = list(dict.fromkeys(archives))
        if not unique:
            raise UsageError(f"job {name}: no archives")
        try:
            if not self.server.hsetnx(self.keys.job(name), "state", "starting"):
                raise UsageError(
                    f"job {name} already exists (state {self._state(name)}); choose another name"
                )
            self.server.hset(
                self.keys.job(name),
                mapping={
                    "kind": "archives",
                    "files": len(unique),
                    "scope": "[]",
                    "seeds": 0,
                    "shards": len(self.shards),
                    "read_sitemaps": 0,
                    "created_at": server_time(self.server),
                    **{counter: 0 for counter in _COUNTERS},
                },
            )
            for kind, path in unique:
                entry_url = archive_entry_url(kind, path)
                # First in, first out: LPUSH in, RPOP out, as the frontier.
                self.shards[self.shards.of_url(entry_url)].lpush(
                    self.keys.queue(name), encode_entry(entry_url, 0)
                )
            self.server.sadd(self.keys.jobs, name)
            self.server.hset(self.keys.job(name), "state", "running")
            self.server.sadd(self.keys.running, name)
        except redis.RedisError as error:
            raise unavailable(error) from None
        job = self.get(name)
        assert job is not None
        return job

    def kind(self, name: str) -> str:
        """Job ``name``'s kind (:data:`KINDS`), cached for half a minute: it never changes."""
        job = self.cached(name, ttl=30.0)
        return job.kind if job is not None else "crawl"

    def _queue_start(self, name: str, seeds: list[str], revisits: Iterable[Revisit]) -> int:
        """Queue the seeds and the revisits of a new job; how many revisits were queued."""
        # The seeds first, with the validators of those the index holds:
        # revisits are streamed, so seeds are held back until all were seen.
        pending = dict.fromkeys(seeds, 0)
        seeds_as: dict[str, Revisit | None] = dict.fromkeys(seeds)
        chunk: list[tuple[str, str]] = []
        queued = 0
        for revisit in revisits:
            if revisit.url in pending:
                seeds_as[revisit.url] = Revisit(revisit.url, 0, revisit.etag, revisit.last_modified)
                continue
            chunk.append((revisit.url, encode_entry(revisit.url, revisit.depth, 0, revisit)))
            if len(chunk) >= _REVISIT_CHUNK:
                queued += self._push_new(name, chunk)
                chunk = []
        queued += self._push_new(name, chunk)
        seed_items = [(url, encode_entry(url, 0, 0, seeds_as[url])) for url in seeds]
        queued += self._push_new(name, [item for item in seed_items if seeds_as[item[0]]])
        self._push_new(name, [item for item in seed_items if not seeds_as[item[0]]])
        return queued

    def _push_new(self, name: str, items: list[tuple[str, str]]) -> int:
        """Queue ``(url, entry)`` pairs unseen by job ``name``'s filters; how many."""
        by_shard: dict[int, list[tuple[str, str]]] = {}
        for url, entry in items:
            by_shard.setdefault(self.shards.of_url(url), []).append((url, entry))
        return sum(
            self.bloom(name, shard).add_and_push_many(part, self.keys.queue(name))
            for shard, part in by_shard.items()
        )

    def _state(self, name: str) -> str:
        state = self.server.hget(self.keys.job(name), "state")
        return _text(state) if state else "unknown"

    def get(self, name: str) -> Job | None:
        """The job as stored now, or None."""
        try:
            data = self.server.hgetall(self.keys.job(name))
        except redis.RedisError as error:
            raise unavailable(error) from None
        return Job.from_hash(name, data) if data else None

    def require(self, name: str) -> Job:
        job = self.get(name)
        if job is None:
            raise UsageError(f"no job named {name!r} (see `linkgraph job list`)")
        return job

    def names(self) -> list[str]:
        try:
            return sorted(_text(n) for n in self.server.smembers(self.keys.jobs))
        except redis.RedisError as error:
            raise unavailable(error) from None

    def running(self) -> set[str]:
        try:
            return {_text(n) for n in self.server.smembers(self.keys.running)}
        except redis.RedisError as error:
            raise unavailable(error) from None

    def stop(self, name: str) -> Job:
        """Stop a job: workers take nothing more from it and its queue is dropped."""
        self.require(name)
        try:
            self.finish(name, "stopped", force=True)
            for client in self.shards.clients:
                client.delete(self.keys.queue(name))
        except redis.RedisError as error:
            raise unavailable(error) from None
        return self.require(name)

    def _sizes(self, name: str) -> list[tuple[int, int, int]]:
        """(queued, leased, ever pushed) of the job on each shard."""
        sizes = []
        for client in self.shards.clients:
            pipe = client.pipeline(transaction=False)
            pipe.llen(self.keys.queue(name))
            pipe.zcard(self.keys.leases(name))
            pipe.get(self.keys.pushed(name))
            queued, leased, pushed = pipe.execute()
            sizes.append((int(queued), int(leased), int(pushed or 0)))
        return sizes

    def status(self, name: str) -> dict[str, Any]:
        """State, counters, frontier sizes and rate of one job."""
        self.finish_if_done(name)
        job = self.require(name)
        try:
            sizes = self._sizes(name)
            now = server_time(self.server)
            fill = max(self.bloom(name, shard).fill_ratio() for shard in range(len(self.shards)))
            declined = self.declined_as_traps(name)
        except redis.RedisError as error:
            raise unavailable(error) from None
        end = job.finished_at or now
        elapsed = max(end - job.created_at, 1e-9)
        if job.kind == "archives":
            # docs/ingest.md#many-machines: queued and in flight count files.
            return {
                "job": name,
                "kind": job.kind,
                "state": job.state,
                "finish_reason": job.finish_reason,
                "files": job.files,
                "files_read": job.counters["files_read"],
                "queued": sum(queued for queued, _, _ in sizes),
                "in_flight": sum(leased for _, leased, _ in sizes),
                "pages": job.counters["pages"],
                "links": job.counters["links"],
                "records": job.counters["records"],
                "corrupt": job.counters["corrupt"],
                "errors": job.counters["errors"],
                "produced": job.counters["produced"],
                "pages_per_second": round(job.counters["pages"] / elapsed, 2),
                "elapsed_seconds": round(elapsed, 1),
            }
        return {
            "job": name,
            "state": job.state,
            "finish_reason": job.finish_reason,
            "pages": job.counters["pages"],
            "queued": sum(queued for queued, _, _ in sizes),
            "in_flight": sum(leased for _, leased, _ in sizes),
            "links": job.counters["links"],
            "errors": job.counters["errors"],
            "produced": job.counters["produced"],
            # Revisits answered: 304, 2xx, 404/410 (docs/crawling.md#revisits).
            "revisits_queued": job.revisits_queued,
            "revisits": job.counters["revisits"],
            **{name: job.counters[name] for name in REVISIT_COUNTERS},
            "sitemaps": job.counters["sitemaps"],
            "sitemap_urls": job.counters["sitemap_urls"],
            "sitemap_queued": job.counters["sitemap_queued"],
            "pages_per_second": round(job.counters["pages"] / elapsed, 2),
            "max_pages": job.max_pages,
            "max_depth": job.max_depth,
            "max_pages_per_host": job.max_pages_per_host,
            "rate": job.rate,
            # About 0.5 at the filter's capacity; past it, false positives rise.
            # Of several shards' filters, the fullest.
            "bloom_fill": round(fill, 4),
            "scope": job.scope,
            "elapsed_seconds": round(elapsed, 1),
            "declined": job.counters["declined"],
            "declined_as_traps": declined,
        }

    def declined_as_traps(self, name: str) -> list[list[Any]]:
        """``[count, host, rule]`` of URLs the job declined as traps, most first."""
        raw = self.server.hgetall(self.keys.declined(name))
        rows = []
        for key, count in raw.items():
            host, _, rule = _text(key).rpartition(" ")
            rows.append([int(count), host, rule])
        return sorted(rows, key=lambda row: (-row[0], row[1], row[2]))

    def trap_verdicts(self, name: str) -> dict[str, str]:
        """URL template -> rule, of every template the job's workers declined."""
        raw = self.server.hgetall(self.keys.traps(name))
        return {_text(template): _text(rule) for template, rule in raw.items()}

    def record_traps(
        self,
        name: str,
        verdicts: list[tuple[str, str]],
        declined: dict[tuple[str, str], int],
    ) -> None:
        """Publish ``verdicts`` ((template, rule)) and add ``declined`` ((host, rule) ->
        URLs) to the job's counts, in one round trip."""
        pipe = self.server.pipeline(transaction=True)
        if verdicts:
            pipe.hset(self.keys.traps(name), mapping=dict(verdicts))
        for (host, rule), count in declined.items():
            pipe.hincrby(self.keys.declined(name), f"{host} {rule}", count)
        total = sum(declined.values())
        if total:
            pipe.hincrby(self.keys.job(name), "declined", total)
        pipe.execute()

    # -- worker side --------------------------------------------------------------
    def cached(self, name: str, ttl: float = 2.0) -> Job | None:
        """The job, re-read from Redis at most every ``ttl`` seconds."""
        now = time.monotonic()
        hit = self._cache.get(name)
        if hit is None or now - hit[0] > ttl:
            hit = (now, self.get(name))
            self._cache[name] = hit
        return hit[1]

    def serves(self, name: str) -> bool:
        """Whether this store's shards are the ones job ``name`` was started over."""
        job = self.cached(name, ttl=30.0)
        if job is None or job.shards == len(self.shards):
            return True
        if name not in self._refused:
            self._refused.add(name)
            log.error(
                "job %s was started over %d Redis shards, this worker has %d: leaving it alone",
                name,
                job.shards,
                len(self.shards),
            )
        return False

    def bloom(self, name: str, shard: int = 0) -> RedisBloom:
        """Job ``name``'s filter on ``shard``.

        Over several shards each filter is sized for twice its shard's share
        of the job's expected URLs: hosts hash unevenly, and a shard may get
        up to twice its share before its false-positive rate rises above 0.1 %.
        """
        bloom = self._blooms.get((name, shard))
        if bloom is None:
            raw, raw_hashes = self.server.hmget(
                self.keys.job(name), ["bloom_capacity", "bloom_hashes"]
            )
            capacity = int(raw) if raw else DEFAULT_BLOOM_CAPACITY
            # Jobs started by an older version keep the filter they were sized with.
            hashes = int(raw_hashes) if raw_hashes else None
            if len(self.shards) > 1:
                capacity = -(-2 * capacity // len(self.shards))
            bloom = RedisBloom(
                self.shards[shard],
                self.keys.bloom(name),
                capacity,
                BLOOM_ERROR_RATE,
                hashes=hashes,
                pushed_key=self.keys.pushed(name),
            )
            self._blooms[(name, shard)] = bloom
        return bloom

    def count(self, name: str, **amounts: int) -> dict[str, int]:
        """Add to a job's counters; returns the new values."""
        pipe = self.server.pipeline(transaction=False)
        for counter, amount in amounts.items():
            pipe.hincrby(self.keys.job(name), counter, amount)
        values = pipe.execute()
        return dict(zip(amounts, (int(v) for v in values), strict=True))

    def sitemap_count(self, name: str, host: str) -> int:
        """Count one more sitemap file of job ``name`` read from ``host``; the new count."""
        client = self.shards[self.shards.of_host(host)]
        return int(client.incr(self.keys.sitemaps(name, host)))

    def host_count(self, name: str, host: str) -> int:
        """Count one more request of job ``name`` to ``host``; the new count."""
        client = self.shards[self.shards.of_host(host)]
        return int(client.incr(self.keys.host(name, host)))

    def _entry_shard(self, entry: str) -> Any:
        return self.shards[self.shards.of_url(decode_entry(entry)[0])]

    def ack(self, name: str, entry: str) -> None:
        """A leased entry's work is done."""
        self._entry_shard(entry).zrem(self.keys.leases(name), entry)

    def release(self, name: str, entry: str) -> bool:
        """Give a leased entry back to the front of the queue (graceful shutdown)."""
        client = self._entry_shard(entry)
        if client.zrem(self.keys.leases(name), entry):
            client.rpush(self.keys.queue(name), entry)
            return True
        return False

    def finish(self, name: str, reason: str, *, force: bool = False) -> bool:
        """Mark a running job finished (``reason``): unconditionally with ``force``, else
        only if its frontier is empty and nothing is leased, on every shard."""
        keys = self.keys
        if not force and len(self.shards) > 1:
            # Shards are read one after the other, while work may move between
            # them (a page on one shard queues its links on another before its
            # lease goes). Two rounds that find every shard empty, with no
            # entry queued on any in between, show a moment when there was no
            # work anywhere: an entry that came and went in between would have
            # counted in its shard's pushed counter.
            first = self._sizes(name)
            if any(queued or leased for queued, leased, _ in first):
                return False
            if self._sizes(name) != first:
                return False
            force = True
        return bool(
            self._finish(
                keys=[keys.job(name), keys.queue(name), keys.leases(name), keys.running],
                args=[name, reason, server_time(self.server), "force" if force else ""],
            )
        )

    def finish_if_done(self, name: str) -> bool:
        """Mark the job finished if its frontier is empty and nothing is leased."""
        try:
            return self.finish(name, "finished")
        except redis.RedisError as error:
            raise unavailable(error) from None
