"""What a worker owes the frontier after its pages, sent in batches.

A worker's pages leave three kinds of writes: their links, checked against
the job's Bloom filter and queued (:data:`~crawler.frontier.bloom.ADD_AND_PUSH_MANY`);
the job's counters; the acknowledgement of their leases. None of them needs
an answer before the worker goes on, so :class:`Outbox` collects them and
:meth:`Outbox.flush` (a few times a second) sends each shard what it is owed
in one round trip: a ``MULTI``/``EXEC`` of the acks that are due, one script
call per job for all the links of all the pages since the last flush, and, on
the first shard, the counters. Redis's cost and the round trips per page then
stay flat however many links a page has.

What it keeps of the frontier's guarantees:

- a URL is never marked seen without being queued: the check and the push
  are one script;
- a lease is acknowledged only after every link of its page is queued (on
  every shard they went to), so a worker killed at any point leaves its
  page leased and the page is crawled again, links and all; an empty frontier
  with nothing leased still means the job is done;
- a shard that does not answer keeps its share for the next flush (the
  others' go out), nothing is dropped; links are pushed again only through
  the Bloom filter, so nothing is queued twice.

Redis's cost is per URL it checks (ten bits of the filter each), so the
outbox sends each URL once: a link already waiting for the next flush is not
added again (the page that added it holds its lease until it is queued), and
a link this worker has already had checked — a site's navigation, on every
one of its pages — is known to be in the filter and not sent at all. The
worker remembers the last :data:`KNOWN_URLS` or so; the filter stays the
judge of everything else.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from crawler.frontier.bloom import ADD_AND_PUSH_MANY
from crawler.frontier.connection import REDIS_ERRORS

#: (job, url): a page of a job, by its normalized URL.
PageKey = tuple[str, str]

#: Seconds between two flushes by a worker: each sends every shard one
#: transaction, so a longer interval gives Redis fewer, larger batches (its
#: cost is partly per call) for a page's links queued a little later; a lease
#: is 15 s.
FLUSH_SECONDS = 0.25

#: URLs a worker remembers as checked (two generations of half as many).
KNOWN_URLS = 200_000


class Known:
    """URLs known to be in a job's filter, the most recent ``size`` or so.

    Two generations: when the current one is full it becomes the old one and
    the one before is forgotten, which costs nothing per lookup.
    """

    def __init__(self, size: int = KNOWN_URLS) -> None:
        self.half = max(1, size // 2)
        self._current: set[tuple[str, str]] = set()
        self._old: set[tuple[str, str]] = set()

    def __contains__(self, item: tuple[str, str]) -> bool:
        return item in self._current or item in self._old

    def add(self, item: tuple[str, str]) -> None:
        if len(self._current) >= self.half:
            self._old, self._current = self._current, set()
        self._current.add(item)


class Outbox:
    """Links, counters and lease acks of a worker's pages, until :meth:`flush`.

    ``on_acked(job, url)`` is called after a page's lease was acknowledged in
    Redis. Methods may be called from any thread.
    """

    def __init__(
        self,
        store: Any,
        on_acked: Callable[[str, str], None] | None = None,
        known: int = KNOWN_URLS,
    ) -> None:
        self.store = store
        self.on_acked = on_acked
        self._lock = threading.Lock()
        shards = range(len(store.shards))
        # shard -> job -> {url: entry} of links to check and queue.
        self._links: dict[int, dict[str, dict[str, str]]] = {s: {} for s in shards}
        # (job, url) of links this worker had checked.
        self._known = Known(known)
        # shard -> the pages whose links wait in _links[shard].
        self._pages: dict[int, set[PageKey]] = {s: set() for s in shards}
        # page -> shards its links still wait for.
        self._outstanding: dict[PageKey, set[int]] = {}
        # page -> its lease entry, acknowledged once its links are queued.
        self._deferred: dict[PageKey, str] = {}
        # shard -> job -> [(url, entry)] of leases to acknowledge.
        self._acks: dict[int, dict[str, list[tuple[str, str]]]] = {s: {} for s in shards}
        self._counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        #: Links queued new by this outbox so far, and links sent to be checked.
        self.queued = 0
        self.checked = 0

    def links(self, job: str, url: str, children: list[tuple[str, str]]) -> None:
        """Queue ``children`` ((url, entry) pairs) of page ``url`` unless the job saw them."""
        if not children:
            return
        shards = self.store.shards
        with self._lock:
            waiting: set[int] = set()
            for target, entry in children:
                if (job, target) in self._known:
                    continue
                shard = shards.of_url(target)
                pending = self._links[shard].setdefault(job, {})
                if target in pending:
                    # Another page's link, queued before that page's lease goes.
                    continue
                pending[target] = entry
                waiting.add(shard)
            if waiting:
                self._outstanding.setdefault((job, url), set()).update(waiting)
                for shard in waiting:
                    self._pages[shard].add((job, url))

    def count(self, job: str, **amounts: int) -> None:
        """Add ``amounts`` to the job's counters."""
        with self._lock:
            counters = self._counters[job]
            for name, amount in amounts.items():
                counters[name] += amount

    def ack(self, job: str, url: str, entry: str) -> None:
        """Acknowledge page ``url``'s lease ``entry`` once its links are queued."""
        with self._lock:
            if self._outstanding.get((job, url)):
                self._deferred[(job, url)] = entry
            else:
                shard = self.store.shards.of_url(url)
                self._acks[shard].setdefault(job, []).append((url, entry))

    def known(self, job: str, url: str) -> bool:
        """Whether this worker had ``url`` checked against the job's filter lately."""
        with self._lock:
            return (job, url) in self._known

    def forget(self) -> None:
        """Forget which URLs this worker had checked: after Redis was away, it may have
        come back without the last writes it had acknowledged (an append-only file
        is synced once a second), Bloom filter bits included."""
        with self._lock:
            self._known = Known(self._known.half * 2)

    def __len__(self) -> int:
        """Writes waiting: links, acks and jobs with counters."""
        with self._lock:
            return (
                sum(len(v) for by_job in self._links.values() for v in by_job.values())
                + sum(len(v) for by_job in self._acks.values() for v in by_job.values())
                + len(self._deferred)
                + len(self._counters)
            )

    def flush(self) -> bool:
        """Send every shard what it is owed; True when nothing is left waiting.

        Raises the first Redis error after trying every shard, or at once when
        the first shard fails (what failed stays for the next flush). Acks of
        pages whose links were queued by this flush go out in the same call
        when their shard comes later, else in the next flush.
        """
        # The first shard goes first, and alone if it fails: a job's counters
        # are then never behind the acks of its pages (a job without leases
        # has counted all its pages).
        self._flush_shard(0)
        failure: Exception | None = None
        for shard in range(1, len(self.store.shards)):
            try:
                self._flush_shard(shard)
            except REDIS_ERRORS as error:
                failure = failure or error
        if failure is not None:
            raise failure
        return len(self) == 0

    def _flush_shard(self, shard: int) -> None:
        keys = self.store.keys
        with self._lock:
            links, self._links[shard] = self._links[shard], {}
            pages, self._pages[shard] = self._pages[shard], set()
            acks, self._acks[shard] = self._acks[shard], {}
            counters: dict[str, dict[str, int]] = {}
            if shard == 0:
                counters, self._counters = (
                    dict(self._counters),
                    defaultdict(lambda: defaultdict(int)),
                )
        if not (links or acks or counters):
            return
        try:
            pipe = self.store.shards[shard].pipeline(transaction=True)
            for job, entries in acks.items():
                pipe.zrem(keys.leases(job), *(entry for _, entry in entries))
            for job, items in links.items():
                # Reads the job's filter size from Redis the first time.
                bloom = self.store.bloom(job, shard)
                script_keys, args = bloom.push_call(list(items.items()), keys.queue(job))
                pipe.eval(ADD_AND_PUSH_MANY, len(script_keys), *script_keys, *args)
            for job, amounts in counters.items():
                for name, amount in amounts.items():
                    pipe.hincrby(keys.job(job), name, amount)
            results = pipe.execute()
        except REDIS_ERRORS:
            with self._lock:
                self._restore(shard, links, pages, acks, counters)
            raise
        queued = sum(int(n) for n in results[len(acks) : len(acks) + len(links)])
        acked = [(job, url) for job, entries in acks.items() for url, _ in entries]
        with self._lock:
            self.queued += queued
            for job, items in links.items():
                self.checked += len(items)
                for target in items:
                    self._known.add((job, target))
            for page in pages:
                waiting = self._outstanding.get(page)
                if waiting is None:
                    continue
                waiting.discard(shard)
                if not waiting:
                    del self._outstanding[page]
                    entry = self._deferred.pop(page, None)
                    if entry is not None:
                        own = self.store.shards.of_url(page[1])
                        self._acks[own].setdefault(page[0], []).append((page[1], entry))
        if self.on_acked is not None:
            for job, url in acked:
                self.on_acked(job, url)

    def _restore(
        self,
        shard: int,
        links: dict[str, dict[str, str]],
        pages: set[PageKey],
        acks: dict[str, list[tuple[str, str]]],
        counters: dict[str, dict[str, int]],
    ) -> None:
        for job, items in links.items():
            # What came in meanwhile goes after what was there.
            merged = dict(items)
            for target, entry in self._links[shard].get(job, {}).items():
                merged.setdefault(target, entry)
            self._links[shard][job] = merged
        self._pages[shard] |= pages
        for job, entries in acks.items():
            self._acks[shard].setdefault(job, [])[:0] = entries
        for job, amounts in counters.items():
            for name, amount in amounts.items():
                self._counters[job][name] += amount
