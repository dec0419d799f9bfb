"""Prometheus metrics and structured log lines for long-running services.

Metrics live in prometheus_client's default registry and cost nothing until
:func:`start_metrics_server` serves them (``linkgraph worker`` /
``linkgraph consume`` with a metrics port). Rates are the counters' ``rate()``
in PromQL: pages/s is ``rate(linkgraph_pages_total{stage="indexed"}[1m])``.

=======================================  =========  ===================================
metric                                   type       labels
=======================================  =========  ===================================
``linkgraph_pages_total``                counter    ``stage``: produced, indexed
``linkgraph_links_total``                counter    ``stage``: produced (links in
                                                    records), indexed (edges written)
``linkgraph_errors_total``               counter    ``kind`` (kafka_delivery,
                                                    index_retry, index_fatal, …)
``linkgraph_dlq_messages_total``         counter    ``kind`` (json, version, invalid, …)
``linkgraph_queue_depth``                gauge      ``job``: URLs waiting in the frontier
``linkgraph_consumer_lag``               gauge      ``topic``, ``partition``: end offset
                                                    minus the consumer's position
``linkgraph_batch_insert_seconds``       histogram  time to write one batch to the index
=======================================  =========  ===================================

``LINKGRAPH_LOG_FORMAT=json`` selects :class:`JsonFormatter` in
:func:`log_formatter`: one JSON object per line with ``ts``, ``level``,
``logger``, ``msg`` and any ``extra={…}`` fields of the call.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Final

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from linkcore import config
from linkcore.errors import ConfigError

PAGES: Final = Counter("linkgraph_pages", "Page records handled, by stage.", ["stage"])
LINKS: Final = Counter(
    "linkgraph_links", "Links handled: produced in page records, indexed as edges.", ["stage"]
)
ERRORS: Final = Counter("linkgraph_errors", "Errors, by kind.", ["kind"])
DLQ_MESSAGES: Final = Counter(
    "linkgraph_dlq_messages", "Messages moved to the dead-letter topic, by kind.", ["kind"]
)
QUEUE_DEPTH: Final = Gauge(
    "linkgraph_queue_depth", "URLs waiting in a job's crawl frontier.", ["job"]
)
CONSUMER_LAG: Final = Gauge(
    "linkgraph_consumer_lag",
    "Messages between a partition's end offset and this consumer's position.",
    ["topic", "partition"],
)
BATCH_INSERT_SECONDS: Final = Histogram(
    "linkgraph_batch_insert_seconds",
    "Seconds to write one batch of page records to the index.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def start_metrics_server(port: int, addr: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread.

    Raises :class:`~linkcore.errors.ConfigError` with one line if the port is
    out of range or cannot be bound (most often: taken by another process).
    """
    if not 0 < port < 65536:
        raise ConfigError(f"metrics port {port} is not in 1..65535")
    try:
        start_http_server(port, addr=addr)
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(
            f"cannot serve metrics on {addr}:{port}: {reason} "
            "(is another linkgraph process using that port?)"
        ) from None


# Attributes every LogRecord has; anything else on a record came from extra={...}.
_RECORD_ATTRIBUTES: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, ISO-8601, ms), ``level``, ``logger``,
    ``msg``, the call's ``extra`` fields, and ``exc`` with a traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_formatter(
    text_format: str = "%(asctime)s %(levelname)s %(name)s: %(message)s",
) -> logging.Formatter:
    """:class:`JsonFormatter` when ``LINKGRAPH_LOG_FORMAT=json``, else a text formatter."""
    if config.LOG_FORMAT.resolve() == "json":
        return JsonFormatter()
    return logging.Formatter(text_format)
