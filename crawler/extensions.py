"""A progress display for one-process crawls.

Once a second it rewrites one status line on stderr (pages, links, queued, in
flight, errors, pages/s) when stderr is a terminal; otherwise it logs a line
every ten seconds. Enabled by ``LINKGRAPH_PROGRESS``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sized

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

log = logging.getLogger(__name__)


class Progress:
    """Status line while crawling (see module doc)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.tty = sys.stderr.isatty()
        self.interval = 1.0 if self.tty else 10.0
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        if not crawler.settings.getbool("LINKGRAPH_PROGRESS"):
            raise NotConfigured("progress display off")
        extension = cls(crawler)
        crawler.signals.connect(extension.opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.closed, signal=signals.spider_closed)
        return extension

    def opened(self) -> None:
        self.started = time.monotonic()
        self.loop = task.LoopingCall(self.show)
        self.loop.start(self.interval, now=False)

    def line(self) -> str:
        stats = self.crawler.stats
        assert stats is not None
        pages = stats.get_value("linkgraph/pages", 0)
        links = stats.get_value("linkgraph/links", 0)
        errors = stats.get_value("linkgraph/errors", 0)
        engine = self.crawler.engine
        queued = in_flight = 0
        # ExecutionEngine.scheduler is public from Scrapy 2.19 (pyproject.toml pins it).
        scheduler = engine.scheduler if engine is not None else None
        if engine is not None and scheduler is not None:
            queued = len(scheduler) if isinstance(scheduler, Sized) else 0
            in_flight = len(engine.downloader.active)
        rate = pages / max(time.monotonic() - self.started, 1e-6)
        return (
            f"pages {pages}  links {links}  queued {queued}  in flight {in_flight}  "
            f"errors {errors}  {rate:.1f} pages/s"
        )

    def show(self) -> None:
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + self.line())
            sys.stderr.flush()
        else:
            log.info("%s", self.line())

    def closed(self) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.tty:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
