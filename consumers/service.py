"""``linkgraph consume``: a Kafka consumer-group member that writes page records to the index.

:func:`run_consumer` joins consumer group ``group_id`` on the page topic
(messages in the ``linkgraph.page/1`` format, see :mod:`linkcore.kafka`),
decodes each message into a :class:`~linkcore.records.PageRecord`, buffers
pages in an :class:`~linkindex.writer.EdgeWriter` and writes them to the index
in batches of ``batch_pages`` pages or ``batch_seconds`` seconds.

Writing overlaps consuming: the consuming thread polls, decodes and builds a
batch's rows and Arrow tables while one writer thread inserts the previous
batch (and runs its lost-links query). At most one batch is in flight: when
the next is built before the previous one is stored, the consuming thread
waits for it (partitions paused, so the member stays in its group). The writer
thread is the only one that touches the index (writes and the rollup
refresh, one at a time); offsets are committed by the consuming thread, once
the batch holding them is stored.

Guarantees:

* **At least once.** Offsets are committed only after the index accepted the
  batch holding every message up to them (and after the dead-letter topic
  acknowledged every rejected message among them). A crash replays at most the
  uncommitted batch; replays are harmless because index writes are idempotent.
* **Bad messages move, the consumer goes on.** A message that is not a valid
  page record (not JSON, another schema version, a field that fails
  validation, larger than ``max_message_bytes``) is copied with its original
  bytes to the dead-letter topic (see :mod:`consumers.dlq`) and skipped.
* **Index unavailable** (a retriable error): the *same* batch is retried with
  exponential back-off capped at ``max_backoff`` seconds (by the index's
  writer thread, :class:`~linkindex.writing.WriterThread`); nothing is
  skipped, nothing committed past it. Partitions are paused meanwhile, so the
  member stays in its group.
* **Kafka unavailable** (a broker restarting): polling goes on, with one
  warning when it goes and one when it is back; nothing is taken in meanwhile.
* **Index refuses the write** (not retriable: disk full, schema mismatch):
  the consumer stops without committing, logs one line saying so, and
  :func:`run_consumer` returns 1.
* **Rebalance.** Before partitions are taken away the batch in flight is
  finished, the buffered batch written and their offsets committed; if a
  write fails both are dropped uncommitted, and the partitions' next owner
  consumes them again.
* **SIGTERM / SIGINT** finish the batch in flight, write the buffered one,
  commit, close and return 0. A second signal gives up at once, without
  waiting for the batch in flight or committing (nothing uncommitted is lost:
  it is consumed again later).

With the embedded index only one consumer can run: chDB lets one process own
a data directory. Several consumers need a ClickHouse server (``--clickhouse``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from types import FrameType
from typing import Any, Final, NoReturn

from kafka import AsyncConsumerRebalanceListener, OffsetAndMetadata

from consumers.dlq import DeadLetters
from consumers.lag import ConsumerLag
from linkcore import config
from linkcore import kafka as lgkafka
from linkcore.errors import ConfigError, IndexLocked, LinkgraphError, ServiceUnavailable
from linkcore.metrics import (
    BATCH_INSERT_SECONDS,
    ERRORS,
    LINKS,
    PAGES,
    start_metrics_server,
)
from linkcore.records import PageRecord
from linkindex import rollups
from linkindex.client import Index, IndexLocation, open_index
from linkindex.writer import EdgeWriter, insert_tables, prepare_arrow
from linkindex.writing import Write, WriterThread, write_failure

log = logging.getLogger(__name__)

#: Consumer group of ``linkgraph consume`` unless told otherwise.
DEFAULT_GROUP_ID: Final = config.KAFKA_GROUP
# Longest single poll; bounds how late a due batch or a stop request is noticed.
_POLL_MS: Final = 500
# Longest poll while a batch is in flight: bounds how late its commit comes.
_BUSY_POLL_MS: Final = 50
# Seconds between the polls that keep the member in its group while it waits
# for a long write (the group's max_poll_interval_ms is far longer).
_GROUP_POLL_SECONDS: Final = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerConfig:
    """Everything :func:`run_consumer` needs; validated on construction.

    ``dlq_topic`` defaults to ``"<topic>.dlq"``. ``metrics_port`` None means
    no metrics server. ``partitions`` and ``replication_factor`` apply only
    if the consumer creates the page or dead-letter topic. ``shutdown_timeout``
    bounds how long a stop request keeps retrying an unavailable index.
    """

    index: IndexLocation
    bootstrap: str = config.KAFKA_BOOTSTRAP
    topic: str = config.KAFKA_TOPIC
    group_id: str = DEFAULT_GROUP_ID
    batch_pages: int = config.CLICKHOUSE_BATCH_PAGES
    batch_seconds: float = config.CLICKHOUSE_BATCH_SECONDS
    dlq_topic: str = ""
    metrics_port: int | None = None
    max_message_bytes: int = lgkafka.KAFKA_MAX_MESSAGE_BYTES
    partitions: int = lgkafka.KAFKA_PARTITIONS
    replication_factor: int = lgkafka.KAFKA_REPLICATION_FACTOR
    max_backoff: float = config.CLICKHOUSE_MAX_BACKOFF
    shutdown_timeout: float = 60.0
    connect_timeout: float = lgkafka.KAFKA_CONNECT_TIMEOUT

    def __post_init__(self) -> None:
        if not self.dlq_topic:
            object.__setattr__(self, "dlq_topic", f"{self.topic}.dlq")
        lgkafka.check_topic_name(self.dlq_topic, "--dlq-topic")
        if self.dlq_topic == self.topic:
            raise ConfigError("the dead-letter topic must differ from the page topic")
        if not self.group_id.strip():
            raise ConfigError("--group must not be empty")
        if self.batch_pages < 1:
            raise ConfigError(f"batch pages must be 1 or more, got {self.batch_pages}")
        if not self.batch_seconds > 0:
            raise ConfigError(f"batch seconds must be positive, got {self.batch_seconds}")
        if self.metrics_port is not None and not 0 < self.metrics_port < 65536:
            raise ConfigError(f"metrics port {self.metrics_port} is not in 1..65535")
        if not self.max_backoff > 0 or not self.shutdown_timeout >= 0:
            raise ConfigError("back-off and shutdown timeouts must be positive")
        self.kafka_settings()  # validates bootstrap, topic, sizes

    def kafka_settings(self) -> lgkafka.KafkaSettings:
        return lgkafka.KafkaSettings(
            bootstrap=self.bootstrap,
            topic=self.topic,
            partitions=self.partitions,
            replication_factor=self.replication_factor,
            max_message_bytes=self.max_message_bytes,
            connect_timeout=self.connect_timeout,
        )


class _Stop(Exception):
    """Internal: leave the consume loop (the reason is on the service)."""


@dataclass(eq=False, slots=True)
class _Job:
    """Work handed to the writer thread: a batch to store, or the rollup refresh.

    ``offsets`` are the next offsets per partition of everything taken in up
    to the end of the batch (pages and dead letters): committed once the batch
    is stored. ``write`` is its write on the writer thread, once handed over.
    """

    work: Callable[[], None]
    offsets: dict[Any, int]
    pages: int = 0
    edges: int = 0
    write: Write[tuple[float, float]] | None = None


def _build_and_insert(index: Index, pages: list[PageRecord]) -> None:
    insert_tables(index, EdgeWriter.tables(pages))


def _retrying(job: _Job, error: LinkgraphError, delay: float) -> None:
    """Tell of a retry of ``job`` (on the writer thread)."""
    ERRORS.labels("index_retry").inc()
    log.warning(
        "%s; retrying the same batch (%d pages) in %.1f s, offsets not committed",
        error,
        job.pages,
        delay,
    )


def _timed(work: Callable[[], None]) -> tuple[float, float]:
    """Run ``work`` (on the writer thread); the seconds it took and when it ended."""
    started = time.monotonic()
    work()
    ended = time.monotonic()
    return ended - started, ended


class _RebalanceListener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Stores and commits what was taken in before partitions are taken away.

    kafka-python 3 calls rebalance listeners on its I/O thread while the
    consuming thread waits inside ``poll()``, so the service's state is not
    touched concurrently (the writer thread only runs the job it was handed).
    An async listener, so that the offset commit can be awaited before the
    group rejoins (a blocking ``commit()`` is not allowed on that thread).
    """

    def __init__(self, service: ConsumerService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[Any]) -> None:
        offsets = self.service.settle_before_revocation(revoked)
        if offsets:
            try:
                await self.service.consumer.commit_async(offsets)
                log.info("committed offsets of revoked partitions: %s", _show(offsets))
            except Exception as error:  # the next owner replays; writes are idempotent
                log.warning(
                    "offset commit before rebalance failed (%s: %s); the written pages will "
                    "be consumed again, which is harmless",
                    type(error).__name__,
                    error,
                )
        self.service.forget(revoked)

    async def on_partitions_assigned(self, assigned: set[Any]) -> None:
        log.info("assigned partitions %s", sorted(tp.partition for tp in assigned))

    async def on_partitions_lost(self, lost: set[Any]) -> None:
        self.service.drop_buffer(f"partitions {sorted(tp.partition for tp in lost)} were lost")
        self.service.forget(lost)


def _show(offsets: dict[Any, Any]) -> str:
    return ", ".join(f"{tp.partition}@{meta.offset}" for tp, meta in sorted(offsets.items()))


class ConsumerService:
    """One consumer-group member's loop (see the module doc for its guarantees).

    ``consumer`` is a kafka-python ``KafkaConsumer`` in the group, not yet
    subscribed; ``dead_letters`` wraps the dead-letter producer; ``index`` is
    an open index, used only from the service's writer thread while
    :meth:`run` runs. The caller closes all three. ``stop`` asks for a
    graceful stop, ``abort`` for an immediate one.
    """

    def __init__(
        self,
        config: ConsumerConfig,
        consumer: Any,
        dead_letters: DeadLetters,
        index: Index,
        stop: threading.Event | None = None,
        abort: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.index = index
        self.stop = stop or threading.Event()
        self.abort = abort or threading.Event()
        self.writer = self._new_writer()
        # Next offset per partition of everything taken in (buffered or
        # dead-lettered) and not yet handed to the writer thread.
        self._pending: dict[Any, int] = {}
        self._pending_since: float | None = None
        # The one job handed to the writer thread and not yet settled, and the
        # next one, built while it is written and not yet handed over.
        self._in_flight: _Job | None = None
        self._ready: _Job | None = None
        self._writer_thread = WriterThread(
            max_backoff=self.config.max_backoff,
            stop=self.stop,
            stop_timeout=self.config.shutdown_timeout,
        )
        self._rewind = False
        self._frozen = False
        # When a poll last found Kafka unreachable, until one succeeds again.
        self._kafka_lost: float | None = None
        self.fatal: LinkgraphError | None = None
        # Page records decoded into a batch (again after a rebalance dropped one).
        self.pages_taken = 0
        self.pages_written = 0
        self.edges_written = 0
        self.dead_lettered = 0
        self._lag = ConsumerLag()
        # Bumped whenever buffered state is dropped or partitions change hands:
        # records of an earlier poll are then no longer ours to take.
        self._epoch = 0
        self._settings = config.kafka_settings()
        self.first_taken: float | None = None
        self.last_written: float | None = None
        self._rollups_refreshed = 0.0

    def _new_writer(self) -> EdgeWriter:
        return EdgeWriter(self.index, self.config.batch_pages, self.config.batch_seconds)

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> int:
        """Consume until stopped; 0 after a clean stop, 1 if the index refused a write."""
        prepare_arrow()
        # What is alive now (modules, the public suffix list, the clients) outlives
        # the loop: kept out of the cyclic collector's full collections meanwhile,
        # which would otherwise walk it again and again, holding the GIL.
        gc.freeze()
        self.consumer.subscribe([self.config.topic], listener=_RebalanceListener(self))
        log.info(
            "consuming %s as group %s into %s (dead letters to %s)",
            self.config.topic,
            self.config.group_id,
            self.index.location.describe(),
            self.config.dlq_topic,
        )
        try:
            while not self.stop.is_set():
                # Shorter polls while a batch is in flight: its commit waits for the next one.
                polled = self._poll(_POLL_MS if self._in_flight is None else _BUSY_POLL_MS)
                self._take_all(polled)
                self._settle_in_flight(wait=False)
                if self._due():
                    self._hand_off()
                elif not polled and not len(self.writer) and self._in_flight is None:
                    self._refresh_when_caught_up()
                self._lag.measure(self.consumer)
            self._hand_off()
            self._settle_in_flight(wait=True)
        except _Stop:
            return self._stopped()
        finally:
            # On a clean stop nothing runs any more; after abort an attempt may
            # still, and ends on its own (nothing of it is committed).
            self._writer_thread.close(wait=False)
            gc.unfreeze()
        self._frozen = True
        log.info(
            "stopped: %d pages, %d edges written (%.0f edges/s), %d messages dead-lettered; "
            "offsets committed",
            self.pages_written,
            self.edges_written,
            self.edges_per_second(),
            self.dead_lettered,
        )
        return 0

    def _refresh_when_caught_up(self) -> None:
        """Refresh the domain rollups once nothing has arrived for ``batch_seconds``
        after a write (linkindex/rollups.py): answers read them only when fresh.

        On a server, where a refresh is dated its settle time early, it waits
        that long after the last write too, so that the refresh covers it. The
        refresh runs on the writer thread as the job in flight, so it never
        overlaps a write; a batch due meanwhile waits for it.
        """
        written = self.last_written
        if written is None or written <= self._rollups_refreshed:
            return
        quiet = max(self.config.batch_seconds, rollups.default_settle_seconds(self.index))
        if time.monotonic() - written < quiet:
            return
        self._rollups_refreshed = time.monotonic()
        self._submit(_Job(partial(rollups.refresh_after_writing, self.index), {}))

    def edges_per_second(self) -> float:
        """Edges written per second from the first message taken to the last write."""
        if self.first_taken is None or self.last_written is None:
            return 0.0
        return self.edges_written / max(self.last_written - self.first_taken, 1e-9)

    def _uncommitted_pages(self) -> int:
        jobs = (self._in_flight, self._ready)
        return len(self.writer) + sum(job.pages for job in jobs if job is not None)

    def _stopped(self) -> int:
        self._frozen = True  # the listener must not write or commit while closing
        if self.fatal is not None:
            ERRORS.labels("fatal").inc()
            what = "Kafka" if isinstance(self.fatal, ServiceUnavailable) else "the index"
            log.error(
                "stopping: %s refused a write (%s); offsets not committed, so the %d buffered "
                "pages and everything after them will be consumed again once this is fixed",
                what,
                self.fatal,
                self._uncommitted_pages(),
            )
        else:
            log.error(
                "stopping before the batch was written (%d pages): offsets not committed, "
                "they will be consumed again",
                self._uncommitted_pages(),
            )
        return 1

    def _poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
        if self._rewind and not self._rewind_to_committed():
            return {}
        try:
            with lgkafka.kafka_errors(self._settings, "polling"):
                records: dict[Any, list[Any]] = self.consumer.poll(timeout_ms=timeout_ms)
        except ServiceUnavailable as error:
            # A broker that went away: kafka-python reports it once (its heartbeat
            # died) and reconnects on the next poll. Nothing was taken in.
            if not error.retriable:
                raise
            ERRORS.labels("poll").inc()
            if self._kafka_lost is None:
                self._kafka_lost = time.monotonic()
                log.warning("%s; polling again", error)
            self.abort.wait(_POLL_MS / 1000)
            return {}
        if self._kafka_lost is not None:
            log.warning("Kafka is back after %.1f s", time.monotonic() - self._kafka_lost)
            self._kafka_lost = None
        if self.fatal is not None:
            raise _Stop
        if self._rewind:
            self._rewind_to_committed()
            return {}  # fetched from positions that are no longer right
        return records

    def _take_all(self, polled: dict[Any, list[Any]]) -> None:
        epoch = self._epoch
        for partition, records in polled.items():
            for record in records:
                if self._epoch != epoch:
                    return  # a rebalance reset the positions: the rest is fetched again
                self._take(partition, record)

    def _take(self, partition: Any, record: Any) -> None:
        try:
            page = lgkafka.decode_page(
                record.value, record.headers, max_bytes=self.config.max_message_bytes
            )
        except lgkafka.UndecodableMessage as error:
            self.dead_letters.send(record, error)
            self.dead_lettered += 1
            full = False
        else:
            full = self.writer.add(page)
            self.pages_taken += 1
        if not self._pending:
            self._pending_since = time.monotonic()
        if self.first_taken is None:
            self.first_taken = time.monotonic()
        self._pending[partition] = record.offset + 1
        if full:
            self._hand_off()

    def _due(self) -> bool:
        if self.writer.due():
            return True
        # Only dead letters taken in: commit them after batch_seconds too.
        return (
            not len(self.writer)
            and self._pending_since is not None
            and time.monotonic() - self._pending_since >= self.config.batch_seconds
        )

    # -- writing (on the writer thread) and committing ------------------------------------
    def _hand_off(self) -> None:
        """Hand everything taken in to the writer thread as one batch.

        The batch's rows are built first, while the batch in flight is still
        being written; then this waits until that one is stored and committed
        (at most one is in flight). Raises :class:`_Stop` as
        :meth:`_settle_in_flight`.
        """
        if self.abort.is_set():
            raise _Stop
        if self._ready is None and (self._pending or len(self.writer)):
            self._ready = self._job_of_buffer()
            self._pending.clear()
            self._pending_since = None
        self._settle_in_flight(wait=True)
        if self.abort.is_set():
            raise _Stop
        job, self._ready = self._ready, None
        if job is not None:  # None if a rebalance stored it meanwhile
            self._submit(job)

    def _job_of_buffer(self) -> _Job:
        """The buffered pages and the offsets they complete, as a job; the buffer starts anew.

        Their rows and Arrow tables are built here, so that the writer thread is
        left with the inserts; pages whose rows cannot be built are built again
        there, where failures are judged.
        """
        pages = self.writer.take()
        offsets = dict(self._pending)
        try:
            tables = EdgeWriter.tables(pages)
        except Exception:
            return _Job(partial(_build_and_insert, self.index, pages), offsets, len(pages))
        return _Job(
            partial(insert_tables, self.index, tables), offsets, len(pages), tables.edges_out
        )

    def _submit(self, job: _Job) -> None:
        """Hand ``job`` to the writer thread; it is the job in flight."""
        # One writer thread: an attempt of a job a rebalance dropped while it
        # ran finishes before this one starts.
        job.write = self._writer_thread.submit(partial(_timed, job.work), partial(_retrying, job))
        self._in_flight = job

    def _settle_in_flight(self, *, wait: bool) -> None:
        """Commit the job in flight once it is done; with ``wait``, until it is.

        Dead letters are confirmed before the commit; if they cannot be, the
        job is written again after a back-off, as a failed write is. Raises
        :class:`_Stop`, committing nothing, when the index refused it, when a
        stop request ran out of ``shutdown_timeout``, or on abort.
        """
        while (job := self._in_flight) is not None:
            write = job.write
            assert write is not None
            if not write.done():
                if not wait:
                    return
                self._wait_for(write.future)
                continue  # a rebalance may have settled the job meanwhile
            error = write.future.exception()
            if error is not None:
                self._give_up(error)
            try:
                self.dead_letters.confirm()
            except LinkgraphError as failure:
                job.write = self._writer_thread.retry(write, failure)
                continue
            self._in_flight = None
            self._stored(job, *write.future.result())
            self._commit(job.offsets)

    def _wait_for(self, future: Future[Any]) -> None:
        """Wait until an attempt on the writer thread is over.

        A paused poll every ``_GROUP_POLL_SECONDS`` keeps the member in its
        group (and lets a rebalance settle) while a write takes long. Raises
        :class:`_Stop` on abort.
        """
        next_poll = time.monotonic() + _GROUP_POLL_SECONDS
        while not future.done():
            if self.abort.is_set():
                raise _Stop
            futures.wait([future], timeout=0.25)
            if not future.done() and time.monotonic() >= next_poll:
                self._wait_paused(0.1)
                next_poll = time.monotonic() + _GROUP_POLL_SECONDS

    def _give_up(self, error: BaseException) -> NoReturn:
        """Stop for a write the writer thread gave up: fatal unless it was retriable
        (a stop request ran out of ``shutdown_timeout``)."""
        failure = write_failure(error)
        if not failure.retriable:
            self.fatal = failure
        raise _Stop from error

    def _stored(self, job: _Job, seconds: float, ended: float) -> None:
        """Count a job the writer thread finished."""
        if not job.pages:
            return
        self.last_written = ended
        BATCH_INSERT_SECONDS.observe(seconds)
        self.pages_written += job.pages
        self.edges_written += job.edges
        PAGES.labels("indexed").inc(job.pages)
        LINKS.labels("indexed").inc(job.edges)

    def _wait_paused(self, seconds: float) -> None:
        """Wait ``seconds`` while staying in the group, without taking new records.

        Polling keeps the member within ``max_poll_interval_ms``; partitions are
        paused, and records a poll returns anyway (after a rebalance) are handed
        back by seeking to them.
        """
        deadline = time.monotonic() + seconds
        try:
            while not self.abort.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.consumer.pause(*self.consumer.assignment())
                records = self._poll(min(int(remaining * 1000) + 1, _POLL_MS))
                for partition, batch in records.items():
                    if batch:
                        self.consumer.seek(partition, batch[0].offset)
        finally:
            with contextlib.suppress(Exception):
                self.consumer.resume(*self.consumer.paused())

    def _offsets(self, partitions: set[Any] | None = None) -> dict[Any, Any]:
        return {
            tp: OffsetAndMetadata(offset, "", -1)
            for tp, offset in self._pending.items()
            if partitions is None or tp in partitions
        }

    def _commit(self, offsets: dict[Any, int]) -> None:
        """Commit ``offsets``, whose records are stored; a failure only means a replay."""
        if not offsets:
            return
        committing = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}
        try:
            self.consumer.commit(committing)
        except Exception as error:
            ERRORS.labels("commit").inc()
            # Committed with the next batch instead, where the partition is still ours.
            assigned = set(self.consumer.assignment())
            if not self._pending:
                self._pending_since = time.monotonic()
            for tp, offset in offsets.items():
                if tp in assigned:
                    self._pending.setdefault(tp, offset)
            log.warning(
                "offset commit failed (%s: %s); the written pages may be consumed again, "
                "which is harmless",
                type(error).__name__,
                " ".join(str(error).split())[:200],
            )
            return
        log.debug("committed %s", _show(committing))

    # -- rebalance support (called on kafka-python's I/O thread, see _RebalanceListener) --
    def settle_before_revocation(self, revoked: set[Any]) -> dict[Any, Any]:
        """Finish the job in flight and write the buffered batch; the offsets of
        ``revoked`` partitions to commit.

        The writes run on the writer thread, one attempt each; if one fails,
        both batches are dropped uncommitted.
        """
        if self._frozen or self.fatal is not None:
            return {}
        try:
            self.dead_letters.confirm(timeout=10.0)
            for job in (self._in_flight, self._ready):
                if job is not None:
                    self._store_now(job)
                    self._pending_at_least(job.offsets)
            self._ready = None
            if len(self.writer):
                self._store_now(self._job_of_buffer())
        except Exception as error:
            failure = write_failure(error)
            if failure.retriable:
                self.drop_buffer(f"the batch could not be written before a rebalance: {failure}")
            else:  # as in _give_up: stop, do not commit
                self.fatal = failure
                self._frozen = True
            return {}
        return self._offsets(revoked)

    def _pending_at_least(self, offsets: dict[Any, int]) -> None:
        """Take ``offsets`` (stored) into the pending ones, where not further on already."""
        for tp, offset in offsets.items():
            if self._pending.get(tp, -1) < offset:
                self._pending[tp] = offset

    def _store_now(self, job: _Job) -> None:
        """Finish ``job`` on the writer thread and wait for it: its attempt under
        way, or else one more, without back-off. Raises what the write gave up with."""
        if job.write is None:
            self._submit(job)
        assert job.write is not None
        job.write.hurry()
        seconds, ended = job.write.future.result()
        self._in_flight = None
        self._stored(job, seconds, ended)

    def forget(self, partitions: set[Any]) -> None:
        """Stop tracking offsets and lag of partitions this member no longer owns."""
        self._epoch += 1
        for tp in partitions:
            self._pending.pop(tp, None)
        self._lag.forget(partitions)
        if not self._pending:
            self._pending_since = None

    def drop_buffer(self, why: str) -> None:
        """Forget everything taken in and not committed, the job in flight too;
        re-read it from the last commit."""
        if self._frozen:
            return
        if len(self.writer) or self._pending or self._in_flight or self._ready:
            log.warning(
                "%s; dropping %d buffered pages uncommitted, they will be consumed again",
                why,
                self._uncommitted_pages(),
            )
        # An attempt still running ends on its own; nothing of it is committed.
        for job in (self._in_flight, self._ready):
            if job is not None and job.write is not None:
                job.write.abandon()
        self._in_flight = self._ready = None
        self.writer = self._new_writer()
        self._pending.clear()
        self._pending_since = None
        self._rewind = True
        self._epoch += 1

    def _rewind_to_committed(self) -> bool:
        """Seek every assigned partition back to its committed offset; False if that failed."""
        try:
            for tp in self.consumer.assignment():
                committed = self.consumer.committed(tp, timeout_ms=10_000)
                if committed is None:
                    self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, committed)
        except Exception as error:  # no poll until it worked: positions are wrong
            log.warning("cannot read committed offsets (%s); retrying", error)
            time.sleep(1.0)
            return False
        self._rewind = False
        return True


@contextlib.contextmanager
def _signals(stop: threading.Event, abort: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set ``stop``, a second one ``abort`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.warning("%s again: giving up without finishing the batch", name)
            abort.set()
        else:
            log.info("%s: finishing the current batch, then stopping", name)
            stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_consumer(
    config: ConsumerConfig,
    *,
    stop: threading.Event | None = None,
    abort: threading.Event | None = None,
) -> int:
    """Run one consumer-group member until stopped; the process exit status.

    Returns 0 after a clean stop (SIGTERM/SIGINT or ``stop`` set), 1 when the
    index refused a write (offsets not committed). Problems found while
    starting — bad settings, Kafka or the index unreachable, the embedded
    index held by another process — raise :class:`~linkcore.errors.LinkgraphError`
    with a one-line message. Creates the page and dead-letter topics if missing.
    """
    stop = stop or threading.Event()
    abort = abort or threading.Event()
    settings = config.kafka_settings()
    if config.metrics_port is not None:
        start_metrics_server(config.metrics_port)
    try:
        index = open_index(config.index)
    except IndexLocked as error:
        raise IndexLocked(
            f"{error} (with the embedded index only one `linkgraph consume` can run)"
        ) from None
    if config.index.embedded:
        log.info(
            "embedded index in %s: this must be the group's only consumer "
            "(several consumers need a ClickHouse server, --clickhouse)",
            config.index.data_dir,
        )
    dead_letters = consumer = None
    try:
        lgkafka.ensure_topic(settings)
        dead_letters = DeadLetters.open(settings, config.dlq_topic)
        consumer = lgkafka.make_consumer(settings, config.group_id)
        service = ConsumerService(config, consumer, dead_letters, index, stop, abort)
        with _signals(stop, abort):
            return service.run()
    finally:
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False)
        if dead_letters is not None:
            dead_letters.close()
        index.close()
