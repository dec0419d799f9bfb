"""Hands page records straight to the index, in-process (``linkgraph crawl``).

Uses the consumers' :class:`~consumers.edges.EdgeWriter`, so a one-process
crawl stores exactly what the Kafka path stores. The index comes from the
``LINKGRAPH_INDEX`` setting (an open :class:`~linkindex.client.Index`, as the
CLI passes it) or is opened from ``LINKGRAPH_CLICKHOUSE`` / ``LINKGRAPH_DATA_DIR``.

Guarantees:

* **Nothing dropped silently.** A batch that fails stays buffered and is
  written again, whole and in order, with the pages that arrived meanwhile.
* **An unavailable index** (a retriable error) is retried with exponential
  back-off (``CLICKHOUSE_RETRY_SECONDS`` in all, default 60 s). The wait is a
  timer on the reactor, never a sleep in it: downloads already under way carry
  on, and new pages queue behind the write in progress (Scrapy's item
  back-pressure), so memory stays bounded.
* **An index that refuses the write** (not retriable: disk full, schema
  mismatch), or an outage that outlasts the retry budget, closes the spider
  with reason ``index_error``; the error is kept on the crawler as
  ``crawler.linkgraph_error`` for the CLI to report in one line.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import DeferredLock
from twisted.internet.task import deferLater

from consumers.edges import EdgeWriter
from linkgraph import defaults
from linkgraph.errors import IndexError_, LinkgraphError
from linkgraph.records import PageRecord
from linkindex import rollups
from linkindex.client import Index, open_index, resolve_location

log = logging.getLogger(__name__)

#: Longest single wait between two attempts, seconds.
_MAX_BACKOFF = 10.0


class IndexPipeline:
    """Buffers page records and writes them to the index in batches (see module doc)."""

    def __init__(
        self,
        crawler: Crawler,
        index: Index | None,
        batch_pages: int,
        batch_seconds: float,
        retry_seconds: float = defaults.CLICKHOUSE_RETRY_SECONDS,
    ) -> None:
        self.crawler = crawler
        self.index = index
        self.owns_index = index is None
        self.batch_pages = batch_pages
        self.batch_seconds = batch_seconds
        self.retry_seconds = retry_seconds
        self.writer: EdgeWriter | None = None
        # One write (with its retries) at a time; items that fill the buffer
        # meanwhile wait here, which is the crawl's back-pressure.
        self._lock = DeferredLock()
        self.failed: LinkgraphError | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexPipeline:
        settings = crawler.settings
        return cls(
            crawler,
            settings.get("LINKGRAPH_INDEX"),
            settings.getint("CLICKHOUSE_BATCH_PAGES", defaults.CLICKHOUSE_BATCH_PAGES),
            settings.getfloat("CLICKHOUSE_BATCH_SECONDS", defaults.CLICKHOUSE_BATCH_SECONDS),
            settings.getfloat("CLICKHOUSE_RETRY_SECONDS", defaults.CLICKHOUSE_RETRY_SECONDS),
        )

    def open_spider(self, spider: Spider | None = None) -> None:
        if self.index is None:
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

    async def _sleep(self, seconds: float) -> None:
        # Imported here: importing the reactor at module level would install
        # Twisted's default reactor before Scrapy installs the asyncio one.
        from twisted.internet import reactor

        await maybe_deferred_to_future(deferLater(reactor, seconds, lambda: None))

    async def _write(self, operation: str, *, only_if_due: bool) -> None:
        """Write the buffer, retrying while the index is unavailable (see module doc)."""
        assert self.writer is not None
        await maybe_deferred_to_future(self._lock.acquire())
        try:
            if self.failed is not None:
                return
            if only_if_due and not (len(self.writer) >= self.batch_pages or self.writer.due()):
                return  # the write this item waited for took its page too
            deadline = time.monotonic() + self.retry_seconds
            attempt = 0
            while True:
                try:
                    self.writer.flush()
                    return
                except LinkgraphError as error:
                    failure: LinkgraphError = error
                except Exception as error:  # a row the index cannot hold, or a bug
                    failure = IndexError_(
                        f"index write failed: {type(error).__name__}: "
                        f"{' '.join(str(error).split())[:300]}"
                    )
                delay = min(_MAX_BACKOFF, 0.5 * 2**attempt)
                if not failure.retriable or time.monotonic() + delay > deadline:
                    self._fail(operation, failure)
                    return
                log.warning(
                    "index write failed (%s); retrying the same %d pages in %.1f s",
                    failure,
                    len(self.writer),
                    delay,
                )
                await self._sleep(delay)
                attempt += 1
        finally:
            self._lock.release()

    def _fail(self, operation: str, error: LinkgraphError) -> None:
        self.failed = error
        self.crawler.linkgraph_error = error  # type: ignore[attr-defined]
        assert self.writer is not None
        log.error(
            "index write failed (%s): %s; stopping the crawl, %d fetched pages not stored",
            operation,
            error,
            len(self.writer),
        )
        # CloseSpider raised in a pipeline is only logged by Scrapy as an item
        # error: the engine must be told to close.
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(engine.close_spider_async(reason="index_error"))

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, PageRecord) and self.failed is None:
            assert self.writer is not None
            if self.writer.add(item):
                await self._write("batch", only_if_due=True)
        return item

    async def close_spider(self, spider: Spider | None = None) -> None:
        if self.writer is not None and self.failed is None:
            await self._write("final flush", only_if_due=False)
        if self.writer is not None and self.failed is None and self.writer.pages_written:
            assert self.index is not None
            rollups.refresh_after_writing(self.index)
        stats = self.crawler.stats
        if self.writer is not None and stats is not None:
            stats.set_value("linkgraph/pages_written", self.writer.pages_written)
            stats.set_value("linkgraph/edges_written", self.writer.edges_written)
        if self.owns_index and self.index is not None:
            self.index.close()
