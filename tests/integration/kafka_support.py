"""Fixtures and helpers of the Kafka tests (``test_kafka_pipeline.py``, ``test_kafka_consumer.py``).

Needs Kafka on ``LINKGRAPH_KAFKA`` (default 127.0.0.1:9092): ``deploy/local/up``
starts one. Every test uses a topic (and consumer group) of its own, deleted
afterwards. In-process consumers write to the session's embedded index in a
database of their own; consumers run as subprocesses own a data directory.

The fixtures are named ``kafka_up``, ``topic``, ``group`` and ``database``; a
test module imports their functions (``*_fixture``) to use them.
"""

from __future__ import annotations

import os
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
from linkcore.errors import ServiceUnavailable
from linkcore.records import Link, PageRecord
from linkindex.client import Index, IndexLocation, open_index
from pipelines.kafka import KafkaPipeline

BOOTSTRAP = os.environ.get("LINKGRAPH_KAFKA") or "127.0.0.1:9092"
#: Seconds a consumer may take to catch up before a test gives up.
CATCH_UP = 120.0

# -- services and names -------------------------------------------------------------------


@pytest.fixture(scope="session", name="kafka_up")
def kafka_up_fixture() -> lgkafka.KafkaSettings:
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


@pytest.fixture(name="topic")
def topic_fixture(kafka_up: lgkafka.KafkaSettings) -> Iterator[str]:
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


@pytest.fixture(name="group")
def group_fixture(kafka_up: lgkafka.KafkaSettings) -> Iterator[str]:
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


@pytest.fixture(name="database")
def database_fixture(index_dir: Path) -> Iterator[str]:
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
