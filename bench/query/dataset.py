"""Generating the query benchmark's graph into an index, and the targets chosen on it.

:func:`generate` writes a graph of :mod:`~bench.query.graph`'s shape the way
a crawl's batches are written, merges the tables, refreshes the domain
rollups, and chooses the queries' targets: a :class:`Dataset`, which
``python -m bench.query generate`` records in ``DIR/bench.json``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bench.query.graph import CHUNK_TABLE, PAGES_VIEW, ROWS_VIEW, GraphSql, Shape
from linkindex import rollups
from linkindex.client import Index

__all__ = [
    "CHUNK_EDGES",
    "GENERATOR_VERSION",
    "META_FILE",
    "Dataset",
    "generate",
    "load_dataset",
    "mid_domain",
    "table_rev",
]

#: Edges per INSERT: bounds the memory one chunk takes (~10⁷ rows of strings).
CHUNK_EDGES: Final = 10_000_000
#: The dataset's record, in its data directory.
META_FILE: Final = "bench.json"
_EDGE_COLUMNS: Final = (
    "target_url, source_url, kind, target_host, source_host, source_domain, target_domain, "
    "first_seen, lost_at, lost_reason"
)
# Links per source page on average (the Pareto mean less its cap, and redirect
# pages); only sizes the page range of a chunk, which is cut to the edge count.
_MEAN_OUTLINKS: Final = 19.0
#: Generator version: a dataset made by another version is generated again
#: (4: the compact schema, whose size the benchmark reports; 5: links' location
#: and context, pages' facts, lost reasons; the texts in `edges` alone).
GENERATOR_VERSION: Final = 5


@dataclass(slots=True)
class Dataset:
    """What :func:`generate` made, and the query targets it chose (``bench.json``)."""

    edges: int
    seed: int
    domains: int
    source_pages: int
    #: The most linked domain, and its external backlinks.
    head_domain: str
    head_backlinks: int
    #: A page of the head domain with about edges / 10⁵ external backlinks.
    url_target: str
    url_backlinks: int
    #: A source page with about 50 links, for outlinks.
    source_url: str
    source_outlinks: int
    generate_seconds: float
    optimize_seconds: float
    version: int = GENERATOR_VERSION
    #: Rows per table after generation.
    rows: dict[str, int] = field(default_factory=dict)
    #: The domain whose external backlinks are nearest edges / 100 (a million
    #: at 10⁸ edges), and their number.
    mid_domain: str = ""
    mid_backlinks: int = 0
    #: Refreshing the domain rollups of every domain after the inserts.
    rollup_seconds: float = 0.0
    #: Whether links carry their location and texts, and pages their facts.
    context: bool = True
    #: Bytes on disk of each table's active parts after generation.
    disk: dict[str, int] = field(default_factory=dict)


def _scalar(index: Index, sql: str, params: dict[str, Any] | None = None) -> Any:
    _, rows = index.query(sql, params)
    return rows[0][0]


def generate(
    index: Index,
    edges: int,
    seed: int = 1,
    *,
    chunk_edges: int = CHUNK_EDGES,
    optimize: bool = True,
    context: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Dataset:
    """Write a graph of exactly ``edges`` edges into ``index`` (its database
    must hold no edges yet) and choose the benchmark's query targets.

    ``optimize`` merges every table to one part per partition at the end
    (``OPTIMIZE … FINAL``), the state a long-lived index converges to.
    ``context=False`` leaves out the links' location and texts and the pages'
    facts (:class:`GraphSql`).
    """
    db = index.db
    say = progress or (lambda _: None)
    if _scalar(index, f"SELECT count() FROM {db}.edges"):
        raise ValueError(f"database {db} already holds edges; generate into an empty one")
    shape = Shape.of(edges, seed)
    sql = GraphSql(shape, context=context)
    index.command(f"DROP VIEW IF EXISTS {db}.{ROWS_VIEW}")
    index.command(f"DROP VIEW IF EXISTS {db}.{PAGES_VIEW}")
    index.command(f"DROP TABLE IF EXISTS {db}.{CHUNK_TABLE}")
    index.command(
        f"CREATE TABLE {db}.{CHUNK_TABLE} (s UInt64, j UInt32, sd UInt32, td UInt32, "
        "tp UInt64, kind Enum8('a' = 1, 'canonical' = 2, 'redirect' = 3)) ENGINE = Memory"
    )
    index.command(sql.edge_rows(db))
    index.command(sql.page_rows(db))
    started = time.monotonic()
    done = first_page = source_pages = 0
    while done < edges:
        want = min(chunk_edges, edges - done)
        pages = math.ceil(want / _MEAN_OUTLINKS * 1.1) + 10
        index.command(f"TRUNCATE TABLE {db}.{CHUNK_TABLE}")
        index.command(sql.chunk_insert(db, first_page, pages, want))
        _, rows = index.query(f"SELECT count(), max(s), uniqExact(s) FROM {db}.{CHUNK_TABLE}")
        count, last_page, chunk_pages = (int(v) for v in rows[0])
        if count:
            for table, latest in (("edges", "latest"), ("edges_by_source", "latest_by_source")):
                index.command(
                    f"INSERT INTO {db}.{table} ({_EDGE_COLUMNS}, {table_rev(table)}, latest) "
                    f"SELECT {_EDGE_COLUMNS}, {table_rev(table)}, {latest} FROM {db}.{ROWS_VIEW}"
                )
            index.command(
                f"INSERT INTO {db}.fetches (rev_host, url, fetched_at, status, job) "
                f"SELECT rev_host, url, fetched, status, job FROM {db}.{PAGES_VIEW} "
                "ARRAY JOIN [fromUnixTimestamp64Milli(first_ms, 'UTC'), fetched_at] AS fetched"
            )
            # Named columns: the pages' validators (etag, last_modified) keep their defaults.
            columns = (
                "rev_host, url, host, domain, status, content_type, robots_nofollow, depth, "
                "outlinks, dropped_links, job, fetched_at, robots_noindex, title, lang, words, "
                "internal_links, external_links, ip"
            )
            index.command(
                f"INSERT INTO {db}.pages ({columns}) SELECT {columns} FROM {db}.{PAGES_VIEW}"
            )
        done += count
        source_pages += chunk_pages
        first_page = last_page + 1 if count else first_page + pages
        elapsed = time.monotonic() - started
        say(f"{done:,} of {edges:,} edges ({done / max(elapsed, 1e-9):,.0f} edges/s)")
    index.command(f"DROP VIEW {db}.{ROWS_VIEW}")
    index.command(f"DROP VIEW {db}.{PAGES_VIEW}")
    index.command(f"DROP TABLE {db}.{CHUNK_TABLE}")
    generate_seconds = time.monotonic() - started
    say(f"generated in {generate_seconds:.0f} s")
    started = time.monotonic()
    if optimize:
        for table in ("edges", "edges_by_source", "refdomains", "pages", "fetches"):
            say(f"merging {table} (OPTIMIZE FINAL)")
            index.command(f"OPTIMIZE TABLE {db}.{table} FINAL")
    optimize_seconds = time.monotonic() - started
    if optimize:
        say(f"merged in {optimize_seconds:.0f} s")
    # The domain rollups, as `linkgraph crawl` or the consumer refresh them
    # once written (linkindex/rollups.py).
    say("refreshing the domain rollups")
    started = time.monotonic()
    refreshed = rollups.refresh(index)
    if optimize:
        for table in ("domain_refdomains", "domain_reports", "domain_writes"):
            index.command(f"OPTIMIZE TABLE {db}.{table} FINAL")
    # The refresh and the merge of its tables; choosing the targets is not part of it.
    rollup_seconds = time.monotonic() - started
    say(f"refreshed {refreshed.domains:,} domains in {refreshed.seconds:.0f} s")
    dataset = _choose_targets(index, shape, source_pages, generate_seconds, optimize_seconds)
    dataset.rollup_seconds = round(rollup_seconds, 1)
    dataset.context = context
    _, sizes = index.query(
        "SELECT table, toUInt64(sum(bytes_on_disk)) FROM system.parts "
        "WHERE database = {db:String} AND active GROUP BY table ORDER BY table",
        {"db": db},
    )
    dataset.disk = {str(table): int(size) for table, size in sizes}
    return dataset


def table_rev(table: str) -> str:
    """The reversed-host column of an edge table."""
    return "target_rev_host" if table == "edges" else "source_rev_host"


def _choose_targets(
    index: Index, shape: Shape, source_pages: int, generate_seconds: float, optimize_seconds: float
) -> Dataset:
    db = index.db
    sql = GraphSql(shape)
    head = str(_scalar(index, f"SELECT {sql.domain(str(shape.target_add % shape.domains))}"))
    external = "target_domain = {d:String} AND source_domain != target_domain"
    head_backlinks = int(
        _scalar(index, f"SELECT count() FROM {db}.edges WHERE {external}", {"d": head})
    )
    _, rows = index.query(
        f"""SELECT target_url, count() AS links FROM {db}.edges WHERE {external}
            GROUP BY target_url ORDER BY abs(links - {{want:Int64}}), target_url LIMIT 1""",
        {"d": head, "want": max(5, shape.edges // 100_000)},
    )
    url_target, url_backlinks = str(rows[0][0]), int(rows[0][1])
    _, rows = index.query(
        f"""SELECT url, outlinks FROM {db}.pages WHERE status = 200
            ORDER BY abs(toInt64(outlinks) - 50), url LIMIT 1"""
    )
    source_url, source_outlinks = str(rows[0][0]), int(rows[0][1])
    _, counts = index.query(
        "SELECT table, sum(rows) FROM system.parts WHERE database = {db:String} AND active "
        "GROUP BY table ORDER BY table",
        {"db": db},
    )
    return Dataset(
        edges=shape.edges,
        seed=shape.seed,
        domains=shape.domains,
        source_pages=source_pages,
        head_domain=head,
        head_backlinks=head_backlinks,
        url_target=url_target,
        url_backlinks=url_backlinks,
        source_url=source_url,
        source_outlinks=source_outlinks,
        generate_seconds=round(generate_seconds, 1),
        optimize_seconds=round(optimize_seconds, 1),
        rows={str(table): int(n) for table, n in counts},
        **mid_domain(index, shape.edges),
    )


def mid_domain(index: Index, edges: int) -> dict[str, Any]:
    """``mid_domain`` and ``mid_backlinks`` of :class:`Dataset` (one pass over ``edges``)."""
    _, rows = index.query(
        f"""SELECT target_domain, count() AS links FROM {index.db}.edges
            WHERE source_domain != target_domain GROUP BY target_domain
            ORDER BY abs(links - {{want:Int64}}), target_domain LIMIT 1""",
        {"want": max(1, edges // 100)},
    )
    return {"mid_domain": str(rows[0][0]), "mid_backlinks": int(rows[0][1])}


def load_dataset(data_dir: Path) -> Dataset | None:
    """The dataset recorded in ``DATA_DIR/bench.json``, or None."""
    try:
        raw = json.loads((data_dir / META_FILE).read_text(encoding="utf-8"))
        return Dataset(**raw)
    except (OSError, ValueError, TypeError):
        return None
