"""The ``worker`` spider: a crawl node serving every running job from Redis.

Requests come from the jobs' shared frontier (scrapy-redis's Scheduler with
:class:`~crawler.frontier.queue.JobsQueue` and the per-job Bloom dupefilter);
page records go to Kafka (:class:`~pipelines.kafka.KafkaPipeline`). Each popped
request holds a lease, acknowledged only when Kafka has acknowledged the page
(or the fetch ended in an error or a robots.txt refusal), so a worker that dies
loses nothing: its leases expire and other workers take the requests.

Extraction is the one-process spider's (:func:`page_from_response`); only
scope, depth and budget come from each job's settings in Redis.

A page costs Redis at most one round trip and a share of three batched ones:
its admission (its request's rate slot and host count, one script on the
host's shard), sent with the other requests the engine starts in the same
turn (:class:`~crawler.frontier.ratelimit.Admissions`); an outbox flush (the
:class:`~crawler.frontier.outbox.Outbox`: the page's links, the job's
counters and its lease's ack, sent four times a second to each shard); a pop
(up to sixteen requests at once). A job with ``--max-pages`` adds one
for its page budget. While the worker lives, a thread renews the leases it
holds every third of the lease, so only a dead worker's requests go to others.

Redis going away (a restart, a failover) stops nothing and loses nothing
(:class:`~crawler.frontier.connection.RedisOutage`): what the outbox could not
send waits for the next flush, a lease is acknowledged only after its page's
links are queued, and the scheduler just finds no work meanwhile. Redis must
keep its data across the restart (an append-only file) for the job to carry
on where it was.

Sitemaps (docs/crawling.md#sitemaps): the first page of a host a worker
parses for a job adds the host's sitemap files to that page's links, marked
as sitemap entries (:func:`crawler.sitemaps.marked`); the job's Bloom filter
lets each in once, so one worker reads each file. A sitemap entry is leased
like a page but yields no page record: :meth:`WorkerSpider.parse_sitemap`
queues what it lists, then acknowledges it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached
from twisted.python.failure import Failure

from crawler.frontier.connection import REDIS_ERRORS, RedisOutage, connect_shards
from crawler.frontier.jobs import Job, JobStore
from crawler.frontier.keys import Keys
from crawler.frontier.outbox import FLUSH_SECONDS, Known, Outbox
from crawler.frontier.queue import encode_entry, renew_leases
from crawler.frontier.ratelimit import Admissions, RateLimiter
from crawler.frontier.shards import host_key
from crawler.revisit import count_outcome, revisit_of
from crawler.sitemaps import (
    REDIRECT,
    SitemapCaps,
    count,
    host_sitemaps,
    marked,
    read_sitemap,
    sitemap_request,
    unmarked,
)
from crawler.spiders.outlinks import count_page, page_from_response
from crawler.traps import TrapRules, url_template
from linkcore import config
from linkcore.records import PageRecord

log = logging.getLogger(__name__)

#: Longest a worker renews the lease of one request (download timeout, Kafka and
#: Redis outages and the wait for a host's slot are far shorter).
MAX_HOLD_SECONDS = 900


class WorkerSpider(scrapy.Spider):
    """Crawls whatever the running jobs' frontiers hold (see module doc)."""

    name = "worker"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store: JobStore
        self.rate_limiter: RateLimiter
        self.admissions: Admissions
        self.lease_seconds = config.LINKGRAPH_LEASE_SECONDS
        self.max_links = config.LINKGRAPH_MAX_LINKS_PER_PAGE
        self.max_url_length = config.LINKGRAPH_MAX_URL_LENGTH
        # Leases this process holds: (job, url) -> queue entry. Touched by the
        # reactor thread and Kafka's delivery thread.
        self._held: dict[tuple[str, str], str] = {}
        self._held_since: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self.outage = RedisOutage()
        self.outbox: Outbox
        self._drainer: Any = None
        self._heartbeat: threading.Thread | None = None
        self._stopping = threading.Event()
        self._queued_seen = 0
        self._outages_seen = 0
        # The trap rules of each job this worker serves (docs/crawling.md#spider-traps),
        # their verdicts not yet published and the declined counts already sent.
        self._traps: dict[str, TrapRules] = {}
        self._verdicts: dict[str, list[tuple[str, str]]] = {}
        self._declined_sent: dict[str, dict[tuple[str, str], int]] = {}
        self._declined_urls: dict[str, Known] = {}
        self._traps_synced = 0.0
        self.sitemap_caps = SitemapCaps()
        # (job, netloc) of hosts whose sitemaps this worker has queued.
        self._sitemap_hosts = Known()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> WorkerSpider:
        spider: WorkerSpider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        shards = connect_shards(settings.get("LINKGRAPH_REDIS_SHARDS") or settings.get("REDIS_URL"))
        spider.store = JobStore(shards, Keys.from_env(settings.get("LINKGRAPH_REDIS_PREFIX")))
        spider.rate_limiter = RateLimiter(shards, spider.store.keys)
        spider.admissions = Admissions(spider.rate_limiter)
        spider.outbox = Outbox(spider.store, on_acked=spider._acked)
        spider.lease_seconds = settings.getfloat(
            "LINKGRAPH_LEASE_SECONDS", config.LINKGRAPH_LEASE_SECONDS
        )
        spider.max_links = settings.getint("LINKGRAPH_MAX_LINKS_PER_PAGE", spider.max_links)
        spider.max_url_length = settings.getint("LINKGRAPH_MAX_URL_LENGTH", spider.max_url_length)
        spider.sitemap_caps = SitemapCaps.from_settings(settings)
        spider.outage = RedisOutage(
            settings.getfloat("LINKGRAPH_REDIS_RETRY_SECONDS", config.LINKGRAPH_REDIS_RETRY_SECONDS)
        )
        crawler.signals.connect(spider.opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        crawler.signals.connect(spider.closed_release, signal=signals.spider_closed)
        return spider

    def opened(self, spider: scrapy.Spider) -> None:
        from twisted.internet.task import LoopingCall

        # Links, counters and acks go out a few times a second, busy or idle.
        self._drainer = LoopingCall(self.flush)
        self._drainer.start(FLUSH_SECONDS, now=False)
        self._heartbeat = threading.Thread(target=self._renew, name="lease-heartbeat", daemon=True)
        self._heartbeat.start()

    def flush(self) -> bool:
        """Send the outbox (and anything backlogged); False while Redis is away."""
        if self.outage.outages != self._outages_seen:
            self._outages_seen = self.outage.outages
            self.outbox.forget()
        try:
            done = self.outbox.flush()
        except REDIS_ERRORS as error:
            self.outage.noticed(error)
            return False
        except Exception:
            # Whatever it was, the loop that flushes must go on: a lease is
            # acknowledged only by a flush.
            log.exception("sending the frontier's batch failed; trying again")
            return False
        try:
            self._sync_traps()
        except REDIS_ERRORS as error:
            self.outage.noticed(error)
            return False
        queued = self.outbox.queued
        if queued != self._queued_seen and self.crawler.stats is not None:
            self.crawler.stats.inc_value("scheduler/enqueued/redis", queued - self._queued_seen)
            self._queued_seen = queued
        return self.outage.drain() and done

    # -- spider traps ------------------------------------------------------------
    def traps_for(self, job: str) -> TrapRules | None:
        """The trap rules of ``job`` in this worker: its own judgement, plus every
        verdict another worker of the job published."""
        rules = self._traps.get(job)
        if rules is None:
            settings = self.store.cached(job) if job else None
            if settings is None:
                return None
            rules = self._traps[job] = TrapRules(settings.traps)
        return rules

    def _admit(self, job: str, rules: TrapRules, url: str) -> bool:
        """Whether a link to ``url`` may go to the job's frontier by the trap rules."""
        if self.outbox.known(job, url):
            # Checked by the job's filter before: queued, or seen, already.
            return True
        declined = self._declined_urls.setdefault(job, Known(20_000))
        if (job, url) in declined:
            return False
        if rules.admit(url) is None:
            return True
        declined.add((job, url))
        return False

    def _sync_traps(self, every: float = 1.0) -> None:
        """Publish this worker's verdicts and declined counts; adopt the others'.

        Once a second: a template another worker closed is declined here within
        a second or so, and the counts in ``job status`` lag by as much.
        """
        now = time.monotonic()
        if now - self._traps_synced < every or not self._traps:
            return
        self._traps_synced = now
        for job, rules in list(self._traps.items()):
            sent = self._declined_sent.setdefault(job, {})
            delta = {
                key: count - sent.get(key, 0)
                for key, count in rules.declined.items()
                if count != sent.get(key, 0)
            }
            verdicts = self._verdicts.pop(job, [])
            if verdicts or delta:
                try:
                    self.store.record_traps(job, verdicts, delta)
                except REDIS_ERRORS:
                    self._verdicts.setdefault(job, [])[:0] = verdicts
                    raise
                sent.update({key: rules.declined[key] for key in delta})
            for template, rule in self.store.trap_verdicts(job).items():
                rules.adopt(template, rule)

    def _renew(self) -> None:
        # On a thread of its own: a long parse on the reactor must not let a
        # lease lapse while this worker lives. It dies with the process, so a
        # killed worker's leases run out.
        interval = max(self.lease_seconds / 3, 0.05)
        while not self._stopping.wait(interval):
            now = time.monotonic()
            with self._lock:
                held = {
                    key: entry
                    for key, entry in self._held.items()
                    if now - self._held_since.get(key, now) < MAX_HOLD_SECONDS
                }
                stale = [key for key in self._held if key not in held]
                for key in stale:
                    # A request no outcome reached in this long is lost inside
                    # this worker: its lease is left to run out, so that another
                    # worker takes it, rather than keep the job from finishing.
                    del self._held[key]
                    self._held_since.pop(key, None)
            for job, url in stale:
                log.warning(
                    "%s (job %s) held for %d s without an outcome: leaving it to its lease",
                    url,
                    job,
                    MAX_HOLD_SECONDS,
                )
            if not held:
                continue
            try:
                renew_leases(self.store, held, self.lease_seconds)
            except REDIS_ERRORS as error:
                log.debug("lease renewal failed (%s); trying again", error)

    async def start(self) -> Any:
        # Work comes from the frontier in Redis, not from start requests.
        return
        yield  # pragma: no cover - makes this an async generator

    def make_request(self, url: str, depth: int, job: str) -> scrapy.Request:
        """A request of ``job`` (the queue rebuilds requests through this)."""
        settings = self.store.cached(job)
        sitemap = unmarked(url)
        if sitemap is not None:
            return sitemap_request(
                sitemap[0],
                named=sitemap[1],
                caps=self.sitemap_caps,
                callback=self.parse_sitemap,
                errback=self.failed,
                meta={"lg_url": url, "job": job, "rate": settings.rate if settings else None},
            )
        return scrapy.Request(
            url,
            callback=self.parse,
            errback=self.failed,
            meta={
                "lg_url": url,
                "depth": depth,
                "job": job,
                "dont_redirect": True,
                "rate": settings.rate if settings else None,
                "host_cap": settings.max_pages_per_host if settings else 0,
            },
        )

    async def host_budget(self, job: str, host: str) -> int:
        """Requests of ``job`` to ``host`` so far, this one included (the host page cap)."""
        return await self.outage.call(lambda: self.store.host_count(job, host))

    # -- leases -------------------------------------------------------------------
    def hold(self, request: scrapy.Request) -> None:
        """Remember the lease of a request this worker popped (called by the queue)."""
        entry = request.meta.get("lease")
        if entry:
            key = (request.meta["job"], request.meta["lg_url"])
            with self._lock:
                self._held[key] = entry
                self._held_since[key] = time.monotonic()

    def let_go(self, request: scrapy.Request) -> None:
        """Stop renewing the lease of a request handed back to the queue (a retry;
        called by the queue): it now runs out unless acknowledged."""
        key = (request.meta["job"], request.meta["lg_url"])
        with self._lock:
            # The request may hold a newer lease by now (popped again).
            if self._held.get(key) == request.meta.get("lease"):
                del self._held[key]
                self._held_since.pop(key, None)

    def _done(self, job: str, url: str) -> None:
        # The lease stays held (and renewed) until the outbox has acknowledged it.
        with self._lock:
            entry = self._held.get((job, url))
        if entry is not None:
            self.outbox.ack(job, url, entry)

    def _acked(self, job: str, url: str) -> None:
        with self._lock:
            self._held.pop((job, url), None)
            self._held_since.pop((job, url), None)

    def page_delivered(self, page: PageRecord) -> None:
        """Kafka has the page: its lease is done (called on the reactor thread)."""
        self.outbox.count(page.job, produced=1)
        self._done(page.job, page.url)

    def page_failed(self, page: PageRecord, error: Exception) -> None:
        """Kafka refused the page: keep the lease, so the request is retried on expiry."""
        with self._lock:
            self._held.pop((page.job, page.url), None)
            self._held_since.pop((page.job, page.url), None)
        self.outbox.count(page.job, errors=1)

    def closed_release(self, spider: scrapy.Spider, reason: str) -> None:
        """On shutdown, hand back leases of requests this worker did not finish."""
        if self._drainer is not None and self._drainer.running:
            self._drainer.stop()
        self._stopping.set()
        # Twice: acks of pages whose links the first flush queued go in the second.
        self.flush()
        self.flush()
        with self._lock:
            held, self._held = self._held, {}
            self._held_since.clear()
        try:
            for (job, _url), entry in held.items():
                self.store.release(job, entry)
        except REDIS_ERRORS as error:
            log.warning(
                "Redis is unavailable at shutdown (%s): %d unfinished requests and %d "
                "writes are left to their leases, which expire and hand them to other workers",
                " ".join(str(error).split())[:200],
                len(held),
                len(self.outbox) + len(self.outage),
            )
            return
        if len(self.outbox) or len(self.outage):
            log.warning(
                "Redis is unavailable at shutdown: %d writes are left to their leases",
                len(self.outbox) + len(self.outage),
            )
        if held:
            log.info("returned %d unfinished requests to the frontier", len(held))
        if self.admissions.batches:
            log.info(
                "admitted %d requests in %d round trips; %d links checked, %d queued",
                self.admissions.admitted,
                self.admissions.batches,
                self.outbox.checked,
                self.outbox.queued,
            )

    def idle(self, spider: scrapy.Spider) -> None:
        """Never close for lack of work; settle jobs whose frontier has run dry."""
        from linkcore.metrics import QUEUE_DEPTH

        try:
            if self.flush():
                for job in self.store.running():
                    if not self.store.finish_if_done(job):
                        depth = self.store.server.llen(self.store.keys.queue(job))
                        QUEUE_DEPTH.labels(job=job).set(depth)
        except REDIS_ERRORS as error:
            self.outage.noticed(error)
        raise DontCloseSpider

    # -- responses -------------------------------------------------------------
    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[Any]:
        job_name = response.meta["job"]
        url = response.meta["lg_url"]
        store = self.store
        job = await self.outage.call(lambda: store.cached(job_name))
        if job is None or job.state != "running":
            self._done(job_name, url)
            return
        rules = self.traps_for(job_name)
        fingerprint = rules is not None and rules.wants_fingerprint(url)
        page, follow, text = page_from_response(
            response, job_name, self.max_links, with_text=fingerprint
        )
        closed = (
            rules.observe(url, text, (link.target_url for link in page.links))
            if rules is not None and fingerprint and 200 <= page.status < 300
            else None
        )
        if closed is not None:
            template = url_template(url)[1]
            self._verdicts.setdefault(job_name, []).append((template, closed))
            log.warning("declining URLs like %s as a trap: %s (job %s)", template, closed, job_name)
        page_number = 0
        if job.max_pages:
            # The page budget needs the count now: one round trip.
            counters = await self.outage.call(
                lambda: store.count(job_name, pages=1, links=len(page.links))
            )
            page_number = counters["pages"]
            if page_number > job.max_pages:
                # Over the budget (rare: pages in flight when it ran out): not emitted.
                self.outbox.count(job_name, links=-len(page.links))
                self._done(job_name, url)
                return
        else:
            self.outbox.count(job_name, pages=1, links=len(page.links))
        count_page(self.crawler, page)
        revisit = revisit_of(response.meta)
        if revisit is not None:
            # Counted per fetch in the job (docs/crawling.md#revisits).
            outcome = count_outcome(self.crawler.stats, page.status)
            outcomes = {f"revisit_{outcome}": 1} if outcome else {}
            self.outbox.count(job_name, revisits=1, **outcomes)
            if not revisit.follow:
                follow = []
        # Children go out with the outbox's next flush; the parent's lease is
        # acknowledged only after they are queued, so an empty frontier with no
        # leases really means the job is done.
        if not (job.max_pages and page_number >= job.max_pages):
            children = [
                (target, encode_entry(target, depth))
                for target, depth in follow
                if (job.max_depth < 0 or depth <= job.max_depth)
                and len(target) <= self.max_url_length
                and job.in_scope(target)
                and (rules is None or self._admit(job_name, rules, target))
            ]
            if revisit is None or revisit.follow:
                # A page that follows nothing (--revisit-referrers) reads no sitemaps either.
                children += self._sitemap_entries(job, response)
            self.outbox.links(job_name, url, children)
        yield page
        if job.max_pages and page_number >= job.max_pages:
            await self.outage.call(lambda: store.finish(job_name, "max_pages", force=True))

    # -- sitemaps (docs/crawling.md#sitemaps) ----------------------------------
    def _sitemap_entries(self, job: Job, response: Response) -> list[tuple[str, str]]:
        """The sitemap files of the page's host, the first time this worker sees it."""
        if not job.sitemaps or job.max_depth == 0:
            return []
        key = (job.name, urlparse_cached(response).netloc)
        if key in self._sitemap_hosts:
            return []
        self._sitemap_hosts.add(key)
        entries = []
        for url, named in host_sitemaps(self.crawler, response.url)[: self.sitemap_caps.max_files]:
            if len(url) <= self.max_url_length and job.in_scope(url):
                target = marked(url, named)
                entries.append((target, encode_entry(target, 0)))
        return entries

    def _queue(self, job: str, items: list[tuple[str, str]]) -> int:
        """Queue ``items`` ((url, entry) pairs) unless the job saw them; how many queued."""
        by_shard: dict[int, list[tuple[str, str]]] = {}
        for url, entry in items:
            by_shard.setdefault(self.store.shards.of_url(url), []).append((url, entry))
        queue = self.store.keys.queue(job)
        return sum(
            self.store.bloom(job, shard).add_and_push_many(part, queue)
            for shard, part in by_shard.items()
        )

    async def parse_sitemap(self, response: Response, **kwargs: Any) -> AsyncIterator[Any]:
        """A sitemap entry: queue the files and pages it lists, then acknowledge it.

        The host's file count is the job's (in Redis); the lease is acknowledged
        only after what the file lists is queued, so a killed worker's file is
        read again by another.
        """
        job_name = response.meta["job"]
        entry_url = response.meta["lg_url"]
        store = self.store
        job = await self.outage.call(lambda: store.cached(job_name))
        if job is None or job.state != "running":
            self._done(job_name, entry_url)
            return
        caps = self.sitemap_caps
        host = host_key(response.url)
        read = await self.outage.call(lambda: store.sitemap_count(job_name, host))
        reading = read_sitemap(response, caps)
        if read > caps.max_files or not reading.kind:
            count(self.crawler, "sitemaps_skipped")
            why = f"{caps.max_files} files of {host} read" if reading.kind else reading.why
            log.info("sitemap %s not read: %s", response.url, why)
            self._done(job_name, entry_url)
            return
        files = [
            (target, encode_entry(target, 0))
            for target in (marked(url) for url in reading.sitemaps)
            if len(target) <= self.max_url_length and job.in_scope(target)
        ][: caps.max_files - read]
        pages = [
            (url, encode_entry(url, 1))
            for url in reading.urls
            if job.max_depth != 0 and len(url) <= self.max_url_length and job.in_scope(url)
        ]
        await self.outage.call(lambda: self._queue(job_name, files))
        queued = await self.outage.call(lambda: self._queue(job_name, pages))
        found = len(reading.urls)
        files_read = 0 if reading.kind == REDIRECT else 1
        for name, amount in (("sitemaps", files_read), ("sitemap_urls", found)):
            count(self.crawler, name, amount)
        count(self.crawler, "sitemap_queued", queued)
        self.outbox.count(job_name, sitemaps=files_read, sitemap_urls=found, sitemap_queued=queued)
        self._done(job_name, entry_url)
        return
        yield  # pragma: no cover - makes this an async generator

    def failed(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        if request is None:
            return
        job, url = request.meta.get("job", ""), request.meta.get("lg_url", request.url)
        stats = self.crawler.stats
        assert stats is not None
        if isinstance(failure.value, REDIS_ERRORS):
            # Not a fetch error: Redis stayed away too long. The lease is kept,
            # so the request is crawled again once it expires.
            with self._lock:
                self._held.pop((job, url), None)
                self._held_since.pop((job, url), None)
            log.warning("%s: left to its lease (%s)", url, failure.getErrorMessage())
            return
        if request.meta.get("lg_sitemap"):
            # Not a page: no job error (docs/crawling.md#sitemaps).
            count(self.crawler, "sitemaps_skipped")
            log.info("sitemap %s not read: %s", request.url, failure.getErrorMessage())
        elif isinstance(failure.value, IgnoreRequest):
            stats.inc_value("linkgraph/ignored")
        else:
            stats.inc_value("linkgraph/errors")
            self.outbox.count(job, errors=1)
            log.info("fetch failed: %s: %s", url, failure.getErrorMessage())
        self._done(job, url)
