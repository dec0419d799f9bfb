"""Consumer lag per partition, as the ``linkgraph_consumer_lag`` gauge (best effort)."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Final

from linkcore.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)

#: Seconds between two consumer lag measurements.
LAG_INTERVAL: Final = 5.0


class ConsumerLag:
    """Measures the lag of a consumer's assigned partitions every ``LAG_INTERVAL`` seconds."""

    def __init__(self) -> None:
        self._due = 0.0
        self._partitions: set[Any] = set()

    def measure(self, consumer: Any) -> None:
        """Measure the lag of ``consumer``'s partitions, if it is time; never raises."""
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + LAG_INTERVAL
        try:
            assigned = list(consumer.assignment())
            if not assigned:
                return
            ends = consumer.end_offsets(assigned, timeout_ms=2000)
            for tp in assigned:
                position = consumer.position(tp, timeout_ms=1000)
                if position is None or tp not in ends:
                    continue
                CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(ends[tp] - position, 0))
                self._partitions.add(tp)
        except Exception as error:  # lag is best effort; consuming goes on
            log.debug("lag measurement failed: %s", error)

    def forget(self, partitions: set[Any]) -> None:
        """Drop the gauges of partitions the consumer no longer owns."""
        for tp in partitions & self._partitions:
            self._partitions.discard(tp)
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(tp.topic, str(tp.partition))
