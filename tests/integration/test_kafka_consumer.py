"""The consumer-group member against the real local broker: an index that is away
or refuses writes, rebalances, and its writer thread (one batch in flight).

Needs Kafka on ``LINKGRAPH_KAFKA`` (default 127.0.0.1:9092): ``deploy/local/up``
starts one (see :mod:`tests.integration.kafka_support`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumers.service import ConsumerService
from linkcore.errors import IndexUnavailable
from linkcore.records import PageRecord
from linkindex.client import Index, open_index
from tests.integration.kafka_support import (  # noqa: F401
    ServiceThread,
    all_committed,
    assert_stored_exactly,
    committed_offsets,
    consumer_config,
    database_fixture,
    end_offsets,
    expected_edges,
    group_fixture,
    kafka_up_fixture,
    make_pages,
    produce_with_pipeline,
    start_consumer,
    stored_edges,
    topic_fixture,
    wait_until,
)

pytestmark = pytest.mark.integration


class WatchedIndex:
    """The real index, watched: calls that overlap and the threads that make them.

    The first ``failures`` inserts find the index unavailable; while ``gate``
    is clear, inserts wait at it (``held`` is set then).
    """

    def __init__(self, index: Index, failures: int = 0) -> None:
        self._index = index
        self.failures = failures
        self.location = index.location
        self.db = index.db
        self.refused = 0
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        self.overlaps = 0
        self.threads: set[str] = set()
        self._busy = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._busy.acquire(blocking=False):
            self.overlaps += 1
            self._busy.acquire()
        try:
            self.threads.add(threading.current_thread().name)
            return method(*args, **kwargs)
        finally:
            self._busy.release()

    def _insert(self, table: str, data: Any) -> None:
        if not self.gate.is_set():
            self.held.set()
            self.gate.wait()
        if self.refused < self.failures:
            self.refused += 1
            raise IndexUnavailable(f"cannot reach {self.location.describe()}: simulated outage")
        self._index.insert_arrow(table, data)

    def insert_arrow(self, table: str, data: Any) -> None:
        self._call(self._insert, table, data)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(self._index.query, *args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(self._index.command, *args, **kwargs)


def test_unavailable_index_retries_the_same_batch(
    topic: str, group: str, index_dir: Path, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    pages = make_pages(120, 10)
    produce_with_pipeline(topic, pages)
    config = consumer_config(
        index_dir, database, topic, group, batch_pages=1000, batch_seconds=1.0, max_backoff=0.4
    )
    index = open_index(config.index)
    flaky = WatchedIndex(index, failures=4)
    consumer = ServiceThread(config, flaky)
    wait_until(lambda: flaky.refused == 4, "the index refused four times")
    assert committed_offsets(group, topic) == {}  # nothing committed during the outage
    wait_until(lambda: all_committed(group, topic), "every message is committed")
    assert consumer.finish() == 0
    assert set(stored_edges(index)) == expected_edges(pages)
    assert "retrying the same batch" in caplog.text


def test_index_refusing_a_write_stops_without_committing(
    topic: str, group: str, index_dir: Path, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = make_pages(50, 5, tag="first")
    produce_with_pipeline(topic, first)
    config = consumer_config(index_dir, database, topic, group)
    consumer = start_consumer(config)
    wait_until(lambda: all_committed(group, topic), "the first pages are committed")
    committed_before = committed_offsets(group, topic)

    # A schema mismatch, for real: the index loses a column the consumer writes.
    index = open_index(config.index)
    index.command(f"ALTER TABLE {database}.pages DROP COLUMN job")
    produce_with_pipeline(topic, make_pages(30, 5, tag="second", first=50))

    wait_until(lambda: not consumer.alive, "the consumer stops", timeout=60)
    assert consumer.join() == 1
    assert committed_offsets(group, topic) == committed_before
    assert sum(end_offsets(topic).values()) == sum(committed_before.values()) + 30
    assert "offsets not committed" in caplog.text
    assert set(stored_edges(index)) >= expected_edges(first)


def test_rebalance_commits_what_was_written(
    topic: str, group: str, index_dir: Path, database: str
) -> None:
    pages = make_pages(400, 10)
    produce_with_pipeline(topic, pages[:200])
    config = consumer_config(index_dir, database, topic, group, batch_pages=1000, batch_seconds=30)
    first = start_consumer(config)
    # The first member holds 200 pages in its buffer (the batch is not yet due)
    # when the second joins and every partition is revoked.
    wait_until(lambda: bool(end_offsets(topic)), "the topic exists")
    time.sleep(5)
    assert committed_offsets(group, topic) == {}
    second = start_consumer(config)
    # Well before batch_seconds: only the revocation can have committed them.
    wait_until(
        lambda: all_committed(group, topic), "the first pages are committed at revocation", 20
    )
    produce_with_pipeline(topic, pages[200:])
    # With batch_seconds=30 the rest is committed when the members stop.
    time.sleep(3)
    assert first.finish() == 0
    assert second.finish() == 0
    assert all_committed(group, topic)
    index = open_index(config.index)
    assert_stored_exactly(index, pages)


# -- the writer thread: batches overlap, one in flight ------------------------------------------


def held_consumer(
    index_dir: Path, database: str, topic: str, group: str, pages: list[PageRecord], taken: int
) -> tuple[ServiceThread, ConsumerService, WatchedIndex, Index]:
    """A consumer of ``pages`` (batches of 100, none due by time) whose inserts
    wait at a closed gate; returned once its first batch is held there and
    ``taken`` pages are taken in."""
    produce_with_pipeline(topic, pages)
    config = consumer_config(index_dir, database, topic, group, batch_pages=100, batch_seconds=30)
    index = open_index(config.index)
    watched = WatchedIndex(index)
    watched.gate.clear()
    consumer = ServiceThread(config, watched)
    wait_until(watched.held.is_set, "the first batch reaches the index")
    service = consumer.service
    assert service is not None
    wait_until(lambda: service.pages_taken == taken, f"{taken} pages are taken in")
    return consumer, service, watched, index


def assert_writer_thread_alone(watched: WatchedIndex) -> None:
    """Every index call came from the writer thread, one at a time."""
    assert watched.overlaps == 0
    assert watched.threads, "the index was never called"
    assert all(name.startswith("linkgraph-index-writer") for name in watched.threads), (
        watched.threads
    )


def test_next_batch_is_taken_in_while_one_is_written(
    topic: str, group: str, index_dir: Path, database: str
) -> None:
    pages = make_pages(300, 10)
    # The first batch is held at the index: the second is decoded and built
    # meanwhile, and no more is taken in (one batch in flight, one ready).
    consumer, service, watched, index = held_consumer(
        index_dir, database, topic, group, pages, taken=200
    )
    time.sleep(1.0)
    assert service.pages_taken == 200
    assert len(service.writer) == 0  # the second batch is built, waiting to be handed over
    assert service.pages_written == 0
    assert committed_offsets(group, topic) == {}  # nothing is stored yet

    watched.gate.set()
    wait_until(lambda: all_committed(group, topic), "every message is committed")
    assert consumer.finish() == 0
    assert_stored_exactly(index, pages)
    assert_writer_thread_alone(watched)


def test_stop_finishes_the_batch_in_flight_then_writes_the_buffer(
    topic: str, group: str, index_dir: Path, database: str
) -> None:
    pages = make_pages(150, 10)
    consumer, service, watched, index = held_consumer(
        index_dir, database, topic, group, pages, taken=150
    )
    assert len(service.writer) == 50  # the rest, buffered
    consumer.stop.set()  # SIGTERM
    time.sleep(1.0)
    assert consumer.alive  # still waiting for the batch in flight
    assert committed_offsets(group, topic) == {}

    watched.gate.set()
    assert consumer.join() == 0
    assert all_committed(group, topic)
    assert_stored_exactly(index, pages)
    assert_writer_thread_alone(watched)


def test_abort_gives_up_the_batch_in_flight_without_committing(
    topic: str, group: str, index_dir: Path, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    consumer, service, watched, _ = held_consumer(
        index_dir, database, topic, group, make_pages(150, 10), taken=150
    )
    consumer.stop.set()
    service.abort.set()  # a second SIGTERM
    assert consumer.join(timeout=10) == 1  # the write in flight is not waited for
    assert committed_offsets(group, topic) == {}
    assert "offsets not committed" in caplog.text
    watched.gate.set()  # the held insert ends on its own, committing nothing
    wait_until(lambda: not watched.busy, "the held insert ends", 30)
    assert committed_offsets(group, topic) == {}


def test_rebalance_waits_for_the_batch_in_flight(
    topic: str, group: str, index_dir: Path, database: str
) -> None:
    pages = make_pages(400, 10)
    first, service, watched, index = held_consumer(
        index_dir, database, topic, group, pages[:200], taken=200
    )
    # A second member joins: every partition of the first is revoked while
    # its first batch is still held at the index.
    config = consumer_config(index_dir, database, topic, group, batch_pages=100, batch_seconds=30)
    second = start_consumer(config)
    time.sleep(2.0)
    assert committed_offsets(group, topic) == {}
    watched.gate.set()
    # Well before batch_seconds: only the revocation can have committed them.
    wait_until(lambda: all_committed(group, topic), "both batches are committed at revocation", 20)
    assert service.pages_written == 200
    produce_with_pipeline(topic, pages[200:])
    time.sleep(3)
    assert first.finish() == 0
    assert second.finish() == 0
    assert all_committed(group, topic)
    assert_stored_exactly(index, pages)
    assert_writer_thread_alone(watched)


def test_rollup_refresh_never_overlaps_a_write(
    topic: str, group: str, index_dir: Path, database: str
) -> None:
    pages = make_pages(200, 10)
    config = consumer_config(index_dir, database, topic, group, batch_pages=20, batch_seconds=0.3)
    index = open_index(config.index)
    watched = WatchedIndex(index)
    consumer = ServiceThread(config, watched)
    # Bursts with pauses: the consumer catches up and refreshes the rollups,
    # and the next burst arrives while it does.
    for burst in range(4):
        produce_with_pipeline(topic, pages[burst * 50 : (burst + 1) * 50])
        time.sleep(0.8)
    wait_until(lambda: all_committed(group, topic), "every message is committed")
    assert consumer.finish() == 0
    _, rows = index.query(f"SELECT count() FROM {database}.domain_reports")
    assert rows[0][0] > 0, "the rollups were never refreshed"
    assert set(stored_edges(index)) == expected_edges(pages)
    assert_writer_thread_alone(watched)
