"""The consumer loop against a stand-in Kafka consumer (no services)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kafka import errors as kafka_errors

from consumers.service import ConsumerConfig, ConsumerService
from linkindex.client import IndexLocation


class BrokerAwayFor:
    """A consumer whose first ``polls`` polls find the broker gone, as kafka-python
    reports it once its heartbeat died; then it has nothing to return."""

    def __init__(self, polls: int, stop: threading.Event) -> None:
        self.failures = polls
        self.polls = 0
        self.stop = stop

    def subscribe(self, topics: list[str], listener: Any) -> None:
        pass

    def poll(self, timeout_ms: int = 0) -> dict[Any, list[Any]]:
        self.polls += 1
        if self.polls <= self.failures:
            raise kafka_errors.KafkaConnectionError("111 ECONNREFUSED")
        self.stop.set()
        return {}

    def assignment(self) -> set[Any]:
        return set()


class NoIndex:
    location = IndexLocation(data_dir="/nonexistent")


def test_a_broker_gone_for_a_few_polls_is_polled_again(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    consumer = BrokerAwayFor(2, stop)
    config = ConsumerConfig(index=NoIndex.location, topic="pages", batch_seconds=0.1)
    service = ConsumerService(config, consumer, None, NoIndex(), stop)  # type: ignore[arg-type]
    assert service.run() == 0
    assert consumer.polls == 3
    assert caplog.text.count("Kafka error while polling") == 1
    assert "Kafka is back after" in caplog.text
