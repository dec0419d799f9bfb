"""``linkgraph job wait``: until a job has finished crawling *and* is in the index.

Three conditions, checked in order:

1. the job's state is no longer ``running`` (frontier empty and nothing
   leased, max_pages reached, or stopped);
2. no lease is left: every page a worker produced was acknowledged by Kafka;
3. the consumer group has committed, on every partition of the topic, an
   offset at least the end offset read once conditions 1 and 2 held. Consumers
   commit only after the index accepted a batch, so every page of the job is
   then in the index.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from crawler.frontier.jobs import JobStore
from linkcore.errors import LinkgraphError, ServiceUnavailable


class WaitTimeout(LinkgraphError):
    """``job wait`` ran out of time."""

    exit_code = 3


def _kafka_offsets(
    bootstrap: str, topic: str, group: str
) -> tuple[Callable[[], dict[Any, int]], Callable[[], dict[Any, int]], Callable[[], None]]:
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id="linkgraph-wait", request_timeout_ms=15000
        )
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, client_id="linkgraph-wait", enable_auto_commit=False
        )
    except KafkaError as error:
        raise ServiceUnavailable(f"Kafka at {bootstrap} is unavailable: {error}") from None

    def partitions() -> list[Any]:
        numbers = consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, number) for number in sorted(numbers)]

    def end_offsets() -> dict[Any, int]:
        return {tp: int(offset) for tp, offset in consumer.end_offsets(partitions()).items()}

    def committed() -> dict[Any, int]:
        offsets = admin.list_group_offsets(group).get(group, {})
        return {tp: int(meta.offset) for tp, meta in offsets.items() if tp.topic == topic}

    def close() -> None:
        consumer.close()
        admin.close()

    return end_offsets, committed, close


def wait_for_job(
    store: JobStore,
    name: str,
    *,
    timeout: float,
    bootstrap: str,
    topic: str,
    group: str,
    poll: float = 0.5,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Block until job ``name`` is crawled and indexed (see module doc).

    Returns the final job status. Raises :class:`WaitTimeout` after
    ``timeout`` seconds (0 = wait forever).
    """
    deadline = time.monotonic() + timeout if timeout else float("inf")
    store.require(name)

    def check_time(what: str) -> None:
        if time.monotonic() > deadline:
            raise WaitTimeout(f"job {name}: timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)

    while True:
        status = store.status(name)
        if status["state"] != "running" and status["in_flight"] == 0:
            break
        check_time(
            f"the crawl to finish ({status['pages']} pages, {status['queued']} queued, "
            f"{status['in_flight']} in flight)"
        )
    if progress:
        progress(f"job {name}: crawl {status['state']}; waiting for the index to catch up")
    end_offsets, committed, close = _kafka_offsets(bootstrap, topic, group)
    try:
        target = end_offsets()
        while True:
            done = committed()
            behind = sum(max(0, end - done.get(tp, 0)) for tp, end in target.items())
            if behind == 0:
                break
            check_time(f"consumer group {group} to index {behind} more messages")
    finally:
        close()
    return store.status(name)
