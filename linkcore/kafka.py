"""The one factory for Kafka clients, and the page message format.

Everything that talks to Kafka gets its client here: :func:`make_producer`,
:func:`make_consumer` and :func:`make_admin` build kafka-python clients from a
validated :class:`KafkaSettings`, :func:`ensure_topic` creates a topic with the
configured partitions on first use, and every kafka-python failure leaves this
module as a :class:`~linkcore.errors.ServiceUnavailable` (or a
:class:`~linkcore.errors.ConfigError` for settings that cannot work) with a
one-line message. ``retriable`` on the raised error copies kafka-python's flag.

Page messages (format ``linkgraph.page/2``)
-------------------------------------------

One Kafka message per fetched page, produced by ``pipelines.kafka`` and
consumed by ``consumers.service``:

* **value**: the page record as JSON, ``PageRecord.to_dict()``, UTF-8, no
  whitespace. It carries its layout version in ``"v"`` (currently 2); links are
  compact lists in the order of ``linkcore.records.LINK_FIELDS``::

    {"v":2,"url":"https://a.example/","status":200,"fetched_at":1763700000.25,
     "content_type":"text/html","robots_nofollow":false,"depth":0,
     "dropped_links":0,"job":"news","robots_noindex":false,"title":"A",
     "lang":"en","words":412,"ip":"192.0.2.7",
     "links":[["https://b.example/x","a","anchor text",0,0,0,0,1,
               "content","Read the","in full."]]}

  Version 1 (``linkgraph.page/1``) had no page facts and 8 fields per link
  (no location and texts). Consumers read both, so producers and consumers
  can be upgraded in any order: a version 1 message gives links located
  ``other`` without texts.

* **key**: the page's source host as UTF-8 bytes (``a.example``), so that the
  pages of one host land on one partition, in order.
* **header** ``schema`` = ``linkgraph.page/2`` (or ``/1`` from an older
  producer). A consumer rejects any other value; a message without the header
  is judged by its ``"v"`` alone.
* **compression**: at the Kafka batch level (``compression_type``), zstd when
  the ``zstandard`` package is importable, else gzip. Values themselves are
  plain JSON.

A message that cannot be turned into a page record (not UTF-8 JSON, another
version, a missing or ill-typed field, out-of-range numbers, larger than the
consumer's ``max_message_bytes``) raises :class:`UndecodableMessage`; the
consumer moves it to the dead-letter topic (see ``consumers.dlq``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from linkcore import config

# The Kafka defaults are declared in linkcore.config; their names stay importable here.
from linkcore.config import KAFKA_COMPRESSION as KAFKA_COMPRESSION
from linkcore.config import KAFKA_CONNECT_TIMEOUT as KAFKA_CONNECT_TIMEOUT
from linkcore.config import KAFKA_LINGER_MS as KAFKA_LINGER_MS
from linkcore.config import KAFKA_MAX_MESSAGE_BYTES as KAFKA_MAX_MESSAGE_BYTES
from linkcore.config import KAFKA_PARTITIONS as KAFKA_PARTITIONS
from linkcore.config import KAFKA_REPLICATION_FACTOR as KAFKA_REPLICATION_FACTOR
from linkcore.errors import ConfigError, LinkgraphError, ServiceUnavailable
from linkcore.records import SCHEMA_VERSIONS, MalformedRecord, PageRecord
from linkcore.urls import host_of, normalize

log = logging.getLogger(__name__)

#: Header that names the message format, the value this version writes, and
#: every value it reads.
SCHEMA_HEADER: Final = "schema"
SCHEMA: Final = b"linkgraph.page/2"
SCHEMAS: Final = frozenset({b"linkgraph.page/1", SCHEMA})

_COMPRESSIONS: Final = ("auto", "zstd", "gzip", "lz4", "snappy", "none")
# Kafka topic names: legal characters and length (kafka.common.internals.Topic).
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")
# DateTime64(3) in the index holds 1900..2299; a page fetched outside 1970..2299 is junk.
_LATEST_TIMESTAMP: Final = 10_413_791_999.0
_UINT16: Final = 0xFFFF
_UINT32: Final = 0xFFFF_FFFF
# A JSON \u escape of a UTF-16 surrogate: the only way a decoded str can fail to encode.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def zstd_available() -> bool:
    """True when kafka-python can compress with zstd (the ``zstandard`` package)."""
    from kafka.codec import has_zstd

    return bool(has_zstd())


def parse_bootstrap(text: str) -> list[str]:
    """Split ``host:port[,host:port…]`` into a list; ConfigError on anything else."""
    servers = [part.strip() for part in text.split(",") if part.strip()]
    if not servers:
        raise ConfigError("--kafka is empty: give host:port[,host:port…]")
    for server in servers:
        match = _HOST_PORT.match(server)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise ConfigError(f"--kafka: {server!r} is not host:port")
    return servers


def check_topic_name(topic: str, what: str = "--topic") -> str:
    """Return ``topic`` if Kafka accepts it as a topic name, else raise ConfigError."""
    if not _TOPIC.match(topic) or topic in (".", ".."):
        raise ConfigError(
            f"{what} {topic!r} is not a Kafka topic name "
            "(letters, digits, '.', '_', '-'; at most 249 characters)"
        )
    return topic


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaSettings:
    """Where Kafka is and how linkgraph uses it; validated on construction.

    ``compression`` ``"auto"`` resolves to zstd or gzip (see :attr:`codec`).
    ``partitions`` and ``replication_factor`` apply only when linkgraph creates
    a topic; an existing topic is used as it is.
    """

    bootstrap: str = config.KAFKA_BOOTSTRAP
    topic: str = config.KAFKA_TOPIC
    partitions: int = KAFKA_PARTITIONS
    replication_factor: int = KAFKA_REPLICATION_FACTOR
    compression: str = KAFKA_COMPRESSION
    linger_ms: int = KAFKA_LINGER_MS
    max_message_bytes: int = KAFKA_MAX_MESSAGE_BYTES
    connect_timeout: float = KAFKA_CONNECT_TIMEOUT
    servers: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "servers", tuple(parse_bootstrap(self.bootstrap)))
        check_topic_name(self.topic)
        if self.partitions < 1:
            raise ConfigError(f"Kafka partitions must be 1 or more, got {self.partitions}")
        if self.replication_factor < 1:
            raise ConfigError(
                f"Kafka replication factor must be 1 or more, got {self.replication_factor}"
            )
        if self.compression not in _COMPRESSIONS:
            raise ConfigError(
                f"Kafka compression {self.compression!r} is not one of {', '.join(_COMPRESSIONS)}"
            )
        if self.compression == "zstd" and not zstd_available():
            raise ConfigError("Kafka compression zstd needs the zstandard package (pip install)")
        if not 0 <= self.linger_ms <= 60_000:
            raise ConfigError(f"Kafka linger must be 0..60000 ms, got {self.linger_ms}")
        if not 1024 <= self.max_message_bytes <= 1024**3:
            raise ConfigError(
                f"Kafka max message bytes must be 1 KiB..1 GiB, got {self.max_message_bytes}"
            )
        if not self.connect_timeout > 0:
            raise ConfigError(f"Kafka connect timeout must be positive, got {self.connect_timeout}")

    @property
    def codec(self) -> str | None:
        """The kafka-python ``compression_type``: None, or a codec name."""
        if self.compression == "auto":
            return "zstd" if zstd_available() else "gzip"
        return None if self.compression == "none" else self.compression

    def describe(self) -> str:
        return f"Kafka at {self.bootstrap}"


def resolve_kafka(
    bootstrap: str | None = None, topic: str | None = None, **options: Any
) -> KafkaSettings:
    """Combine flags and environment into :class:`KafkaSettings`.

    Flags win over ``LINKGRAPH_KAFKA`` / ``LINKGRAPH_TOPIC``, which win over the
    defaults (docs/storage.md). ``options`` are the other :class:`KafkaSettings` fields.
    """
    return KafkaSettings(
        bootstrap=config.KAFKA.resolve(bootstrap),
        topic=config.TOPIC.resolve(topic),
        **options,
    )


# -- errors -------------------------------------------------------------------------


def translate(error: BaseException, settings: KafkaSettings, action: str) -> LinkgraphError:
    """A one-line :class:`LinkgraphError` for a kafka-python failure while ``action``."""
    from kafka import errors as kafka_errors

    if isinstance(error, LinkgraphError):
        return error
    message = " ".join(str(error).split())[:300] or type(error).__name__
    if isinstance(error, kafka_errors.KafkaConfigurationError | ValueError | TypeError):
        return ConfigError(f"bad Kafka setting while {action}: {message}")
    if "Unable to bootstrap" in message:
        return ServiceUnavailable(
            f"cannot reach {settings.describe()} while {action} "
            "(is the broker running? check --kafka / LINKGRAPH_KAFKA)"
        )
    if isinstance(error, kafka_errors.InvalidReplicationFactorError):
        return ConfigError(
            f"Kafka refused replication factor {settings.replication_factor} while {action} "
            "(more replicas than brokers?)"
        )
    if isinstance(error, kafka_errors.AuthorizationError):
        return ConfigError(f"Kafka refused access while {action}: {type(error).__name__}")
    translated = ServiceUnavailable(
        f"Kafka error while {action}: {type(error).__name__}: {message}"
    )
    translated.retriable = bool(getattr(error, "retriable", True))
    return translated


@contextlib.contextmanager
def kafka_errors(settings: KafkaSettings, action: str) -> Iterator[None]:
    """Translate anything kafka-python raises inside the block (see :func:`translate`)."""
    try:
        yield
    except LinkgraphError:
        raise
    except Exception as error:
        raise translate(error, settings, action) from error


# -- clients ------------------------------------------------------------------------


def _common(settings: KafkaSettings, client_id: str) -> dict[str, Any]:
    timeout_ms = int(settings.connect_timeout * 1000)
    return {
        "bootstrap_servers": list(settings.servers),
        "client_id": client_id,
        "bootstrap_timeout_ms": timeout_ms,
        "reconnect_backoff_max_ms": 10_000,
    }


def make_admin(settings: KafkaSettings) -> Any:
    """A connected ``KafkaAdminClient``; the caller closes it."""
    from kafka import KafkaAdminClient

    with kafka_errors(settings, "connecting the admin client"):
        return KafkaAdminClient(**_common(settings, "linkgraph-admin"))


def ensure_topic(
    settings: KafkaSettings,
    topic: str | None = None,
    *,
    partitions: int | None = None,
    admin: Any = None,
) -> bool:
    """Create ``topic`` (default: the page topic) unless it exists; True if created.

    New topics get ``partitions`` (default ``settings.partitions``), the
    configured replication factor and ``max.message.bytes`` of
    ``settings.max_message_bytes``. Waits until every partition has a leader.
    """
    from kafka import errors as kafka_errors_module

    name = check_topic_name(topic or settings.topic)
    own_admin = admin is None
    client = make_admin(settings) if admin is None else admin
    try:
        with kafka_errors(settings, f"creating topic {name}"):
            if name in client.list_topics():
                return False
            try:
                client.create_topics(
                    {
                        name: {
                            "num_partitions": partitions or settings.partitions,
                            "replication_factor": settings.replication_factor,
                            "configs": {"max.message.bytes": str(settings.max_message_bytes)},
                        }
                    },
                    timeout_ms=int(settings.connect_timeout * 1000),
                )
            except kafka_errors_module.TopicAlreadyExistsError:
                return False  # another process created it first
            client.wait_for_topics([name], timeout_ms=int(settings.connect_timeout * 1000))
            log.info(
                "created Kafka topic %s (%d partitions, replication factor %d)",
                name,
                partitions or settings.partitions,
                settings.replication_factor,
            )
            return True
    finally:
        if own_admin:
            with contextlib.suppress(Exception):
                client.close()


def topic_message_limit(settings: KafkaSettings, topic: str, admin: Any = None) -> int | None:
    """The topic's ``max.message.bytes`` (the broker's limit on a compressed batch), or None."""
    from kafka.admin import ConfigResource, ConfigResourceType

    own_admin = admin is None
    client = make_admin(settings) if admin is None else admin
    try:
        with kafka_errors(settings, f"reading the configuration of topic {topic}"):
            answer = client.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})],
                config_filter="all",
            )
        value = answer.get("topic", {}).get(topic, {}).get("max.message.bytes", {}).get("value")
        return int(value) if value is not None else None
    finally:
        if own_admin:
            with contextlib.suppress(Exception):
                client.close()


def make_producer(
    settings: KafkaSettings,
    *,
    client_id: str = "linkgraph-producer",
    topics: Sequence[str] | None = None,
    max_request_size: int | None = None,
    idempotent: bool = True,
) -> Any:
    """A connected ``KafkaProducer`` for ``topics`` (default: the page topic).

    acks=all, idempotent unless told otherwise, batch compression
    (``settings.codec``). Creates missing topics (:func:`ensure_topic`).
    ``max_request_size`` (default ``settings.max_message_bytes``) is lowered
    to the smallest ``max.message.bytes`` of the topics, so that an oversized
    record is refused by ``send()`` rather than by the broker: kafka-python
    3.0's idempotent producer treats a batch the broker refuses as fatal and
    fails every later send.
    """
    from kafka import KafkaProducer

    limit = max_request_size or settings.max_message_bytes
    for topic in [settings.topic] if topics is None else topics:
        ensure_topic(settings, topic)
        topic_limit = topic_message_limit(settings, topic)
        if topic_limit is not None and topic_limit < limit:
            log.info("topic %s takes messages up to %d bytes", topic, topic_limit)
            limit = topic_limit
    with kafka_errors(settings, "connecting the producer"):
        return KafkaProducer(
            **_common(settings, client_id),
            acks="all",
            enable_idempotence=idempotent,
            compression_type=settings.codec,
            linger_ms=settings.linger_ms,
            batch_size=min(256 * 1024, limit),
            max_request_size=limit,
            # send() blocks the caller at most this long for metadata or buffer room.
            max_block_ms=int(settings.connect_timeout * 1000),
            delivery_timeout_ms=120_000,
        )


def make_consumer(
    settings: KafkaSettings,
    group_id: str,
    *,
    client_id: str = "linkgraph-consumer",
    max_poll_records: int = 500,
) -> Any:
    """A connected ``KafkaConsumer`` in ``group_id``, not yet subscribed.

    Offsets are committed by the caller only (``enable_auto_commit=False``); a
    new group starts at the earliest offset. Eager assignors (range,
    round-robin): on a rebalance every partition is revoked before any is
    assigned, which is what the consumer service's revocation handling expects.
    """
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    with kafka_errors(settings, "connecting the consumer"):
        return KafkaConsumer(
            **_common(settings, client_id),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_poll_records,
            max_partition_fetch_bytes=max(1024 * 1024, settings.max_message_bytes),
            # Heartbeats run on kafka-python's I/O thread, so a short session is
            # safe; it bounds how long a crashed member holds its partitions.
            session_timeout_ms=15_000,
            partition_assignment_strategy=(RangePartitionAssignor, RoundRobinPartitionAssignor),
        )


def close_producer(producer: Any, timeout: float) -> None:
    """Close ``producer`` within about ``timeout`` seconds, whatever is still in flight.

    kafka-python 3.0's ``close(timeout)`` flushes first and raises when that
    flush times out, leaving its sender thread running (and its ``__del__``
    printing a traceback later). Here the sender is then force-closed, which
    fails the future of every record still pending, so their errbacks run
    before this returns.
    """
    try:
        producer.close(timeout=timeout)
        return
    except Exception as error:  # the flush inside close() timed out
        log.debug("producer close: %s; closing it forcefully", error)
    sender = getattr(producer, "_sender", None)
    if sender is not None:
        sender.force_close()
        sender.join(5)
    with contextlib.suppress(Exception):
        producer.close(timeout=0)


# -- the message format ----------------------------------------------------------------


class UndecodableMessage(MalformedRecord):
    """A message that is not a valid page record; ``kind`` names the family of problem.

    Kinds: ``empty``, ``oversized``, ``schema``, ``encoding``, ``json``,
    ``version``, ``invalid``.
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def encode_page(page: PageRecord) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """The (key, value, headers) of the message for ``page`` (see module doc).

    Raises :class:`~linkcore.records.MalformedRecord` for a record that JSON
    cannot carry (a non-finite ``fetched_at``, a lone UTF-16 surrogate).
    """
    try:
        value = json.dumps(
            page.to_dict(), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    except ValueError as error:
        raise MalformedRecord(f"page record of {page.url} cannot be JSON: {error}") from None
    host = host_of(page.url)
    return (host.encode("utf-8") if host else None), value, [(SCHEMA_HEADER, SCHEMA)]


def _header(headers: Sequence[tuple[str, bytes | None]] | None, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value if value is not None else b""
    return None


def _check_strings(page: PageRecord) -> None:
    texts = [page.url, page.content_type, page.job, page.etag, page.last_modified]
    texts += (page.title, page.lang, page.ip, page.source)
    for link in page.links:
        texts += (link.target_url, link.anchor, link.text_before, link.text_after)
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UndecodableMessage("encoding", "a string holds a lone UTF-16 surrogate") from None


def decode_page(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None = None,
    *,
    max_bytes: int = KAFKA_MAX_MESSAGE_BYTES,
) -> PageRecord:
    """The page record a message carries, validated so the index can store it.

    Raises :class:`UndecodableMessage` with a one-line reason otherwise.
    Beyond ``PageRecord.from_dict`` it checks what the index columns need: an
    http(s) source URL, ``status`` and counts within their column types,
    ``fetched_at`` within 1970..2299, strings encodable as UTF-8.
    """
    if value is None or len(value) == 0:
        raise UndecodableMessage("empty", "empty message (no value)")
    if len(value) > max_bytes:
        raise UndecodableMessage(
            "oversized", f"message of {len(value)} bytes exceeds max_message_bytes {max_bytes}"
        )
    schema = _header(headers, SCHEMA_HEADER)
    if schema is not None and schema not in SCHEMAS:
        shown = schema[:64].decode("utf-8", "replace")
        raise UndecodableMessage("schema", f"unsupported schema header {shown!r}")
    try:
        text = bytes(value).decode("utf-8")
    except UnicodeDecodeError as error:
        raise UndecodableMessage("encoding", f"not UTF-8 (byte {error.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UndecodableMessage("json", f"not JSON: {error.msg} at char {error.pos}") from None
    except RecursionError:
        raise UndecodableMessage("json", "not JSON: nested too deeply") from None
    if isinstance(data, dict) and "v" in data and data["v"] not in SCHEMA_VERSIONS:
        shown = json.dumps(data["v"])[:40]
        raise UndecodableMessage("version", f"unsupported page record version {shown}")
    try:
        page = PageRecord.from_dict(data)
    except MalformedRecord as error:
        kind = "version" if "version" in str(error) else "invalid"
        raise UndecodableMessage(kind, str(error)) from None
    except (TypeError, ValueError, OverflowError) as error:
        raise UndecodableMessage("invalid", f"page record has a bad field: {error}") from None
    if normalize(page.url) is None:
        raise UndecodableMessage("invalid", "page record url is not an http(s) URL")
    if not 0 <= page.status <= _UINT16:
        raise UndecodableMessage("invalid", f"page record status {page.status} is out of range")
    if not (math.isfinite(page.fetched_at) and 0 <= page.fetched_at <= _LATEST_TIMESTAMP):
        raise UndecodableMessage("invalid", "page record fetched_at is not a time in 1970..2299")
    if not 0 <= page.dropped_links <= _UINT32:
        raise UndecodableMessage("invalid", "page record dropped_links is out of range")
    if page.words > _UINT32:
        raise UndecodableMessage("invalid", "page record words is out of range")
    if any(link.link_count > _UINT32 for link in page.links):
        raise UndecodableMessage("invalid", "a link has a bad link_count")
    if _SURROGATE_ESCAPE.search(value):
        _check_strings(page)
    return page
