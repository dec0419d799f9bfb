"""Hands page records straight to the index, in-process (``linkgraph crawl``).

Uses the consumers' :class:`~linkindex.writer.EdgeWriter`, so a one-process
crawl stores exactly what the Kafka path stores. The index is opened from
``LINKGRAPH_CLICKHOUSE`` / ``LINKGRAPH_DATA_DIR``.

Batches are inserted by the index's writer thread
(:class:`~linkindex.writing.WriterThread`): the embedded engine (and the HTTP
client of a server) releases the GIL while it inserts, so the reactor goes on
fetching and extracting pages meanwhile. Their rows and Arrow tables are built
on the reactor thread (see ``_write``).

Guarantees:

* **In order, nothing dropped silently.** Full batches queue for the writer
  thread in the order they filled, and it writes one at a time. A batch that
  fails stays first in the queue and is written again, whole.
* **Bounded memory.** Past ``_QUEUED_BATCHES`` queued batches (the one being
  written included), the item that filled one more waits until the queue is
  back within bounds, and new pages queue behind it (Scrapy's item
  back-pressure).
* **An unavailable index** (a retriable error) is retried with exponential
  back-off (capped at ``CLICKHOUSE_MAX_BACKOFF``, ``CLICKHOUSE_RETRY_SECONDS`` in
  all, default 60 s). The wait is on the writer thread, never on the reactor:
  downloads go on.
* **An index that refuses the write** (not retriable: disk full, schema
  mismatch), or an outage that outlasts the retry budget, closes the spider
  with reason ``index_error``; the error is kept on the crawler as
  ``crawler.linkgraph_error`` for the CLI to report in one line.
* **A clean close.** However the spider closes (the crawl's end,
  ``max_pages``, SIGTERM or SIGINT), the buffered pages are queued and every
  queued batch is written before the pipeline reports the spider closed.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import CancelledError, Deferred

from linkcore import config
from linkcore.errors import LinkgraphError
from linkcore.records import PageRecord
from linkindex import rollups
from linkindex.client import Index, open_index, resolve_location
from linkindex.writer import EdgeWriter
from linkindex.writing import WriterThread, write_failure

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Full batches queued before the items that fill more wait, the one being
#: written included: one more fills while one is written.
_QUEUED_BATCHES = 2


class IndexPipeline:
    """Buffers page records and writes them to the index in batches (see module doc)."""

    def __init__(
        self,
        crawler: Crawler,
        batch_pages: int,
        batch_seconds: float,
        retry_seconds: float = config.CLICKHOUSE_RETRY_SECONDS,
    ) -> None:
        self.crawler = crawler
        self.index: Index | None = None
        self.batch_pages = batch_pages
        self.batch_seconds = batch_seconds
        self.retry_seconds = retry_seconds
        self.writer: EdgeWriter | None = None
        self.failed: LinkgraphError | None = None
        # Full batches, oldest first; the first is being written.
        self._queue: deque[list[PageRecord]] = deque()
        self._thread: WriterThread | None = None
        self._stop_thread: Any = None
        self._draining: Deferred[None] | None = None
        # Items waiting for room in the queue.
        self._waiting: list[Deferred[None]] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexPipeline:
        settings = crawler.settings
        return cls(
            crawler,
            settings.getint("CLICKHOUSE_BATCH_PAGES", config.CLICKHOUSE_BATCH_PAGES),
            settings.getfloat("CLICKHOUSE_BATCH_SECONDS", config.CLICKHOUSE_BATCH_SECONDS),
            settings.getfloat("CLICKHOUSE_RETRY_SECONDS", config.CLICKHOUSE_RETRY_SECONDS),
        )

    def open_spider(self, spider: Spider | None = None) -> None:
        settings = self.crawler.settings
        location = resolve_location(
            settings.get("LINKGRAPH_DATA_DIR") or None,
            settings.get("LINKGRAPH_CLICKHOUSE") or None,
        )
        try:
            self.index = open_index(location)
        except LinkgraphError as error:
            self.crawler.linkgraph_error = error  # type: ignore[attr-defined]
            raise
        self.writer = EdgeWriter(self.index, self.batch_pages, self.batch_seconds)
        self._thread = WriterThread(retry_for=self.retry_seconds)
        # A reactor stopped without closing the spider (a second SIGINT) must
        # not leave the process waiting for the thread.
        self._stop_thread = self._reactor().addSystemEventTrigger(
            "during", "shutdown", partial(self._thread.close, wait=False)
        )

    @staticmethod
    def _reactor() -> Any:
        # Imported here: importing the reactor at module level would install
        # Twisted's default reactor before Scrapy installs the asyncio one.
        from twisted.internet import reactor

        return reactor

    def _on_reactor(self, future: Future[T]) -> Deferred[T]:
        """The outcome of ``future`` (of the writer thread), delivered on the reactor thread."""
        deferred: Deferred[T] = Deferred()

        def settle(done: Future[T]) -> None:
            if done.cancelled():
                deferred.errback(CancelledError())
            elif (error := done.exception()) is not None:
                deferred.errback(error)
            else:
                deferred.callback(done.result())

        future.add_done_callback(lambda done: self._reactor().callFromThread(settle, done))
        return deferred

    async def _enqueue(self, pages: list[PageRecord]) -> None:
        """Queue a full batch for the writer thread; return once the queue is within bounds."""
        self._queue.append(pages)
        if self._draining is None:
            draining = deferred_from_coro(self._drain())
            if not draining.called:  # else it ran to its end already
                self._draining = draining
        while len(self._queue) > _QUEUED_BATCHES and self.failed is None:
            room: Deferred[None] = Deferred()
            self._waiting.append(room)
            await maybe_deferred_to_future(room)

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, []
        for room in waiting:
            room.callback(None)

    async def _drain(self) -> None:
        """Write the queued batches in order, until the queue is empty or a write failed."""
        try:
            while self._queue and self.failed is None:
                if not await self._write(self._queue[0]):
                    return
                self._queue.popleft()
                self._wake()
        finally:
            self._draining = None
            self._wake()

    async def _write(self, pages: list[PageRecord]) -> bool:
        """Write one batch, retried on the writer thread while the index is unavailable.

        Its rows are built here: Python that would hold the GIL on the writer
        thread too, and hold up the reactor thread longer there, waiting for
        the GIL between its network reads. The writer thread only inserts.
        False when the crawl has to stop (see module doc).
        """
        assert self.writer is not None and self._thread is not None
        try:
            tables = self.writer.tables(pages)
            write = self._thread.submit(
                partial(self.writer.insert, tables), partial(self._retrying, len(pages))
            )
            await maybe_deferred_to_future(self._on_reactor(write.future))
        except Exception as error:
            self._fail(write_failure(error))
            return False
        return True

    @staticmethod
    def _retrying(pages: int, error: LinkgraphError, delay: float) -> None:
        log.warning(
            "index write failed (%s); retrying the same %d pages in %.1f s", error, pages, delay
        )

    def _fail(self, error: LinkgraphError) -> None:
        self.failed = error
        self.crawler.linkgraph_error = error  # type: ignore[attr-defined]
        assert self.writer is not None
        log.error(
            "index write failed: %s; stopping the crawl, %d fetched pages not stored",
            error,
            sum(map(len, self._queue)) + len(self.writer),
        )
        # CloseSpider raised in a pipeline is only logged by Scrapy as an item
        # error: the engine must be told to close.
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            deferred_from_coro(engine.close_spider_async(reason="index_error"))

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, PageRecord) and self.failed is None:
            assert self.writer is not None
            if self.writer.add(item):
                await self._enqueue(self.writer.take())
        return item

    async def close_spider(self, spider: Spider | None = None) -> None:
        if self.writer is not None and self.failed is None:
            pages = self.writer.take()
            if pages:
                await self._enqueue(pages)
        if self._draining is not None:
            await maybe_deferred_to_future(self._draining)
        if self._thread is not None:
            self._reactor().removeSystemEventTrigger(self._stop_thread)
            self._thread.close()
        if self.writer is not None and self.failed is None and self.writer.pages_written:
            assert self.index is not None
            rollups.refresh_after_writing(self.index)
        stats = self.crawler.stats
        if self.writer is not None and stats is not None:
            stats.set_value("linkgraph/pages_written", self.writer.pages_written)
            stats.set_value("linkgraph/edges_written", self.writer.edges_written)
        if self.index is not None:
            self.index.close()
