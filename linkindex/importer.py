"""``linkgraph import edges FILE``: load edge records exported elsewhere.

Reads the record fields (docs/queries.md#records) from JSON Lines, CSV or
Parquet (by the file's extension, or ``--format``): the stored ones, where a
link sits and the texts around it included. The fields an index derives from
its own pages (``sitewide``, ``target_status``, ``relevance``) and the lost state are not
imported: the index that imports the edges answers them from what it holds.
Every record is checked and its URLs normalized again; hosts, registered
domains and reversed hosts are recomputed by :mod:`linkcore.urls` rather than
trusted. ``first_seen``/``last_seen`` keep their values, and merge with what
the index holds by min/max, so importing the same file twice, or a file that
overlaps the index, changes nothing twice.

A bad record stops the import with its line (or row) number; batches written
before it stay (they are valid, and a re-run after fixing the file is harmless).
Batches go through the index's writer thread (:mod:`linkindex.writing`), one at
a time: an unavailable index is retried for ``CLICKHOUSE_RETRY_SECONDS``, as a
crawl does.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from linkcore import config
from linkcore.errors import LinkgraphError, UsageError
from linkcore.records import KINDS, LOCATIONS, Link
from linkcore.urls import host_of, normalize, registered_domain, reverse_host
from linkindex.client import Index
from linkindex.writer import Batch, write_batch
from linkindex.writing import WriterThread

log = logging.getLogger(__name__)

#: Records per insert.
IMPORT_BATCH = 100_000
_REQUIRED = ("source_url", "target_url", "kind", "first_seen", "last_seen")
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "": False}
#: Characters kept of each text around a link (docs/edges.md#text_before-and-text_after).
_CONTEXT_CHARS = 100


def _records(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number, record) pairs from ``path``."""
    if fmt == "jsonl":
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise UsageError(f"{path}:{number}: not JSON ({error.msg})") from None
                if not isinstance(record, dict):
                    raise UsageError(f"{path}:{number}: not a JSON object")
                yield number, record
    elif fmt == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            # Line 1 is the header.
            for number, row in enumerate(csv.DictReader(handle), start=2):
                yield number, dict(row)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        number = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=IMPORT_BATCH):
            for record in batch.to_pylist():
                number += 1
                yield number, record
    else:
        raise UsageError(f"cannot import format {fmt!r} (jsonl, csv or parquet)")


def _boolean(value: Any, field: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str) and str(value).strip().lower() in _BOOLEANS:
        return _BOOLEANS[str(value).strip().lower()]
    raise UsageError(f"{where}: {field} is not true/false: {value!r}")


def _time(value: Any, field: str, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise UsageError(f"{where}: {field} is not an ISO-8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def import_edges(index: Index, path: str, fmt: str | None = None) -> int:
    """Import the edge records of ``path``; returns how many were written."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"{path} does not exist or is not a file")
    fmt = fmt or {
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "jsonl",
        ".csv": "csv",
        ".parquet": "parquet",
    }.get(file.suffix.lower(), "")
    if not fmt:
        raise UsageError(f"cannot tell the format of {path}: give --format jsonl|csv|parquet")
    with WriterThread(retry_for=config.CLICKHOUSE_RETRY_SECONDS) as writer:
        return _import(index, writer, path, file, fmt)


def _import(index: Index, writer: WriterThread, path: str, file: Path, fmt: str) -> int:
    """Check, normalize and write the records of ``file`` (``path`` as given), batch by batch."""

    def retrying(error: LinkgraphError, delay: float) -> None:
        log.warning("index write failed (%s); retrying the same batch in %.1f s", error, delay)

    written = 0
    batch = Batch.empty(with_last_seen=True)
    for number, record in _records(file, fmt):
        where = f"{path}:{number}"
        missing = [name for name in _REQUIRED if record.get(name) in (None, "")]
        if missing:
            raise UsageError(f"{where}: missing {', '.join(missing)}")
        source = normalize(str(record["source_url"]))
        target = normalize(str(record["target_url"]))
        if source is None or target is None:
            raise UsageError(f"{where}: source_url and target_url must be http(s) URLs")
        kind = str(record["kind"])
        if kind not in KINDS:
            raise UsageError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
        first, last = (
            _time(record["first_seen"], "first_seen", where),
            _time(record["last_seen"], "last_seen", where),
        )
        if first > last:
            raise UsageError(f"{where}: first_seen is after last_seen")
        try:
            link_count = int(record.get("link_count") or 1)
        except (TypeError, ValueError):
            raise UsageError(f"{where}: link_count is not a whole number") from None
        if link_count < 1:
            raise UsageError(f"{where}: link_count must be 1 or more")
        if source == target:
            continue  # not an edge (docs/edges.md)
        location = str(record.get("location") or "other") if kind == "a" else "other"
        if location not in LOCATIONS:
            raise UsageError(
                f"{where}: location must be one of {', '.join(LOCATIONS)}, not {location[:40]!r}"
            )
        source_host = host_of(source)
        link = Link(
            target,
            kind,
            anchor=str(record.get("anchor") or "")[:512] if kind == "a" else "",
            image=_boolean(record.get("image", False), "image", where),
            nofollow=_boolean(record.get("nofollow", False), "nofollow", where),
            ugc=_boolean(record.get("ugc", False), "ugc", where),
            sponsored=_boolean(record.get("sponsored", False), "sponsored", where),
            link_count=link_count,
            location=location,
            text_before=str(record.get("text_before") or "")[:_CONTEXT_CHARS]
            if kind == "a"
            else "",
            text_after=str(record.get("text_after") or "")[:_CONTEXT_CHARS] if kind == "a" else "",
        )
        batch.add_edge(
            source,
            source_host,
            registered_domain(source_host),
            reverse_host(source_host),
            link,
            first,
            last,
        )
        if batch.edges_out >= IMPORT_BATCH:
            writer.write(partial(write_batch, index, batch), retrying)
            written += batch.edges_out
            batch = Batch.empty(with_last_seen=True)
    if batch.edges_out:
        writer.write(partial(write_batch, index, batch), retrying)
        written += batch.edges_out
    return written
