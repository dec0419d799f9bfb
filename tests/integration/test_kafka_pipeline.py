"""Worker pipeline -> Kafka -> consumer group -> index, against the real local broker.

Needs Kafka on ``LINKGRAPH_KAFKA`` (default 127.0.0.1:9092): ``deploy/local/up``
starts one. Every test uses a topic (and consumer group) of its own, deleted
afterwards. In-process consumers write to the session's embedded index in a
database of their own; consumers run as subprocesses own a data directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.dlq import DeadLetters
from consumers.service import ConsumerConfig, ConsumerService, run_consumer
from linkcore import kafka as lgkafka
from linkcore.errors import IndexUnavailable, ServiceUnavailable
from linkcore.records import Link, PageRecord
from linkindex import rollups
from linkindex.client import Index, IndexLocation, open_index
from linkindex.writer import _edge_tables, _page_table, build_batch
from pipelines.kafka import KafkaPipeline

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = os.environ.get("LINKGRAPH_KAFKA") or "127.0.0.1:9092"
#: Seconds a consumer may take to catch up before a test gives up.
CATCH_UP = 120.0

# -- services and names -------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_up() -> lgkafka.KafkaSettings:
    """The local broker, or a failed test that says how to start it."""
    settings = lgkafka.KafkaSettings(bootstrap=BOOTSTRAP, connect_timeout=5.0)
    try:
        admin = lgkafka.make_admin(settings)
    except ServiceUnavailable as error:
        pytest.fail(
            f"Kafka is not answering at {BOOTSTRAP}: start it with `deploy/local/up` ({error})"
        )
    admin.close()
    return settings


@pytest.fixture
def topic(kafka_up: lgkafka.KafkaSettings) -> Iterator[str]:
    """A fresh topic name; the topic and its dead-letter topic are deleted afterwards."""
    name = f"lgtest.{uuid.uuid4().hex[:12]}"
    yield name
    admin = lgkafka.make_admin(kafka_up)
    try:
        existing = set(admin.list_topics())
        doomed = [t for t in (name, f"{name}.dlq") if t in existing]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()


@pytest.fixture
def group(kafka_up: lgkafka.KafkaSettings) -> Iterator[str]:
    """A fresh consumer group, deleted afterwards (once no member is left)."""
    name = f"lgtest-{uuid.uuid4().hex[:12]}"
    yield name
    admin = lgkafka.make_admin(kafka_up)
    try:
        if any(g["group_id"] == name for g in admin.list_groups()):
            admin.delete_groups([name])
    except Exception as error:  # a member still leaving: the group expires on its own
        print(f"could not delete consumer group {name}: {error}")
    finally:
        admin.close()


@pytest.fixture
def database(index_dir: Path) -> Iterator[str]:
    name = f"k_{uuid.uuid4().hex[:12]}"
    yield name
    open_index(IndexLocation(data_dir=str(index_dir), database=name)).command(
        f"DROP DATABASE IF EXISTS {name}"
    )


def settings_for(topic: str, partitions: int = 4) -> lgkafka.KafkaSettings:
    return lgkafka.KafkaSettings(bootstrap=BOOTSTRAP, topic=topic, partitions=partitions)


# -- page records and what the index must hold ------------------------------------------------


def make_pages(count: int, links: int, tag: str = "p", first: int = 0) -> list[PageRecord]:
    """Pages on 7 hosts, each linking to ``links`` distinct targets on 3 other sites."""
    pages = []
    for n in range(first, first + count):
        url = f"https://h{n % 7}.example/{tag}/{n}"
        records = [
            Link(
                f"https://t{j % 3}.example/{tag}/{n}/{j}",
                "a",
                f"anchor {n} {j}",
                nofollow=j % 5 == 0,
                link_count=1 + j % 3,
            )
            for j in range(links - 1)
        ]
        records.append(Link(f"https://h{n % 7}.example/{tag}/{n}/canonical", "canonical"))
        pages.append(PageRecord(url=url, status=200, fetched_at=1_763_700_000 + n, links=records))
    return pages


Edge = tuple[str, str, str, str, int, bool]


def expected_edges(pages: list[PageRecord]) -> set[Edge]:
    return {
        (p.url, link.target_url, link.kind, link.anchor, link.link_count, link.nofollow)
        for p in pages
        for link in p.links
    }


def assert_stored_exactly(index: Index, pages: list[PageRecord]) -> None:
    """The index holds every edge of ``pages`` once, and nothing else."""
    stored = stored_edges(index)
    assert len(stored) == len(set(stored))
    assert set(stored) == expected_edges(pages)


def stored_edges(index: Index) -> list[Edge]:
    _, rows = index.query(
        f"SELECT source_url, target_url, toString(kind), anchor, link_count, nofollow "
        f"FROM {index.db}.links"
    )
    return [(r[0], r[1], r[2], r[3], int(r[4]), bool(r[5])) for r in rows]


# -- producing ------------------------------------------------------------------------------


class RecordingSpider:
    """Stands in for the worker spider: records delivery callbacks."""

    name = "recording"

    def __init__(self) -> None:
        self.delivered: list[PageRecord] = []
        self.failed: list[tuple[PageRecord, BaseException]] = []

    def page_delivered(self, page: PageRecord) -> None:
        self.delivered.append(page)

    def page_failed(self, page: PageRecord, error: BaseException) -> None:
        self.failed.append((page, error))


def produce_with_pipeline(topic: str, pages: list[PageRecord], partitions: int = 4) -> Any:
    """Send ``pages`` through a real KafkaPipeline; returns the crawler (stats, spider)."""
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(
        settings_dict={
            "LINKGRAPH_KAFKA": BOOTSTRAP,
            "LINKGRAPH_TOPIC": topic,
            "KAFKA_PARTITIONS": partitions,
        }
    )
    spider = RecordingSpider()
    crawler.spider = spider  # type: ignore[assignment]
    pipeline = KafkaPipeline.from_crawler(crawler)
    pipeline.open_spider()
    for page in pages:
        assert pipeline.process_item(page) is page
    pipeline.close_spider()
    assert spider.failed == []
    assert len(spider.delivered) == len(pages)
    assert crawler.stats.get_value("linkgraph/kafka_errors") is None
    assert crawler.stats.get_value("linkgraph/kafka_delivered") == len(pages)
    return crawler


def pipeline_for(topic: str, **settings: Any) -> tuple[KafkaPipeline, Any, RecordingSpider]:
    from scrapy.utils.test import get_crawler

    crawler = get_crawler(
        settings_dict={"LINKGRAPH_KAFKA": BOOTSTRAP, "LINKGRAPH_TOPIC": topic, **settings}
    )
    spider = RecordingSpider()
    crawler.spider = spider  # type: ignore[assignment]
    pipeline = KafkaPipeline.from_crawler(crawler)
    pipeline.open_spider()
    return pipeline, crawler, spider


def incompressible_page(n: int, size: int) -> PageRecord:
    anchor = os.urandom(size // 2).hex()
    return PageRecord(
        url=f"https://big.example/{n}",
        status=200,
        fetched_at=1_763_700_000,
        links=[Link(f"https://t.example/big/{n}", "a", anchor)],
    )


def produce_raw(topic: str, messages: list[tuple[bytes | None, list[tuple[str, bytes]]]]) -> None:
    producer = lgkafka.make_producer(settings_for(topic))
    try:
        for value, headers in messages:
            producer.send(topic, value=value, key=b"poison", headers=headers)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)


# -- offsets --------------------------------------------------------------------------------


def end_offsets(topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: o for tp, o in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def committed_offsets(group: str, topic: str) -> dict[int, int]:
    admin = lgkafka.make_admin(settings_for(topic))
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def all_committed(group: str, topic: str) -> bool:
    ends = {p: o for p, o in end_offsets(topic).items() if o}
    committed = committed_offsets(group, topic)
    return all(committed.get(p) == o for p, o in ends.items())


def wait_until(condition: Callable[[], bool], what: str, timeout: float = CATCH_UP) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(0.25)


def read_topic(topic: str) -> list[Any]:
    """Every message of ``topic`` (from the start)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        messages: list[Any] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic}"
            for batch in consumer.poll(timeout_ms=500).values():
                messages.extend(batch)
        return messages
    finally:
        consumer.close()


# -- consumers ------------------------------------------------------------------------------


class ConsumerThread:
    """``run_consumer`` (or a ConsumerService) in a thread, with its exit status."""

    def __init__(self, target: Callable[[threading.Event], int]) -> None:
        self.stop = threading.Event()
        self.status: int | None = None
        self.error: BaseException | None = None
        self._target = target
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.status = self._target(self.stop)
        except BaseException as error:
            self.error = error

    def finish(self, timeout: float = 60.0) -> int | None:
        self.stop.set()
        return self.join(timeout)

    def join(self, timeout: float = 60.0) -> int | None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the consumer did not stop"
        if self.error is not None:
            raise self.error
        return self.status

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def consumer_config(index_dir: Path, database: str, topic: str, group: str, **kw: Any) -> Any:
    return ConsumerConfig(
        index=IndexLocation(data_dir=str(index_dir), database=database),
        bootstrap=BOOTSTRAP,
        topic=topic,
        group_id=group,
        partitions=4,
        **{"batch_pages": 100, "batch_seconds": 0.5, **kw},
    )


def start_consumer(config: ConsumerConfig) -> ConsumerThread:
    return ConsumerThread(lambda stop: run_consumer(config, stop=stop))


class ServiceThread(ConsumerThread):
    """A ConsumerService built from real clients (and ``index``), run in a thread."""

    def __init__(self, config: ConsumerConfig, index: Any) -> None:
        settings = config.kafka_settings()
        lgkafka.ensure_topic(settings)
        self.dead_letters = DeadLetters.open(settings, config.dlq_topic)
        self.consumer = lgkafka.make_consumer(settings, config.group_id)
        self.service: ConsumerService | None = None

        def run(stop: threading.Event) -> int:
            self.service = ConsumerService(config, self.consumer, self.dead_letters, index, stop)
            return self.service.run()

        super().__init__(run)

    def join(self, timeout: float = 60.0) -> int | None:
        try:
            return super().join(timeout)
        finally:
            self.consumer.close(autocommit=False)
            self.dead_letters.close()


# -- the tests -------------------------------------------------------------------------------


def test_pipeline_to_index_holds_exactly_the_edges(
    topic: str, group: str, index_dir: Path, database: str
) -> None:
    pages = make_pages(300, 20)
    produce_with_pipeline(topic, pages)
    consumer = start_consumer(consumer_config(index_dir, database, topic, group))
    wait_until(lambda: all_committed(group, topic), "every message is committed")
    index = open_index(IndexLocation(data_dir=str(index_dir), database=database))
    # Caught up, the consumer refreshes the domain rollups of what it wrote.
    wait_until(lambda: not rollups.stale_domains(index), "the domain rollups are refreshed")
    assert consumer.finish() == 0

    _, rows = index.query(
        f"SELECT (SELECT count() FROM {database}.domain_reports FINAL), "
        f"(SELECT uniqExact(target_domain) FROM {database}.links)"
    )
    assert rows[0][0] == rows[0][1] > 0
    assert_stored_exactly(index, pages)
    _, rows = index.query(f"SELECT count() FROM {database}.pages FINAL")
    assert rows[0][0] == len(pages)


def test_poison_messages_go_to_the_dead_letter_topic(
    topic: str, group: str, index_dir: Path, database: str
) -> None:
    good = make_pages(40, 5)
    produce_with_pipeline(topic, good[:20])
    wrong_version = {**good[0].to_dict(), "v": 99}
    missing_url = {k: v for k, v in good[1].to_dict().items() if k != "url"}
    schema = [(lgkafka.SCHEMA_HEADER, lgkafka.SCHEMA)]
    big = good[2].to_dict()
    big["links"] = [[f"https://big.example/{i}", "a", "x" * 40, 0, 0, 0, 0, 1] for i in range(200)]
    poison: list[tuple[bytes | None, list[tuple[str, bytes]]]] = [
        (b"\x00\x01garbage\xff", []),
        (json.dumps(wrong_version).encode(), schema),
        (json.dumps(missing_url).encode(), [*schema, ("trace-id", b"abc")]),
        (json.dumps(good[3].to_dict()).encode(), [(lgkafka.SCHEMA_HEADER, b"other/7")]),
        (json.dumps(big).encode(), schema),
    ]
    produce_raw(topic, poison)
    produce_with_pipeline(topic, good[20:])

    config = consumer_config(index_dir, database, topic, group, max_message_bytes=8192)
    consumer = start_consumer(config)
    wait_until(lambda: all_committed(group, topic), "every message is committed")
    assert consumer.finish() == 0

    index = open_index(IndexLocation(data_dir=str(index_dir), database=database))
    assert sorted(stored_edges(index)) == sorted(expected_edges(good))

    letters = read_topic(f"{topic}.dlq")
    assert len(letters) == len(poison)
    by_value = {letter.value: letter for letter in letters}
    assert set(by_value) == {value for value, _ in poison}
    kinds = {}
    for value, original_headers in poison:
        letter = by_value[value]
        headers = dict(letter.headers)
        assert headers["source-topic"] == topic.encode()
        assert int(headers["source-offset"]) >= 0
        assert headers["reason"] and b"\n" not in headers["reason"]
        for name, header_value in original_headers:
            assert headers[name] == header_value
        assert letter.key == b"poison"
        kinds[value] = headers["reason-kind"].decode()
    assert [kinds[value] for value, _ in poison] == [
        "encoding",
        "version",
        "invalid",
        "schema",
        "oversized",
    ]
    # source partition/offset point at the original message
    originals = {(m.partition, m.offset): m.value for m in read_topic(topic)}
    for letter in letters:
        headers = dict(letter.headers)
        where = (int(headers["source-partition"]), int(headers["source-offset"]))
        assert originals[where] == letter.value


def test_dead_letter_too_large_for_its_topic_is_cut_and_marked(
    topic: str, group: str, index_dir: Path, database: str
) -> None:
    dlq = f"{topic}.dlq"
    small = lgkafka.KafkaSettings(bootstrap=BOOTSTRAP, topic=dlq, max_message_bytes=4096)
    lgkafka.ensure_topic(small, dlq, partitions=1)  # created elsewhere, with a small limit
    junk = os.urandom(6000)  # not UTF-8, and incompressible
    produce_raw(topic, [(junk, [])])
    produce_with_pipeline(topic, make_pages(5, 3))

    consumer = start_consumer(consumer_config(index_dir, database, topic, group))
    wait_until(lambda: all_committed(group, topic), "every message is committed")
    assert consumer.finish() == 0
    (letter,) = read_topic(dlq)
    headers = dict(letter.headers)
    assert headers["truncated"] == b"6000"
    assert headers["reason-kind"] == b"encoding"
    assert letter.value == junk[: len(letter.value)] and len(letter.value) <= 2048


def test_pipeline_reports_pages_kafka_refuses(topic: str) -> None:
    limit = 64 * 1024
    good = make_pages(10, 5)
    big = [incompressible_page(1, 4 * limit), incompressible_page(2, 4 * limit)]

    # Refused by the producer itself: larger than KAFKA_MAX_MESSAGE_BYTES.
    pipeline, crawler, spider = pipeline_for(topic, KAFKA_MAX_MESSAGE_BYTES=limit)
    for page in [*good[:5], big[0], *good[5:]]:
        pipeline.process_item(page)
    pipeline.close_spider()
    assert [p.url for p, _ in spider.failed] == [big[0].url]
    assert type(spider.failed[0][1]).__name__ == "MessageSizeTooLargeError"
    assert len(spider.delivered) == 10
    assert crawler.stats.get_value("linkgraph/kafka_errors") == 1

    # A producer that lets the broker judge the size (linkgraph's own lower
    # max_request_size to the topic's limit): refused asynchronously, the crawl stops.
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", max_request_size=16 * limit)
    _, crawler, spider = pipeline_for(topic)
    pipeline = KafkaPipeline(crawler, producer, topic)
    pipeline.open_spider()
    pipeline.process_item(big[1])
    producer.flush(timeout=30)
    for page in good:
        pipeline.process_item(page)
    pipeline.close_spider()
    assert spider.failed[0][0] is big[1]
    assert type(spider.failed[0][1]).__name__ == "MessageSizeTooLargeError"
    assert len(spider.delivered) + len(spider.failed) == 11
    assert "cannot go on" in str(crawler.linkgraph_error)
    assert crawler.stats.get_value("linkgraph/kafka_errors") == len(spider.failed)


def _broker_pid() -> int:
    """The pid of the shared broker ``deploy/local/up`` started (its pidfile)."""
    services = os.environ.get("LINKGRAPH_SERVICES_DIR") or str(
        Path(__file__).resolve().parents[2] / ".run" / "services"
    )
    pidfile = Path(services) / "kafka.pid"
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError) as error:
        pytest.fail(f"no running broker from deploy/local/up ({pidfile}): {error}")
    assert b"kafka.Kafka" in cmdline, f"pid {pid} in {pidfile} is not the broker"
    return pid


def test_pipeline_close_reports_what_it_could_not_deliver(
    topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    pages = make_pages(200, 5)
    # A linger far beyond the test: nothing is sent before close.
    pipeline, crawler, spider = pipeline_for(topic, KAFKA_FLUSH_TIMEOUT=0, KAFKA_LINGER_MS=60_000)
    for page in pages:
        pipeline.process_item(page)
    # The broker held still while the pipeline closes: the batch close sends
    # cannot be acknowledged, however quickly the broker would answer (a race
    # the test lost now and then on a loaded machine).
    broker = _broker_pid()
    os.kill(broker, signal.SIGSTOP)
    try:
        pipeline.close_spider()
    finally:
        os.kill(broker, signal.SIGCONT)
    undelivered = crawler.stats.get_value("linkgraph/kafka_undelivered")
    assert undelivered, "everything was delivered within 0 s: the test proves nothing"
    # Every page has exactly one outcome: none is left without a word.
    assert len(spider.delivered) + len(spider.failed) == len(pages)
    assert 0 < len(spider.failed) <= undelivered
    assert crawler.stats.get_value("linkgraph/kafka_errors") == len(spider.failed)
    assert "not delivered to Kafka topic" in caplog.text


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


# -- a consumer process killed -9 mid-stream --------------------------------------------------

CONSUMER_PROCESS = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("kafka").setLevel(logging.WARNING)
from consumers.service import ConsumerConfig, run_consumer
from linkindex.client import IndexLocation
data_dir, database, bootstrap, topic, group = sys.argv[1:6]
config = ConsumerConfig(
    index=IndexLocation(data_dir=data_dir, database=database),
    bootstrap=bootstrap, topic=topic, group_id=group, batch_pages=50, batch_seconds=0.5,
)
raise SystemExit(run_consumer(config))
"""

QUERY_PROCESS = """
import json, sys
from linkindex.client import IndexLocation, open_index
data_dir, database = sys.argv[1:3]
index = open_index(IndexLocation(data_dir=data_dir, database=database), create=False)
_, rows = index.query(
    f"SELECT source_url, target_url, toString(kind), anchor, link_count, nofollow "
    f"FROM {database}.links"
)
_, raw = index.query(f"SELECT count() FROM {database}.edges")
print(json.dumps({"links": rows, "raw_edges": raw[0][0]}))
"""


def spawn_consumer(data_dir: Path, topic: str, group: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-c", CONSUMER_PROCESS, str(data_dir), "lg", BOOTSTRAP, topic, group],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.slow
def test_consumer_killed_mid_stream_loses_nothing(topic: str, group: str, tmp_path: Path) -> None:
    pages = make_pages(3000, 10)
    produce_with_pipeline(topic, pages)
    data_dir, log = tmp_path / "index", tmp_path / "consumer.log"
    total = sum(end_offsets(topic).values())

    process = spawn_consumer(data_dir, topic, group, log)
    try:
        wait_until(
            lambda: sum(committed_offsets(group, topic).values()) > 0,
            "the first batch is committed",
        )
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
        at_kill = sum(committed_offsets(group, topic).values())
        assert at_kill < total, "the consumer finished before it could be killed"

        process = spawn_consumer(data_dir, topic, group, log)
        wait_until(lambda: all_committed(group, topic), "the restarted consumer catches up")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    result = subprocess.run(
        [sys.executable, "-c", QUERY_PROCESS, str(data_dir), "lg"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    stored = json.loads(result.stdout)
    links = [(r[0], r[1], r[2], r[3], int(r[4]), bool(r[5])) for r in stored["links"]]
    assert len(links) == len(set(links))
    assert set(links) == expected_edges(pages)
    print(
        f"\nkill -9 after {at_kill}/{total} committed messages; "
        f"{stored['raw_edges']} edge rows before merges for {len(links)} edges"
    )


# -- throughput -------------------------------------------------------------------------------


@pytest.mark.slow
def test_consumer_throughput_against_a_bare_insert(
    topic: str, group: str, index_dir: Path, database: str
) -> None:
    pages = make_pages(500, 100)
    produce_with_pipeline(topic, pages)
    edges = sum(len(p.links) for p in pages)

    config = consumer_config(index_dir, database, topic, group, batch_pages=500, batch_seconds=2)
    consumer = ServiceThread(config, open_index(config.index))
    wait_until(lambda: all_committed(group, topic), "every message is committed")
    assert consumer.finish() == 0
    assert consumer.service is not None and consumer.service.edges_written == edges
    consumed = edges / consumer.service.edges_per_second()

    # The same rows, built beforehand, inserted bare into a fresh database.
    bare_db = f"{database}_bare"
    bare = open_index(IndexLocation(data_dir=str(index_dir), database=bare_db))
    try:
        batch = build_batch(pages)
        by_target, by_source = _edge_tables(batch.edges)
        page_table = _page_table(batch.pages)
        started = time.monotonic()
        bare.insert_arrow("edges", by_target)
        bare.insert_arrow("edges_by_source", by_source)
        bare.insert_arrow("pages", page_table)
        inserted = time.monotonic() - started
    finally:
        bare.command(f"DROP DATABASE IF EXISTS {bare_db}")
    print(
        f"\nconsumer: {edges} edges in {consumed:.2f} s = {edges / consumed:,.0f} edges/s "
        f"(first message taken to last write); bare insert_arrow: "
        f"{inserted:.2f} s = {edges / inserted:,.0f} edges/s; ratio {inserted / consumed:.2f}"
    )
