"""Worker pipeline -> Kafka -> consumer group -> index, against the real local broker.

Needs Kafka on ``LINKGRAPH_KAFKA`` (default 127.0.0.1:9092): ``deploy/local/up``
starts one (see :mod:`tests.integration.kafka_support`). The consumer's
handling of an index that is away or refuses writes, rebalances and its writer
thread are in ``test_kafka_consumer.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from linkcore import kafka as lgkafka
from linkindex import rollups
from linkindex.client import IndexLocation, open_index
from linkindex.writer import _edge_tables, _page_table, build_batch
from pipelines.kafka import KafkaPipeline
from tests.integration.kafka_support import (  # noqa: F401
    BOOTSTRAP,
    ServiceThread,
    all_committed,
    assert_stored_exactly,
    committed_offsets,
    consumer_config,
    database_fixture,
    end_offsets,
    expected_edges,
    group_fixture,
    incompressible_page,
    kafka_up_fixture,
    make_pages,
    pipeline_for,
    produce_raw,
    produce_with_pipeline,
    read_topic,
    start_consumer,
    stored_edges,
    topic_fixture,
    wait_until,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


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
