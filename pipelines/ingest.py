"""Hands the page records of web archives on: to the index, to Kafka, or as a job's worker.

``linkgraph ingest warc|wat`` reads archives one after the other
(:func:`ingest`) into a :class:`Sink`: :class:`IndexSink` writes to the
configured index in-process, through the consumers' own
:class:`~linkindex.writer.EdgeWriter` (what a crawl or a consumer stores);
:class:`KafkaSink` puts ordinary page messages on the page topic, which
``linkgraph consume`` indexes unchanged.

In a distributed job started with ``--warc-paths`` (docs/ingest.md#many-machines),
every ``linkgraph worker`` runs an :class:`ArchiveReader` thread beside its
crawl: it leases one archive at a time from the job's queue in Redis (the
crawl frontier's leases, :func:`crawler.frontier.queue.pop_entries`), renews
the lease while it reads, and acknowledges it only once Kafka has every page
of the file. A killed worker's lease runs out and another worker reads the
file again; replayed pages are harmless, the index keeps one row per edge.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Final, Protocol

from crawler.archives import READERS, ArchiveError, Tally, open_archive
from crawler.frontier.connection import REDIS_ERRORS
from crawler.frontier.jobs import JobStore
from crawler.frontier.queue import decode_entry, pop_entries, renew_leases
from linkcore import config
from linkcore import kafka as lgkafka
from linkcore.errors import LinkgraphError, ServiceUnavailable
from linkcore.records import MalformedRecord, PageRecord
from linkindex import rollups
from linkindex.client import Index
from linkindex.writer import EdgeWriter
from linkindex.writing import WriterThread, write_failure

log = logging.getLogger(__name__)

#: Pages between two looks at whether a job was stopped while one of its files is read.
_STOP_CHECK_PAGES: Final = 500


class Sink(Protocol):
    """Where ingested page records go."""

    pages_written: int
    edges_written: int

    def put(self, page: PageRecord) -> None: ...

    def close(self) -> None: ...


class IndexSink:
    """Writes page records to ``index`` in batches, an unavailable index retried for
    up to ``retry_seconds`` (then :class:`~linkcore.errors.LinkgraphError`).

    Batches are inserted on the index's writer thread while the next one is
    read and extracted; at most one waits behind the one being written.
    """

    def __init__(
        self,
        index: Index,
        batch_pages: int = config.CLICKHOUSE_BATCH_PAGES,
        retry_seconds: float = config.CLICKHOUSE_RETRY_SECONDS,
    ) -> None:
        self.index = index
        # No time bound: an ingest has its pages at hand, batches fill at once.
        self.writer = EdgeWriter(index, batch_pages, float("inf"))
        self.thread = WriterThread(retry_for=retry_seconds)
        self._pending: Any = None
        self.pages_written = 0
        self.edges_written = 0

    def put(self, page: PageRecord) -> None:
        if self.writer.add(page):
            self._submit(self.writer.take())

    def _submit(self, pages: list[PageRecord]) -> None:
        tables = self.writer.tables(pages)
        self._wait()
        self._pending = self.thread.submit(partial(self.writer.insert, tables), self._retrying)

    def _wait(self) -> None:
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        try:
            pending.future.result()
        except LinkgraphError:
            raise
        except Exception as error:
            raise write_failure(error) from None
        self.pages_written = self.writer.pages_written
        self.edges_written = self.writer.edges_written

    @staticmethod
    def _retrying(error: LinkgraphError, delay: float) -> None:
        log.warning("index write failed (%s); retrying in %.1f s", error, delay)

    def close(self) -> None:
        """Write what is buffered, wait for it, refresh the rollups."""
        try:
            pages = self.writer.take()
            if pages:
                self._submit(pages)
            self._wait()
        finally:
            self.thread.close()
        if self.writer.pages_written:
            rollups.refresh_after_writing(self.index)


class KafkaSink:
    """Produces page records to the page topic (``linkcore.kafka``'s message format).

    ``close`` waits for every acknowledgement and raises
    :class:`~linkcore.errors.ServiceUnavailable` when any record was not delivered.
    """

    def __init__(self, producer: Any, topic: str, flush_timeout: float = 120.0) -> None:
        self.producer = producer
        self.topic = topic
        self.flush_timeout = flush_timeout
        self.pages_written = 0
        self.edges_written = 0
        self.failed = 0
        #: Page records that cannot be a message (see ``put``).
        self.refused = 0
        self._lock = threading.Lock()
        self._error: BaseException | None = None

    @classmethod
    def connect(cls, settings: lgkafka.KafkaSettings, client_id: str) -> KafkaSink:
        return cls(lgkafka.make_producer(settings, client_id=client_id), settings.topic)

    def put(self, page: PageRecord) -> None:
        if self._error is not None:
            raise self._failure()
        try:
            key, value, headers = lgkafka.encode_page(page)
        except MalformedRecord as error:
            # One page JSON cannot carry (a lone surrogate): counted, the rest go on.
            self.refused += 1
            log.warning("page record not sent: %s", error)
            return
        try:
            future = self.producer.send(self.topic, value=value, key=key, headers=headers)
        except Exception as error:  # no metadata in time, buffer full, producer closed
            self._failed(error)
            raise self._failure() from None
        future.add_callback(self._delivered, len(page.links))
        future.add_errback(self._failed)

    def _delivered(self, edges: int, _metadata: Any) -> None:
        with self._lock:
            self.pages_written += 1
            self.edges_written += edges

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            self.failed += 1
            self._error = self._error or error

    def _failure(self) -> ServiceUnavailable:
        error = self._error
        return ServiceUnavailable(
            f"Kafka did not take {self.failed} page record(s) of topic {self.topic}: "
            f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
        )

    def flush(self) -> None:
        """Wait for every page sent so far; raise if any was refused."""
        try:
            self.producer.flush(timeout=self.flush_timeout)
        except Exception as error:
            self._failed(error)
        if self._error is not None:
            raise self._failure()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            lgkafka.close_producer(self.producer, 0 if self._error else self.flush_timeout)


def source_of(kind: str, name: str) -> str:
    """The ``source`` tag of the page records of archive ``name`` (docs/ingest.md)."""
    return f"{kind}:{name}"


def read_archive(
    kind: str,
    name: str,
    put: Callable[[PageRecord], None],
    tally: Tally,
    *,
    job: str = "",
    keep_going: Callable[[], bool] | None = None,
) -> bool:
    """Read archive ``name`` (a ``kind`` of :data:`~crawler.archives.READERS`) into
    ``put``, counting in ``tally``. False when ``keep_going`` said stop before the end.

    Raises :class:`~crawler.archives.ArchiveError` for an archive that cannot be
    read at all, with its name in the message.
    """
    reader = READERS[kind]
    stream = open_archive(name)
    try:
        pages = reader(stream, tally, source=source_of(kind, name), job=job)
        for number, page in enumerate(pages, 1):
            put(page)
            if keep_going is not None and number % _STOP_CHECK_PAGES == 0 and not keep_going():
                return False
    except ArchiveError as error:
        raise ArchiveError(f"{name}: {error}") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return True


def ingest(
    kind: str,
    names: Iterable[str],
    sink: Sink,
    tally: Tally,
    *,
    job: str = "",
    on_error: Callable[[ArchiveError], None],
) -> int:
    """Read every archive of ``names`` into ``sink``; how many could not be read
    (each reported to ``on_error``; reading goes on with the next)."""
    failed = 0
    for name in names:
        try:
            read_archive(kind, name, sink.put, tally, job=job)
        except ArchiveError as error:
            failed += 1
            on_error(error)
    return failed


# -- distributed jobs ------------------------------------------------------------------


class ArchiveReader:
    """A worker's reader of the archives of running ``--warc-paths`` jobs (module doc).

    ``store`` is the worker's :class:`~crawler.frontier.jobs.JobStore`;
    ``sink_factory`` builds the Kafka sink on first use (a worker that never
    meets an archive job opens no second producer).
    """

    def __init__(
        self,
        store: JobStore,
        sink_factory: Callable[[], KafkaSink],
        lease_seconds: float = config.LINKGRAPH_LEASE_SECONDS,
        idle_seconds: float = 0.5,
    ) -> None:
        self.store = store
        self.sink_factory = sink_factory
        self.lease_seconds = lease_seconds
        self.idle_seconds = idle_seconds
        self.stopping = threading.Event()
        self._sink: KafkaSink | None = None
        self._thread: threading.Thread | None = None
        self.files_read = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="archive-reader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the page being read; the file's lease goes back to the queue."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sink is not None:
            try:
                self._sink.close()
            except LinkgraphError as error:
                log.warning("archive pages not delivered at shutdown: %s", error)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                worked = self.step()
            except REDIS_ERRORS as error:
                log.warning("archive reader: Redis unavailable (%s); trying again", error)
                worked = False
            except Exception:
                log.exception("archive reader failed; trying again")
                worked = False
            if not worked:
                self.stopping.wait(self.idle_seconds)

    def _archive_jobs(self) -> list[str]:
        return [
            name
            for name in sorted(self.store.running())
            if (job := self.store.cached(name)) is not None and job.kind == "archives"
        ]

    def step(self) -> bool:
        """Lease and read one archive of a running job; False when there was none."""
        for name in self._archive_jobs():
            for shard in range(len(self.store.shards)):
                entries = pop_entries(self.store, name, shard, self.lease_seconds, 1)
                if entries:
                    self._read(name, entries[0])
                    return True
        return False

    def _read(self, job: str, entry: str) -> None:
        url = decode_entry(entry)[0]
        kind, _, path = url.partition(":")
        held = {(job, url): entry}
        renewing = threading.Event()

        def renew() -> None:
            # A thread of its own: a long page must not let the lease lapse.
            while not renewing.wait(max(self.lease_seconds / 3, 0.05)):
                try:
                    renew_leases(self.store, held, self.lease_seconds)
                except REDIS_ERRORS as error:
                    log.debug("lease renewal failed (%s)", error)

        heartbeat = threading.Thread(target=renew, name="archive-lease", daemon=True)
        heartbeat.start()
        tally = Tally()
        started = time.monotonic()
        try:
            if self._sink is None:
                self._sink = self.sink_factory()
            sink = self._sink

            def running() -> bool:
                settings = self.store.cached(job)
                return (
                    not self.stopping.is_set()
                    and settings is not None
                    and settings.state == "running"
                )

            try:
                finished = read_archive(kind, path, sink.put, tally, job=job, keep_going=running)
            except ArchiveError as error:
                # Not retried: the next worker would fail the same way.
                log.error("job %s: %s", job, error)
                self.store.count(job, errors=1)
                self.store.ack(job, entry)
                return
            sink.flush()
            if not finished:
                if self.stopping.is_set():
                    self.store.release(job, entry)
                else:
                    self.store.ack(job, entry)  # the job was stopped
                return
            counts = tally.as_dict()
            self.store.count(
                job,
                pages=counts["pages"],
                links=counts["edges"],
                produced=counts["pages"],
                files_read=1,
                records=counts["records"],
                corrupt=counts["corrupt"] + counts["truncated"],
            )
            self.store.ack(job, entry)
            self.files_read += 1
            log.info(
                "job %s: read %s in %.1f s: %d pages, %d edges",
                job,
                path,
                time.monotonic() - started,
                counts["pages"],
                counts["edges"],
            )
        except LinkgraphError as error:
            # Kafka refused: the lease is left to run out, so the file is read again.
            log.error("job %s: %s not delivered (%s); left to its lease", job, path, error)
            self._sink = None
        finally:
            renewing.set()
