"""The dead-letter topic: where messages that are not page records go.

A message the consumer cannot decode (see ``linkcore.kafka.decode_page``) is
copied to the dead-letter topic (default ``<topic>.dlq``) with its original
key, value and headers, plus these headers (values UTF-8):

``reason``            one line: why it was rejected
``reason-kind``       ``empty``, ``oversized``, ``schema``, ``encoding``, ``json``,
                      ``version`` or ``invalid``
``source-topic``      the topic it was read from
``source-partition``  its partition there
``source-offset``     its offset there
``truncated``         only if the value had to be cut to fit the dead-letter
                      topic: the original length in bytes

The consumer commits past a dead-lettered message only after the dead-letter
topic acknowledged the copy (:meth:`DeadLetters.confirm`), so a rejected
message is never lost, only moved.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Final

from linkcore import kafka as lgkafka
from linkcore.errors import ServiceUnavailable
from linkcore.kafka import UndecodableMessage
from linkcore.metrics import DLQ_MESSAGES

log = logging.getLogger(__name__)

#: Headers the consumer adds; copies of these from the original are replaced.
DLQ_HEADERS: Final = (
    "reason",
    "reason-kind",
    "source-topic",
    "source-partition",
    "source-offset",
    "truncated",
)
# A value too large for the dead-letter topic is cut to at most this many bytes.
_TRUNCATED_BYTES: Final = 64 * 1024


@dataclass(slots=True)
class _Letter:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    kind: str
    future: Any = None
    error: BaseException | None = None
    truncated: bool = False
    attempts: int = field(default=0)


def _size_error(error: BaseException | None) -> bool:
    return type(error).__name__ in ("MessageSizeTooLargeError", "RecordListTooLargeError")


class DeadLetters:
    """Copies rejected messages to the dead-letter topic through ``producer``.

    ``send`` never blocks for long and never raises for a Kafka problem; the
    copy is checked in :meth:`confirm`, which the consumer calls before every
    offset commit. Not thread-safe: one instance per consuming thread.
    """

    def __init__(self, producer: Any, topic: str, truncate_to: int = _TRUNCATED_BYTES) -> None:
        self.producer = producer
        self.topic = topic
        self.truncate_to = truncate_to
        self._unconfirmed: list[_Letter] = []
        self.sent = 0

    @classmethod
    def open(cls, settings: lgkafka.KafkaSettings, topic: str) -> DeadLetters:
        """Dead letters for the page topic of ``settings``, through a producer of their own.

        Creates ``topic`` if missing, with one partition and a message limit
        at least as large as the page topic's, so that a copy fits wherever
        the original did. The producer is not idempotent: kafka-python 3.0's
        idempotent producer fails every later record after the broker refused
        one, and a duplicated dead letter is harmless.
        """
        page_limit = lgkafka.topic_message_limit(settings, settings.topic) or 0
        limit = max(page_limit, settings.max_message_bytes, lgkafka.KAFKA_MAX_MESSAGE_BYTES)
        dlq_settings = dataclasses.replace(settings, max_message_bytes=limit)
        lgkafka.ensure_topic(dlq_settings, topic, partitions=1)
        producer = lgkafka.make_producer(
            dlq_settings, client_id="linkgraph-dlq", topics=[topic], idempotent=False
        )
        actual = lgkafka.topic_message_limit(dlq_settings, topic) or limit
        return cls(producer, topic, truncate_to=min(_TRUNCATED_BYTES, actual // 2))

    def close(self, timeout: float = 10.0) -> None:
        """Close the producer (after :meth:`confirm`, nothing is left to lose)."""
        lgkafka.close_producer(self.producer, timeout)

    def __len__(self) -> int:
        return len(self._unconfirmed)

    def send(self, record: Any, error: UndecodableMessage) -> None:
        """Queue a copy of consumer ``record`` with the reason it was rejected."""
        reason = " ".join(error.reason.split())[:500]
        headers = [
            (name, value if value is not None else b"")
            for name, value in (record.headers or [])
            if name not in DLQ_HEADERS
        ]
        headers += [
            ("reason", reason.encode("utf-8", "replace")),
            ("reason-kind", error.kind.encode()),
            ("source-topic", str(record.topic).encode("utf-8")),
            ("source-partition", str(record.partition).encode()),
            ("source-offset", str(record.offset).encode()),
        ]
        value = bytes(record.value) if record.value is not None else b""
        key = bytes(record.key) if record.key is not None else None
        letter = _Letter(key, value, headers, error.kind)
        self._send(letter)
        self._unconfirmed.append(letter)
        DLQ_MESSAGES.labels(error.kind).inc()
        log.warning(
            "dead-lettered %s[%s]@%s to %s: %s",
            record.topic,
            record.partition,
            record.offset,
            self.topic,
            reason,
        )

    def _send(self, letter: _Letter) -> None:
        letter.attempts += 1
        letter.error = None
        try:
            letter.future = self.producer.send(
                self.topic, value=letter.value, key=letter.key, headers=letter.headers
            )
        except Exception as error:  # checked in confirm(), like a failed delivery
            letter.future = None
            letter.error = error

    def _truncate(self, letter: _Letter) -> None:
        letter.headers.append(("truncated", str(len(letter.value)).encode()))
        letter.value = letter.value[: self.truncate_to]
        letter.truncated = True

    def confirm(self, timeout: float = 30.0) -> None:
        """Block until every queued copy is acknowledged by the dead-letter topic.

        Failed copies are sent again, up to three rounds (a copy too large for
        the topic is cut to ``truncate_to`` bytes first). Raises
        :class:`~linkcore.errors.ServiceUnavailable` if some remain
        unacknowledged; they stay queued for the next call. The error is
        retriable unless Kafka refused a copy for good (authorization, size
        even when cut).
        """
        for attempt in range(3):
            if not self._unconfirmed:
                return
            try:
                self.producer.flush(timeout=timeout)
            except Exception as error:  # a flush timeout: judged per letter below
                log.debug("dead-letter flush: %s", error)
            failed = [letter for letter in self._unconfirmed if not _delivered(letter, timeout)]
            self.sent += len(self._unconfirmed) - len(failed)
            self._unconfirmed = failed
            if not failed or attempt == 2 or any(_hopeless(letter) for letter in failed):
                break
            for letter in failed:
                if _size_error(letter.error):
                    self._truncate(letter)
                self._send(letter)
        if not self._unconfirmed:
            return
        cause = self._unconfirmed[0].error
        failure = ServiceUnavailable(
            f"cannot write {len(self._unconfirmed)} message(s) to dead-letter topic "
            f"{self.topic}: {type(cause).__name__}: {' '.join(str(cause).split())[:200]}"
        )
        failure.retriable = not any(_hopeless(letter) for letter in self._unconfirmed)
        raise failure


def _delivered(letter: _Letter, timeout: float) -> bool:
    """True if the broker acknowledged ``letter``; else records why not."""
    future = letter.future
    if future is None:
        return False  # send() itself failed; letter.error says why
    if not future.is_done:
        letter.error = TimeoutError(f"not acknowledged in {timeout:.0f} s")
        return False
    if future.failed():
        letter.error = future.exception
        return False
    return True


def _hopeless(letter: _Letter) -> bool:
    """True when sending ``letter`` again cannot succeed."""
    if _size_error(letter.error):
        return letter.truncated
    return not bool(getattr(letter.error, "retriable", True))
