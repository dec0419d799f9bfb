"""The real services of the distributed mode, as ``deploy/local/up`` starts them.

Redis and a Kafka 4.x broker must answer at ``LINKGRAPH_REDIS`` / ``LINKGRAPH_KAFKA``
(else the defaults, ``redis://127.0.0.1:6379/0`` and ``127.0.0.1:9092``). A service
that does not answer fails the test with a message naming ``deploy/local/up``; nothing
is skipped because a service is missing.

Every test works under names of its own (random key prefix, random topic and group)
and removes them afterwards.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import codec as kafka_codec
from kafka.errors import KafkaError

from linkcore import config

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("LINKGRAPH_REDIS") or config.REDIS_URL
KAFKA_BOOTSTRAP = os.environ.get("LINKGRAPH_KAFKA") or config.KAFKA_BOOTSTRAP

START_HINT = "start the services with `deploy/local/up` (check them with `deploy/local/status`)"
#: Seconds a Kafka step (metadata, delivery, consumption) may take.
KAFKA_TIMEOUT = 60.0
#: Python packages kafka-python needs for each codec (gzip is in the standard library).
CODEC_PACKAGES = {"lz4": "lz4", "zstd": "zstandard", "snappy": "python-snappy"}


# -- Redis ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        pytest.fail(f"Redis at {REDIS_URL} is not answering ({error}); {START_HINT}", pytrace=False)
    yield client
    client.close()


@pytest.fixture
def key_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A random key prefix; every key under it is deleted afterwards."""
    prefix = f"linkgraph-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        redis_client.delete(*keys)
    assert not list(redis_client.scan_iter(match=f"{prefix}*"))


def test_redis_ping_set_get(redis_client: redis.Redis, key_prefix: str) -> None:
    assert redis_client.ping() is True
    key = f"{key_prefix}greeting"
    assert redis_client.set(key, "héllo", ex=300) is True
    assert redis_client.get(key) == "héllo".encode()
    assert redis_client.get(f"{key_prefix}missing") is None
    assert 0 < redis_client.ttl(key) <= 300


def test_redis_bitmap(redis_client: redis.Redis, key_prefix: str) -> None:
    """SETBIT/GETBIT, what a Bloom filter without the RedisBloom module is made of."""
    key = f"{key_prefix}bloom"
    positions = [0, 7, 8, 12_345, 2**20 - 1]
    for position in positions:
        assert redis_client.setbit(key, position, 1) == 0
    assert redis_client.setbit(key, 7, 1) == 1
    assert [redis_client.getbit(key, p) for p in positions] == [1] * len(positions)
    assert redis_client.getbit(key, 1) == 0
    assert redis_client.bitcount(key) == len(positions)


# -- Kafka ---------------------------------------------------------------------


def _require_listening(bootstrap: str) -> None:
    """Fail at once if no bootstrap server accepts connections (kafka-python would retry)."""
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), 5).close()
            return
        except OSError as error:
            errors.append(f"{server}: {error}")
    pytest.fail(
        f"Kafka at {bootstrap} is not answering ({'; '.join(errors)}); {START_HINT}",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def kafka_admin() -> Iterator[KafkaAdminClient]:
    _require_listening(KAFKA_BOOTSTRAP)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=KAFKA_BOOTSTRAP,
            client_id="linkgraph-test-admin",
            request_timeout_ms=30_000,
        )
        admin.list_topics()
    except KafkaError as error:
        pytest.fail(
            f"Kafka at {KAFKA_BOOTSTRAP} is not answering ({error!r}); {START_HINT}",
            pytrace=False,
        )
    yield admin
    admin.close()


@pytest.fixture
def topic(kafka_admin: KafkaAdminClient) -> Iterator[str]:
    """A new topic with 3 partitions, deleted afterwards."""
    name = f"linkgraph-test-{uuid.uuid4().hex[:12]}"
    kafka_admin.create_topics(
        {name: {"num_partitions": 3, "replication_factor": 1}},
        timeout_ms=30_000,
        wait_for_metadata=True,
    )
    yield name
    kafka_admin.delete_topics([name], timeout_ms=30_000)
    deadline = time.monotonic() + KAFKA_TIMEOUT
    while name in kafka_admin.list_topics():
        assert time.monotonic() < deadline, f"topic {name} still listed after deletion"
        time.sleep(0.2)


def _produce(topic: str, count: int, compression: str) -> dict[int, list[tuple[bytes, bytes]]]:
    """Send ``count`` keyed records; return what each partition received, in offset order."""
    producer = KafkaProducer(
        bootstrap_servers=KAFKA_BOOTSTRAP,
        client_id="linkgraph-test-producer",
        acks="all",
        enable_idempotence=True,
        compression_type=compression,
        linger_ms=5,
        max_block_ms=int(KAFKA_TIMEOUT * 1000),
    )
    try:
        futures = []
        for i in range(count):
            record = (f"key-{i}".encode(), f"page {i} ".encode() + b"x" * 200)
            futures.append((record, producer.send(topic, key=record[0], value=record[1])))
        producer.flush(timeout=KAFKA_TIMEOUT)
        sent: dict[int, list[tuple[int, tuple[bytes, bytes]]]] = {}
        for record, future in futures:
            metadata = future.get(timeout=KAFKA_TIMEOUT)
            sent.setdefault(metadata.partition, []).append((metadata.offset, record))
    finally:
        producer.close(timeout=10)
    return {p: [record for _, record in sorted(items)] for p, items in sent.items()}


def _consume(topic: str, group: str, count: int) -> dict[int, list[tuple[bytes, bytes]]]:
    """Read ``count`` records as member of ``group``, commit, return them per partition."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=KAFKA_BOOTSTRAP,
        client_id="linkgraph-test-consumer",
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: dict[int, list[tuple[int, tuple[bytes, bytes]]]] = {}
    try:
        deadline = time.monotonic() + KAFKA_TIMEOUT
        total = 0
        while total < count:
            assert time.monotonic() < deadline, (
                f"consumed {total} of {count} records in {KAFKA_TIMEOUT:.0f} s"
            )
            for tp, messages in consumer.poll(timeout_ms=1000).items():
                for message in messages:
                    received.setdefault(tp.partition, []).append(
                        (message.offset, (message.key, message.value))
                    )
                    total += 1
        consumer.commit()
        committed = {p: consumer.committed(TopicPartition(topic, p)) for p in received}
        assert committed == {p: len(items) for p, items in received.items()}
    finally:
        consumer.close()
    for items in received.values():
        offsets = [offset for offset, _ in items]
        assert offsets == sorted(offsets), "records of one partition out of order"
    return {p: [record for _, record in items] for p, items in received.items()}


def _round_trip(
    admin: KafkaAdminClient, topic: str, count: int, compression: str
) -> dict[int, list[tuple[bytes, bytes]]]:
    """Produce ``count`` records, read them back in a consumer group, delete the group."""
    sent = _produce(topic, count, compression)
    assert sum(len(items) for items in sent.values()) == count
    group = f"{topic}-group"
    try:
        received = _consume(topic, group, count)
    finally:
        deleted = admin.delete_groups([group])
    assert received == sent
    assert deleted == {group: "OK"}
    return sent


def test_kafka_round_trip(kafka_admin: KafkaAdminClient, topic: str) -> None:
    """100 records, idempotent, acks=all, gzip: all back, per partition in order."""
    (described,) = kafka_admin.describe_topics([topic])
    assert len(described["partitions"]) == 3
    sent = _round_trip(kafka_admin, topic, 100, "gzip")
    assert sorted(sent) == [0, 1, 2], "100 keys should spread over the three partitions"


@pytest.mark.parametrize("compression", ["lz4", "zstd"])
def test_kafka_codecs(kafka_admin: KafkaAdminClient, topic: str, compression: str) -> None:
    """The broker takes the codecs kafka-python writes once their package is installed."""
    if not getattr(kafka_codec, f"has_{compression}")():
        pytest.skip(
            f"kafka-python cannot write {compression} here: "
            f"pip install {CODEC_PACKAGES[compression]}"
        )
    _round_trip(kafka_admin, topic, 20, compression)
