"""Hands page records straight to the index, in-process (``linkgraph crawl``).

Uses the consumers' :class:`~consumers.edges.EdgeWriter`, so a one-process
crawl stores exactly what the Kafka path stores. The index comes from the
``LINKGRAPH_INDEX`` setting (an open :class:`~linkindex.client.Index`, as the
CLI passes it) or is opened from ``LINKGRAPH_CLICKHOUSE`` / ``LINKGRAPH_DATA_DIR``.

A write that fails is retried while the error is retriable; otherwise the crawl
stops (reason ``index_error``) and nothing is dropped silently: the error is
kept on the crawler as ``crawler.linkgraph_error`` for the CLI to report.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider

from consumers.edges import EdgeWriter
from linkgraph import defaults
from linkgraph.errors import LinkgraphError
from linkgraph.records import PageRecord
from linkindex.client import Index, open_index, resolve_location

log = logging.getLogger(__name__)

_RETRIES = 5


class IndexPipeline:
    """Buffers page records and writes them to the index in batches."""

    def __init__(
        self, crawler: Crawler, index: Index | None, batch_pages: int, batch_seconds: float
    ) -> None:
        self.crawler = crawler
        self.index = index
        self.owns_index = index is None
        self.batch_pages = batch_pages
        self.batch_seconds = batch_seconds
        self.writer: EdgeWriter | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IndexPipeline:
        settings = crawler.settings
        return cls(
            crawler,
            settings.get("LINKGRAPH_INDEX"),
            settings.getint("CLICKHOUSE_BATCH_PAGES", defaults.CLICKHOUSE_BATCH_PAGES),
            settings.getfloat("CLICKHOUSE_BATCH_SECONDS", defaults.CLICKHOUSE_BATCH_SECONDS),
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

    def _write(self, operation: str) -> None:
        assert self.writer is not None
        for attempt in range(_RETRIES):
            try:
                self.writer.flush()
                return
            except LinkgraphError as error:
                if not error.retriable or attempt == _RETRIES - 1:
                    self.crawler.linkgraph_error = error  # type: ignore[attr-defined]
                    log.error("index write failed (%s): %s", operation, error)
                    raise CloseSpider("index_error") from error
                log.warning("index write failed, retrying: %s", error)
                time.sleep(min(2**attempt, 10))

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, PageRecord):
            assert self.writer is not None
            if self.writer.add(item):
                self._write("batch")
        return item

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.writer is not None and getattr(self.crawler, "linkgraph_error", None) is None:
            with contextlib.suppress(CloseSpider):  # the error is kept on the crawler
                self._write("final flush")
        stats = self.crawler.stats
        if self.writer is not None and stats is not None:
            stats.set_value("linkgraph/pages_written", self.writer.pages_written)
            stats.set_value("linkgraph/edges_written", self.writer.edges_written)
        if self.owns_index and self.index is not None:
            self.index.close()
