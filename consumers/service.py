"""``linkgraph consume``: a Kafka consumer-group member that writes page records to the index.

:func:`run_consumer` joins consumer group ``group_id`` on the page topic
(messages in the ``linkgraph.page/1`` format, see :mod:`linkgraph.kafka`),
decodes each message into a :class:`~linkgraph.records.PageRecord`, buffers
pages in an :class:`~consumers.edges.EdgeWriter` and writes them to the index
in batches of ``batch_pages`` pages or ``batch_seconds`` seconds.

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
  exponential back-off capped at ``max_backoff`` seconds; nothing is skipped,
  nothing committed past it. Partitions are paused meanwhile, so the member
  stays in its group.
* **Index refuses the write** (not retriable: disk full, schema mismatch):
  the consumer stops without committing, logs one line saying so, and
  :func:`run_consumer` returns 1.
* **Rebalance.** Before partitions are taken away the buffered batch is
  written and its offsets committed; if the write fails the batch is dropped
  uncommitted, and the partitions' next owner consumes it again.
* **SIGTERM / SIGINT** finish the current batch, write it, commit, close and
  return 0. A second signal gives up at once (nothing uncommitted is lost:
  it is consumed again later).

With the embedded index only one consumer can run: chDB lets one process own
a data directory. Several consumers need a ClickHouse server (``--clickhouse``).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any, Final

from kafka import AsyncConsumerRebalanceListener, OffsetAndMetadata

from consumers.dlq import DeadLetters
from consumers.edges import EdgeWriter
from linkgraph import defaults
from linkgraph import kafka as lgkafka
from linkgraph.errors import (
    ConfigError,
    IndexError_,
    IndexLocked,
    LinkgraphError,
    ServiceUnavailable,
)
from linkgraph.metrics import (
    BATCH_INSERT_SECONDS,
    CONSUMER_LAG,
    ERRORS,
    LINKS,
    PAGES,
    start_metrics_server,
)
from linkindex import rollups
from linkindex.client import Index, IndexLocation, open_index

log = logging.getLogger(__name__)

#: Consumer group of ``linkgraph consume`` unless told otherwise.
DEFAULT_GROUP_ID: Final = "linkgraph-index"
#: Seconds between two consumer lag measurements.
LAG_INTERVAL: Final = 5.0
# Longest single poll; bounds how late a due batch or a stop request is noticed.
_POLL_MS: Final = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerConfig:
    """Everything :func:`run_consumer` needs; validated on construction.

    ``dlq_topic`` defaults to ``"<topic>.dlq"``. ``metrics_port`` None means
    no metrics server. ``partitions`` and ``replication_factor`` apply only
    if the consumer creates the page or dead-letter topic. ``shutdown_timeout``
    bounds how long a stop request keeps retrying an unavailable index.
    """

    index: IndexLocation
    bootstrap: str = defaults.KAFKA_BOOTSTRAP
    topic: str = defaults.KAFKA_TOPIC
    group_id: str = DEFAULT_GROUP_ID
    batch_pages: int = defaults.CLICKHOUSE_BATCH_PAGES
    batch_seconds: float = defaults.CLICKHOUSE_BATCH_SECONDS
    dlq_topic: str = ""
    metrics_port: int | None = None
    max_message_bytes: int = lgkafka.KAFKA_MAX_MESSAGE_BYTES
    partitions: int = lgkafka.KAFKA_PARTITIONS
    replication_factor: int = lgkafka.KAFKA_REPLICATION_FACTOR
    max_backoff: float = 30.0
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


class _RebalanceListener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Writes and commits the buffered batch before partitions are taken away.

    kafka-python 3 calls rebalance listeners on its I/O thread while the
    consuming thread waits inside ``poll()``, so the service's state is not
    touched concurrently. An async listener, so that the offset commit can be
    awaited before the group rejoins (a blocking ``commit()`` is not allowed
    on that thread).
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
    an open index. The caller closes all three. ``stop`` asks for a graceful
    stop, ``abort`` for an immediate one.
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
        # dead-lettered) and not yet committed.
        self._pending: dict[Any, int] = {}
        self._pending_since: float | None = None
        self._rewind = False
        self._frozen = False
        self.fatal: LinkgraphError | None = None
        self.pages_written = 0
        self.edges_written = 0
        self.dead_lettered = 0
        self._lag_due = 0.0
        self._lag_partitions: set[Any] = set()
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
                polled = self._poll(_POLL_MS)
                self._take_all(polled)
                if self._due():
                    self._write_and_commit()
                elif not polled and not len(self.writer):
                    self._refresh_when_caught_up()
                self._measure_lag()
            self._write_and_commit()
        except _Stop:
            return self._stopped()
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
        that long after the last write too, so that the refresh covers it.
        """
        written = self.last_written
        if written is None or written <= self._rollups_refreshed:
            return
        quiet = max(self.config.batch_seconds, rollups.default_settle_seconds(self.index))
        if time.monotonic() - written < quiet:
            return
        self._rollups_refreshed = time.monotonic()
        rollups.refresh_after_writing(self.index)

    def edges_per_second(self) -> float:
        """Edges written per second from the first message taken to the last write."""
        if self.first_taken is None or self.last_written is None:
            return 0.0
        return self.edges_written / max(self.last_written - self.first_taken, 1e-9)

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
                len(self.writer),
            )
        else:
            log.error(
                "stopping before the batch was written (%d pages): offsets not committed, "
                "they will be consumed again",
                len(self.writer),
            )
        return 1

    def _poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
        if self._rewind and not self._rewind_to_committed():
            return {}
        with lgkafka.kafka_errors(self._settings, "polling"):
            records: dict[Any, list[Any]] = self.consumer.poll(timeout_ms=timeout_ms)
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
        if not self._pending:
            self._pending_since = time.monotonic()
        if self.first_taken is None:
            self.first_taken = time.monotonic()
        self._pending[partition] = record.offset + 1
        if full:
            self._write_and_commit()

    def _due(self) -> bool:
        if self.writer.due():
            return True
        # Only dead letters taken in: commit them after batch_seconds too.
        return (
            not len(self.writer)
            and self._pending_since is not None
            and time.monotonic() - self._pending_since >= self.config.batch_seconds
        )

    # -- writing and committing -----------------------------------------------------------
    def _write(self) -> None:
        """Confirm dead letters and write the buffered batch; raises LinkgraphError."""
        self.dead_letters.confirm()
        pages = len(self.writer)
        if not pages:
            return
        edges_before = self.writer.edges_written
        started = time.monotonic()
        self.writer.flush()
        self.last_written = time.monotonic()
        BATCH_INSERT_SECONDS.observe(self.last_written - started)
        edges = self.writer.edges_written - edges_before
        self.pages_written += pages
        self.edges_written += edges
        PAGES.labels("indexed").inc(pages)
        LINKS.labels("indexed").inc(edges)

    def _write_and_commit(self) -> None:
        """Write the batch (retrying while the index is unavailable), then commit.

        Raises :class:`_Stop` when the index refused the write or a stop
        request ran out of time; nothing is committed then.
        """
        attempt = 0
        stop_deadline: float | None = None
        while True:
            try:
                self._write()
                break
            except LinkgraphError as error:
                if not error.retriable:
                    self.fatal = error
                    raise _Stop from error
                failure: LinkgraphError = error
            except Exception as error:  # a row the index cannot hold, or a bug
                self.fatal = IndexError_(
                    f"index write failed: {type(error).__name__}: {' '.join(str(error).split())}"
                )
                raise _Stop from error
            ERRORS.labels("index_retry").inc()
            if self.stop.is_set() and stop_deadline is None:
                stop_deadline = time.monotonic() + self.config.shutdown_timeout
            if self.abort.is_set() or (
                stop_deadline is not None and time.monotonic() >= stop_deadline
            ):
                raise _Stop
            delay = min(self.config.max_backoff, 0.5 * 2**attempt)
            log.warning(
                "%s; retrying the same batch (%d pages) in %.1f s, offsets not committed",
                failure,
                len(self.writer),
                delay,
            )
            self._wait_paused(delay)
            attempt += 1
        self._commit()

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

    def _commit(self) -> None:
        if not self._pending:
            return
        offsets = self._offsets()
        try:
            self.consumer.commit(offsets)
        except Exception as error:
            # The batch is written; a commit that fails only means a replay.
            ERRORS.labels("commit").inc()
            assigned = set(self.consumer.assignment())
            self._pending = {tp: o for tp, o in self._pending.items() if tp in assigned}
            log.warning(
                "offset commit failed (%s: %s); the written pages may be consumed again, "
                "which is harmless",
                type(error).__name__,
                " ".join(str(error).split())[:200],
            )
            return
        log.debug("committed %s", _show(offsets))
        self._pending.clear()
        self._pending_since = None

    # -- rebalance support (called on kafka-python's I/O thread, see _RebalanceListener) --
    def settle_before_revocation(self, revoked: set[Any]) -> dict[Any, Any]:
        """Write the buffered batch; the offsets of ``revoked`` partitions to commit."""
        if self._frozen or self.fatal is not None:
            return {}
        try:
            self.dead_letters.confirm(timeout=10.0)
            self._write()
        except LinkgraphError as error:
            if not error.retriable:
                self.fatal = error
                self._frozen = True
            self.drop_buffer(f"the batch could not be written before a rebalance: {error}")
            return {}
        except Exception as error:  # as in _write_and_commit: stop, do not commit
            self.fatal = IndexError_(f"index write failed: {type(error).__name__}: {error}")
            self._frozen = True
            return {}
        return self._offsets(revoked)

    def forget(self, partitions: set[Any]) -> None:
        """Stop tracking offsets and lag of partitions this member no longer owns."""
        self._epoch += 1
        for tp in partitions:
            self._pending.pop(tp, None)
            if tp in self._lag_partitions:
                self._lag_partitions.discard(tp)
                with contextlib.suppress(KeyError):
                    CONSUMER_LAG.remove(tp.topic, str(tp.partition))
        if not self._pending:
            self._pending_since = None

    def drop_buffer(self, why: str) -> None:
        """Forget everything taken in and not committed; re-read it from the last commit."""
        if self._frozen:
            return
        if len(self.writer) or self._pending:
            log.warning(
                "%s; dropping %d buffered pages uncommitted, they will be consumed again",
                why,
                len(self.writer),
            )
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

    # -- metrics ----------------------------------------------------------------------------
    def _measure_lag(self) -> None:
        now = time.monotonic()
        if now < self._lag_due:
            return
        self._lag_due = now + LAG_INTERVAL
        try:
            assigned = list(self.consumer.assignment())
            if not assigned:
                return
            ends = self.consumer.end_offsets(assigned, timeout_ms=2000)
            for tp in assigned:
                position = self.consumer.position(tp, timeout_ms=1000)
                if position is None or tp not in ends:
                    continue
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(ends[tp] - position, 0))
                self._lag_partitions.add(tp)
        except Exception as error:  # lag is best effort; consuming goes on
            log.debug("lag measurement failed: %s", error)


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
    index held by another process — raise :class:`~linkgraph.errors.LinkgraphError`
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
