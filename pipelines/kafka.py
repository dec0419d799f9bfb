"""Hands page records to Kafka (``linkgraph worker``).

Each :class:`~linkcore.records.PageRecord` becomes one message on the page
topic in the ``linkgraph.page/1`` format (see :mod:`linkcore.kafka`: JSON of
``PageRecord.to_dict()``, key = source host, header ``schema``, batch
compression). The producer is idempotent with ``acks='all'``; a record counts
as delivered only when every in-sync replica has it.

Delivery is reported back to the spider, on the reactor thread:
``spider.page_delivered(page)`` after the broker acknowledged it (the worker
spider acks its Redis lease there), ``spider.page_failed(page, error)`` when it
could not be delivered (the lease is then left to expire, so the URL is
crawled again). Both are optional. A broker that is away (no metadata within
``max_block_ms``: restarting, electing a leader) fails nothing: the page, and
those after it, wait for it for up to ``KAFKA_OUTAGE_SECONDS`` (60 s each),
sent from a thread so that the crawl is not stalled. Failures are counted in the crawl stats as
``linkgraph/kafka_errors`` and logged one line each; at close, whatever is
still undelivered after ``KAFKA_FLUSH_TIMEOUT`` seconds is logged and counted
as ``linkgraph/kafka_undelivered`` — never dropped silently.

Settings: ``LINKGRAPH_KAFKA`` (bootstrap servers), ``LINKGRAPH_TOPIC``,
``KAFKA_PARTITIONS`` and ``KAFKA_REPLICATION_FACTOR`` (used when the topic is
created on first use), ``KAFKA_COMPRESSION``, ``KAFKA_LINGER_MS``,
``KAFKA_MAX_MESSAGE_BYTES``, ``KAFKA_FLUSH_TIMEOUT``; an empty setting falls
back to the environment (``LINKGRAPH_KAFKA``, ``LINKGRAPH_TOPIC``) and then to
the defaults.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import DeferredLock

from linkcore import config
from linkcore import kafka as lgkafka
from linkcore.errors import LinkgraphError, ServiceUnavailable
from linkcore.metrics import ERRORS, LINKS, PAGES
from linkcore.records import PageRecord

log = logging.getLogger(__name__)

#: Seconds ``close_spider`` waits for outstanding deliveries.
KAFKA_FLUSH_TIMEOUT: Final = config.KAFKA_FLUSH_TIMEOUT
#: Seconds a page waits for an unavailable broker (no metadata) before it is failed.
KAFKA_OUTAGE_SECONDS: Final = config.KAFKA_OUTAGE_SECONDS


def settings_from_crawler(crawler: Crawler) -> lgkafka.KafkaSettings:
    """The validated :class:`~linkcore.kafka.KafkaSettings` of a crawl's settings."""
    settings = crawler.settings
    return lgkafka.resolve_kafka(
        settings.get("LINKGRAPH_KAFKA") or None,
        settings.get("LINKGRAPH_TOPIC") or None,
        partitions=settings.getint("KAFKA_PARTITIONS", lgkafka.KAFKA_PARTITIONS),
        replication_factor=settings.getint(
            "KAFKA_REPLICATION_FACTOR", lgkafka.KAFKA_REPLICATION_FACTOR
        ),
        compression=settings.get("KAFKA_COMPRESSION") or lgkafka.KAFKA_COMPRESSION,
        linger_ms=settings.getint("KAFKA_LINGER_MS", lgkafka.KAFKA_LINGER_MS),
        max_message_bytes=settings.getint(
            "KAFKA_MAX_MESSAGE_BYTES", lgkafka.KAFKA_MAX_MESSAGE_BYTES
        ),
    )


class KafkaPipeline:
    """Produces every page record to the page topic; reports delivery to the spider.

    ``producer`` is a kafka-python ``KafkaProducer`` (from
    :func:`linkcore.kafka.make_producer`). Items that are not page records
    pass through untouched; page records pass on too, whatever their fate.
    """

    def __init__(
        self,
        crawler: Crawler,
        producer: Any,
        topic: str,
        flush_timeout: float = KAFKA_FLUSH_TIMEOUT,
    ) -> None:
        self.crawler = crawler
        self.producer = producer
        self.topic = topic
        self.flush_timeout = flush_timeout
        # Delivery outcomes arrive on the producer's I/O thread; they queue
        # here and are handed to the spider on the thread that runs the crawl.
        self._outcomes: collections.deque[tuple[PageRecord, BaseException | None]] = (
            collections.deque()
        )
        self._lock = threading.Lock()
        self._in_flight = 0
        self.delivered = 0
        self.failed = 0
        self._call_in_reactor: Callable[[Callable[[], None]], None] | None = None
        # At close, failures are summed up in one line rather than one per page.
        self._closing = False
        #: Set when Kafka refused a record for good; the crawl then stops.
        self.fatal: LinkgraphError | None = None
        #: Seconds a page waits for an unavailable broker before it is failed.
        self.outage_seconds = KAFKA_OUTAGE_SECONDS
        self._outage_since: float | None = None
        self._send_lock = DeferredLock()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> KafkaPipeline:
        try:
            settings = settings_from_crawler(crawler)
            producer = lgkafka.make_producer(settings, client_id="linkgraph-worker")
        except LinkgraphError as error:
            crawler.linkgraph_error = error  # type: ignore[attr-defined]
            raise
        return cls(
            crawler,
            producer,
            settings.topic,
            crawler.settings.getfloat("KAFKA_FLUSH_TIMEOUT", KAFKA_FLUSH_TIMEOUT),
        )

    # -- Scrapy hooks ----------------------------------------------------------
    def open_spider(self, spider: Spider | None = None) -> None:
        # Looked up, not imported: importing twisted.internet.reactor installs one.
        reactor = sys.modules.get("twisted.internet.reactor")
        if reactor is not None and getattr(reactor, "running", False):
            self._call_in_reactor = reactor.callFromThread

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        self._report()
        if not isinstance(item, PageRecord):
            return item
        if self.fatal is not None:
            self._failed(item, self.fatal)
            return item
        if self._outage_since is not None and self._call_in_reactor is not None:
            # The broker is away: wait for it off the reactor, like the page before.
            return deferred_from_coro(self._send_when_back(item))
        try:
            self._send(item)
        except Exception as error:
            if getattr(error, "retriable", False) and self._call_in_reactor is not None:
                # No metadata within max_block_ms: the broker is away (restarting,
                # electing a leader). The page waits for it; it is not failed.
                self._outage(error)
                return deferred_from_coro(self._send_when_back(item))
            # Refused before sending: not JSON-able (MalformedRecord), too large,
            # producer closed.
            self._failed(item, error)
            self._report()
        return item

    def _send(self, item: PageRecord) -> None:
        key, value, headers = lgkafka.encode_page(item)
        future = self.producer.send(self.topic, value=value, key=key, headers=headers)
        with self._lock:
            self._in_flight += 1
        PAGES.labels("produced").inc()
        LINKS.labels("produced").inc(len(item.links))
        future.add_callback(self._on_delivered, item)
        future.add_errback(self._on_error, item)

    def _outage(self, error: BaseException) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning(
                "Kafka is unavailable (%s: %s); pages wait for it, for up to %.0f s each",
                type(error).__name__,
                " ".join(str(error).split())[:200],
                self.outage_seconds,
            )

    async def _send_when_back(self, item: PageRecord) -> PageRecord:
        """Send ``item`` from a thread (a blocked send must not stall the crawl), retrying."""
        from twisted.internet import reactor
        from twisted.internet.task import deferLater
        from twisted.internet.threads import deferToThread

        deadline = time.monotonic() + self.outage_seconds
        # One send at a time, in arrival order: a host's pages stay in order.
        await maybe_deferred_to_future(self._send_lock.acquire())
        try:
            while True:
                try:
                    await maybe_deferred_to_future(deferToThread(self._send, item))
                except Exception as error:
                    if not getattr(error, "retriable", False) or time.monotonic() > deadline:
                        self._failed(item, error)
                        return item
                    self._outage(error)
                    await maybe_deferred_to_future(deferLater(reactor, 1.0, lambda: None))
                    continue
                if self._outage_since is not None:
                    log.warning("Kafka is back after %.1f s", time.monotonic() - self._outage_since)
                    self._outage_since = None
                return item
        finally:
            self._send_lock.release()

    def close_spider(self, spider: Spider | None = None) -> None:
        try:
            self.producer.flush(timeout=self.flush_timeout)
        except Exception as error:  # a timeout: what is still in flight is counted below
            log.debug("producer flush: %s", error)
        with self._lock:
            undelivered = self._in_flight
        if undelivered:
            log.error(
                "%d page record(s) were not delivered to Kafka topic %s within %.0f s; "
                "they are reported to the spider as failed and will be crawled again",
                undelivered,
                self.topic,
                self.flush_timeout,
            )
            self._inc_stat("linkgraph/kafka_undelivered", undelivered)
            ERRORS.labels("kafka_undelivered").inc(undelivered)
        # Closing fails whatever is still pending; their errbacks queue outcomes.
        self._closing = True
        lgkafka.close_producer(self.producer, 0 if undelivered else self.flush_timeout)
        self._report()
        self._set_stat("linkgraph/kafka_delivered", self.delivered)

    # -- delivery outcomes -------------------------------------------------------
    def _on_delivered(self, page: PageRecord, _metadata: Any) -> None:
        self._queue(page, None)

    def _on_error(self, page: PageRecord, error: BaseException) -> None:
        self._queue(page, error)

    def _queue(self, page: PageRecord, error: BaseException | None) -> None:
        with self._lock:
            self._in_flight -= 1
        self._outcomes.append((page, error))
        if self._call_in_reactor is not None:
            try:
                self._call_in_reactor(self._report)
            except Exception:  # the reactor has stopped: close_spider reports the rest
                log.debug("reactor gone; delivery outcome queued", exc_info=True)

    def _report(self) -> None:
        """Hand queued delivery outcomes to the spider (on the crawl's thread)."""
        spider = self.crawler.spider
        while self._outcomes:
            page, error = self._outcomes.popleft()
            if error is None:
                self.delivered += 1
                callback = getattr(spider, "page_delivered", None)
                if callback is not None:
                    callback(page)
            else:
                self._failed(page, error)
                if not self._closing and not getattr(error, "retriable", False):
                    self._stop_crawl(page, error)

    def _stop_crawl(self, page: PageRecord, error: BaseException) -> None:
        """Stop the crawl after Kafka refused a record for good.

        kafka-python 3.0's idempotent producer fails every record after a batch
        the broker refused, so going on would only fail every page.
        """
        if self.fatal is not None:
            return
        self.fatal = ServiceUnavailable(
            f"Kafka refused the page record of {page.url} ({type(error).__name__}) and the "
            "producer cannot go on; stopping the crawl (pages not delivered are crawled again)"
        )
        self.fatal.retriable = False
        self.crawler.linkgraph_error = self.fatal  # type: ignore[attr-defined]
        log.error("%s", self.fatal)
        try:
            engine = self.crawler.engine
        except RuntimeError:  # no crawl running (the pipeline used on its own)
            return
        if engine is not None and getattr(engine, "spider", None) is not None:
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(engine.close_spider_async(reason="kafka_error"))

    def _failed(self, page: PageRecord, error: BaseException) -> None:
        self.failed += 1
        self._inc_stat("linkgraph/kafka_errors")
        ERRORS.labels("kafka_delivery").inc()
        if not self._closing:
            log.error(
                "page record of %s not delivered to Kafka topic %s: %s: %s",
                page.url,
                self.topic,
                type(error).__name__,
                " ".join(str(error).split())[:200],
            )
        callback = getattr(self.crawler.spider, "page_failed", None)
        if callback is not None:
            callback(page, error)

    def _inc_stat(self, name: str, count: int = 1) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(name, count)

    def _set_stat(self, name: str, value: int) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.set_value(name, value)
