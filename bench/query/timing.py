"""Timing the query path: the benchmark's queries, sent to ``linkgraph serve``, and the table.

Each query is timed warm through the HTTP API (:class:`bench.common.Client`):
a few untimed runs first, then the median and 95th percentile of N runs.
The bytes on disk per edge come from ``system.parts``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bench.common import Client, median, percentile
from bench.query.dataset import Dataset

__all__ = [
    "SLOW_RUNS",
    "SLOW_SECONDS",
    "DiskUse",
    "Query",
    "Timing",
    "disk_use",
    "queries_for",
    "table",
    "time_queries",
]

#: Warm-up time above which a query is timed SLOW_RUNS times only.
SLOW_SECONDS: Final = 1.0
SLOW_RUNS: Final = 7


@dataclass(frozen=True, slots=True)
class Query:
    """One timed request: a label, the endpoint and its parameters, the budget."""

    label: str
    endpoint: str
    params: dict[str, str]
    budget_ms: float | None = None


@dataclass(slots=True)
class Timing:
    """What :func:`time_queries` measured for one :class:`Query`."""

    query: Query
    samples_ms: list[float]
    #: Rows of the last answer (``count``), or None for a document (report).
    rows: int | None

    @property
    def median_ms(self) -> float:
        return median(self.samples_ms)

    @property
    def p95_ms(self) -> float:
        return percentile(self.samples_ms, 0.95)

    @property
    def verdict(self) -> str:
        """``pass`` or ``miss`` against the budget (on the median), or ``""``."""
        if self.query.budget_ms is None:
            return ""
        return "pass" if self.median_ms <= self.query.budget_ms else "miss"


def queries_for(dataset: Dataset, endpoints: set[str]) -> list[Query]:
    """The benchmark's queries on ``dataset``; ``endpoints`` are the API's
    (``report`` is timed where the server has it, else ``summary``)."""
    head, url, mid = dataset.head_domain, dataset.url_target, dataset.mid_domain
    report = "report" if "report" in endpoints else "summary"
    head_is = f"the head domain ({dataset.head_backlinks:,} backlinks)"
    mid_is = f"a domain with {dataset.mid_backlinks:,} backlinks"
    top_100 = {"limit": "100"}
    chosen = [
        Query(
            f"backlinks of one URL ({dataset.url_backlinks:,} backlinks), first 100",
            "backlinks",
            {"target": url, "scope": "url", **top_100},
            20,
        ),
        Query(f"refdomains of {mid_is}, top 100", "refdomains", {"target": mid, **top_100}, 100),
        Query(f"{report} of {mid_is}", report, {"target": mid}, 300),
        Query(f"refdomains of {head_is}, top 100", "refdomains", {"target": head, **top_100}),
        Query(f"{report} of {head_is}", report, {"target": head}),
        Query(f"backlinks of {head_is}, first 100", "backlinks", {"target": head, **top_100}),
        Query(f"anchors of {head_is}, top 100", "anchors", {"target": head, **top_100}),
        Query(
            f"outlinks of one page ({dataset.source_outlinks} links), first 100",
            "outlinks",
            {"target": dataset.source_url, "scope": "url", **top_100},
        ),
    ]
    top = next((name for name in ("top-pages", "top_pages") if name in endpoints), None)
    if top:
        chosen.append(Query(f"top pages of {head_is}, top 100", top, {"target": head, **top_100}))
    if not mid:  # a dataset recorded before mid_domain was
        chosen = [q for q in chosen if q.params.get("target") != mid]
    return chosen


def time_queries(
    client: Client,
    queries: Sequence[Query],
    *,
    runs: int = 30,
    warmup: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Timing]:
    """Time each query ``runs`` times after ``warmup`` untimed runs.

    A sample is one whole request: sending it, the server's query, and
    reading the answer (parsing the JSON is not counted). A query whose
    warm-up took :data:`SLOW_SECONDS` or more is run :data:`SLOW_RUNS` times.
    """
    timings = []
    for query in queries:
        path = f"/api/v1/{query.endpoint}"
        slowest = 0.0
        for _ in range(warmup):
            started = clock()
            client.get(path, query.params)
            slowest = max(slowest, clock() - started)
        samples = []
        answer: Any = None
        # Queries of seconds get fewer runs: enough for a median, in minutes.
        for _ in range(runs if slowest < SLOW_SECONDS else min(runs, SLOW_RUNS)):
            started = clock()
            answer = client.get(path, query.params)
            samples.append((clock() - started) * 1000)
        rows = answer.get("count") if isinstance(answer, dict) else None
        timings.append(Timing(query, samples, None if rows is None else int(rows)))
    return timings


@dataclass(slots=True)
class DiskUse:
    """Bytes on disk of the active parts: the ``edges`` table and the whole database."""

    edges_bytes: int
    total_bytes: int
    tables: dict[str, int]


def disk_use(client: Client, database: str) -> DiskUse:
    rows = client.sql(
        "SELECT table, toUInt64(sum(bytes_on_disk)) AS bytes FROM system.parts "
        f"WHERE database = '{database}' AND active GROUP BY table ORDER BY table"
    )
    tables = {str(row["table"]): int(row["bytes"]) for row in rows}
    return DiskUse(tables.get("edges", 0), sum(tables.values()), tables)


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def table(dataset: Dataset, timings: Sequence[Timing], disk: DiskUse) -> str:
    """The results as a Markdown table (the README's benchmark table)."""
    lines = [
        f"| query, {dataset.edges:,} edges (warm) | runs | median | p95 | target | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for t in timings:
        budget = f"≤ {t.query.budget_ms:.0f} ms" if t.query.budget_ms is not None else ""
        rows = f", {t.rows} rows" if t.rows is not None else ""
        lines.append(
            f"| {t.query.label} (`{t.query.endpoint}`{rows}) | {len(t.samples_ms)} "
            f"| {_ms(t.median_ms)} | {_ms(t.p95_ms)} | {budget} | {t.verdict} |"
        )
    for label, size in (("edges table", disk.edges_bytes), ("whole index", disk.total_bytes)):
        per_edge = size / dataset.edges
        verdict = "pass" if per_edge <= 30 else "miss"
        lines.append(
            f"| bytes on disk per edge, {label} ({size / 2**30:.2f} GiB) | "
            f"| {per_edge:.1f} B | | ≤ 30 B | {verdict} |"
        )
    for label, seconds in (
        ("generating the index: inserts", dataset.generate_seconds),
        ("generating the index: OPTIMIZE FINAL", dataset.optimize_seconds),
        ("generating the index: rollups of every domain", dataset.rollup_seconds),
    ):
        lines.append(f"| {label} | | {seconds / 60:.1f} min | | | |")
    return "\n".join(lines)
