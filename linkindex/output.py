"""Writing query results as table, json, jsonl, csv or parquet (docs/queries.md#output-formats).

Timestamps are UTC ISO-8601 strings (``2026-11-21T08:15:02.123Z``) in every
text format and UTC timestamps in Parquet. Booleans are JSON ``true``/``false``
and ``true``/``false`` in CSV. Writers take blocks of rows so that exports of
the whole index stream in bounded memory.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import IO, Any, Final

from linkcore.errors import UsageError
from linkindex.filters import REL_FLAGS
from linkindex.spamsignals import SIGNALS

FORMATS: Final = ("table", "json", "jsonl", "csv", "parquet")
#: Parquet types of record fields that may be null in every row of a block
#: (a page of edges none of whose targets was fetched): every block of one
#: file must give them the same type.
NULLABLE_TYPES: Final = {
    "target_status": "int32",
    "relevance": "float64",
    "lost_reason": "string",
    # Spam scores (null: a domain never scored) and the feature tables' columns.
    "spam_score": "int32",
    "source_spam_score": "int32",
    "source_status": "int32",
    **{
        f"spam_{signal.name}": {"true": "bool_", "listed": "string"}.get(signal.test, "float64")
        for signal in SIGNALS
    },
}
#: Columns of nested values whose members differ in type (a spam signal's
#: value is a number, a flag or a name): Parquet holds them as JSON text.
JSON_COLUMNS: Final = frozenset({"spam_signals"})
#: Rows a table shows when no --limit is given.
TABLE_DEFAULT_LIMIT: Final = 100


def iso(value: datetime) -> str:
    """UTC ISO-8601 with milliseconds and a ``Z``; naive values are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: times as :func:`iso` text, dates as
    ``YYYY-MM-DD``, bytes as UTF-8 text, tuples as lists (recursively)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


def cell(value: Any) -> str:
    value = plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


class Writer:
    """Writes blocks of rows with one header in one format.

    Call :meth:`write` for each block, then :meth:`close`. ``out`` is a binary
    stream (stdout's buffer or a file).
    """

    def __init__(self, fmt: str, out: IO[bytes], columns: Sequence[str]) -> None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
        self.fmt = fmt
        self.out = out
        self.columns = list(columns)
        self.count = 0
        self._text = (
            io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
            if fmt != "parquet"
            else None
        )
        self._csv: Any = None
        self._parquet: Any = None
        self._table_rows: list[list[str]] = []
        if fmt == "csv":
            assert self._text is not None
            self._csv = csv.writer(self._text, lineterminator="\n")
            self._csv.writerow(self.columns)
        elif fmt == "json":
            assert self._text is not None
            self._text.write("[")

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        text = self._text
        if self.fmt == "jsonl":
            assert text is not None
            for row in rows:
                text.write(
                    json.dumps(
                        dict(zip(self.columns, map(plain, row), strict=True)), ensure_ascii=False
                    )
                )
                text.write("\n")
                self.count += 1
        elif self.fmt == "json":
            assert text is not None
            for row in rows:
                text.write(",\n" if self.count else "\n")
                text.write(
                    json.dumps(
                        dict(zip(self.columns, map(plain, row), strict=True)), ensure_ascii=False
                    )
                )
                self.count += 1
        elif self.fmt == "csv":
            for row in rows:
                self._csv.writerow([cell(v) for v in row])
                self.count += 1
        elif self.fmt == "table":
            for row in rows:
                self._table_rows.append([cell(v) for v in row])
                self.count += 1
        else:
            self._write_parquet(rows)

    def _write_parquet(self, rows: Iterable[Sequence[Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        block = [list(r) for r in rows]
        if not block and self._parquet is not None:
            return
        columns: list[list[Any]] = [[row[i] for row in block] for i in range(len(self.columns))]
        arrays = []
        for name, values in zip(self.columns, columns, strict=True):
            if name in JSON_COLUMNS:
                arrays.append(pa.array([json.dumps(plain(v)) for v in values], pa.string()))
            elif name in NULLABLE_TYPES:
                arrays.append(pa.array(values, getattr(pa, NULLABLE_TYPES[name])()))
            elif values and isinstance(values[0], datetime):
                stamped = [v if v.tzinfo else v.replace(tzinfo=UTC) for v in values]
                arrays.append(pa.array(stamped, pa.timestamp("ms", tz="UTC")))
            elif values and isinstance(values[0], tuple):
                arrays.append(pa.array([[plain(x) for x in v] for v in values]))
            else:
                arrays.append(pa.array(values) if values else pa.array([], pa.string()))
        table = pa.table(arrays, names=self.columns)
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.out, table.schema, compression="zstd")
        elif table.schema != self._parquet.schema:
            table = table.cast(self._parquet.schema)
        self._parquet.write_table(table)
        self.count += len(block)

    def close(self) -> None:
        if self.fmt == "json":
            assert self._text is not None
            self._text.write("\n]\n" if self.count else "]\n")
        elif self.fmt == "table":
            self._render_table()
        elif self.fmt == "parquet":
            if self._parquet is None:
                self._write_parquet([])
            self._parquet.close()
        if self._text is not None:
            self._text.flush()
            self._text.detach()
        self.out.flush()

    def abort(self) -> None:
        """Give up on the output: release what :meth:`close` would finish (no footer)."""
        if self._parquet is not None:
            with contextlib.suppress(Exception):
                self._parquet.close()
            self._parquet = None

    def _render_table(self) -> None:
        assert self._text is not None
        width = shutil.get_terminal_size((160, 24)).columns
        rows = self._table_rows
        widths = [len(c) for c in self.columns]
        for row in rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        # Shrink the widest columns until the table fits the terminal.
        cap = max(12, width // max(1, len(self.columns)))
        while sum(widths) + 2 * len(widths) > width and max(widths) > cap:
            widest = widths.index(max(widths))
            widths[widest] = max(cap, widths[widest] - 4)

        def fit(cell: str, size: int) -> str:
            return cell if len(cell) <= size else cell[: max(1, size - 1)] + "…"

        lines = ["  ".join(fit(c, w).ljust(w) for c, w in zip(self.columns, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        for row in rows:
            lines.append("  ".join(fit(c, w).ljust(w) for c, w in zip(row, widths, strict=True)))
        self._text.write("\n".join(line.rstrip() for line in lines) + "\n")


#: Columns a terminal table shows for edge records; the other formats carry all fields.
_EDGE_TABLE = (
    "source_url",
    "target_url",
    "anchor",
    "kind",
    "location",
    "rel",
    "links",
    "first_seen",
    "last_seen",
)


def table_view(
    columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> tuple[list[str], list[list[Any]]]:
    """A narrower view of edge records for a terminal table (other rows pass through).

    The rel flags become one column (``nofollow ugc``, ``img`` for image links,
    ``sitewide``, ``broken:404`` for a target that answered 404, ``lost`` with
    its reason) and sightings are shown to the minute.
    """
    if "spam_signals" in columns:
        # The names of the signals that fired; the other formats carry their values.
        at_signals = list(columns).index("spam_signals")
        return list(columns), [
            [*r[:at_signals], " ".join(s["signal"] for s in r[at_signals]), *r[at_signals + 1 :]]
            for r in rows
        ]
    if "source_url" not in columns or "target_url" not in columns or "kind" not in columns:
        return list(columns), [list(r) for r in rows]
    at = {name: i for i, name in enumerate(columns)}
    view = []
    for row in rows:
        flags = [name for name in REL_FLAGS if row[at[name]]]
        if row[at["image"]]:
            flags.append("img")
        if "sitewide" in at and row[at["sitewide"]]:
            flags.append("sitewide")
        status = row[at["target_status"]] if "target_status" in at else None
        if status is not None and 400 <= status <= 599:
            flags.append(f"broken:{status}")
        if "lost_reason" in at and row[at["lost_reason"]]:
            flags.append(f"lost:{row[at['lost_reason']]}")
        view.append(
            [
                row[at["source_url"]],
                row[at["target_url"]],
                row[at["anchor"]],
                row[at["kind"]],
                row[at["location"]] if "location" in at else "",
                " ".join(flags),
                row[at["link_count"]],
                iso(row[at["first_seen"]])[:16].replace("T", " "),
                iso(row[at["last_seen"]])[:16].replace("T", " "),
            ]
        )
    return list(_EDGE_TABLE), view


def default_format() -> str:
    """``table`` on a terminal, ``jsonl`` when stdout is a pipe or file."""
    return "table" if sys.stdout.isatty() else "jsonl"
