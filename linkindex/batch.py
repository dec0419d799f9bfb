"""``linkgraph query-job``: many targets, every report, one file per report.

A scoring service or an analyst with a list of targets wants the same answers
for each of them, as tables it can load at once. :func:`run_query_job` opens the
index once, answers each report for every target in turn and streams the rows
into one file per report, each row led by the ``target`` it answers (the
target's text as given in the targets file):

=====================  ===================================================
``backlinks``          edge records of docs/queries.md#records (plus ``source_authority`` with
                       ``--with-authority``)
``refdomains``         referring domains with counts and authority
``anchors``            anchor texts with link and referring-domain counts
``top_pages``          the target's pages by referring domains
``report``             one row of totals per target (``linkgraph report``)
``report_history``     new and lost links per target and UTC day
``report_tlds``        top-level domains of each target's referring domains
=====================  ===================================================

Files are written under temporary names and renamed into ``DIR`` only when
every report is complete, so a failed run leaves the previous answers as they
were; ``manifest.json`` says what was asked and how many rows each file has.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final

from linkcore.errors import UsageError
from linkindex import features, queries
from linkindex.client import Index
from linkindex.filters import Filters
from linkindex.output import Writer, plain
from linkindex.queries import Result
from linkindex.reports import report
from linkindex.targets import Target

#: The reports a job can write, in the order they are answered.
#: What a job writes unless told otherwise.
DEFAULT_REPORTS: Final = ("backlinks", "refdomains", "anchors", "top_pages", "report")
#: Every report a job can write: ``features`` is the edge features of the
#: target's backlinks (docs/features.md).
REPORTS: Final = (*DEFAULT_REPORTS, "features")
#: File name extension per format.
EXTENSIONS: Final = {"parquet": "parquet", "jsonl": "jsonl", "csv": "csv"}
#: A targets file may hold at most this many targets (and this many bytes).
MAX_TARGETS: Final = 100_000
MAX_TARGETS_BYTES: Final = 16 * 1024 * 1024
#: Rows read per query while a report is streamed (bounds memory per target).
PAGE_ROWS: Final = 50_000

# Scalar fields of `linkgraph report`, flattened into one row per target.
_REPORT_NESTED: Final = ("rel", "kinds", "locations", "location_shares", "lost_reasons")
_REPORT_SKIPPED: Final = ("target", "tlds", "history", "subnets")


@dataclass(frozen=True, slots=True)
class JobTarget:
    """One line of a targets file, parsed."""

    line: int
    target: Target


def read_targets(path: str | os.PathLike[str], scope: str | None = None) -> list[JobTarget]:
    """Targets, one per line (URL or bare domain; ``#`` comments and blank lines skipped).

    Each target's scope is ``scope`` when given, else as for the query commands
    (domain for a bare domain, url for a URL). A repeated target is answered
    once. Raises :class:`UsageError` naming the file and line of a bad target.
    """
    source = Path(path)
    try:
        size = source.stat().st_size
        if size > MAX_TARGETS_BYTES:
            raise UsageError(f"--targets {path}: larger than {MAX_TARGETS_BYTES} bytes")
        text = source.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"--targets {path}: not UTF-8 text") from None
    except OSError as error:
        raise UsageError(f"cannot read --targets {path}: {error.strerror}") from None
    targets: list[JobTarget] = []
    seen: set[tuple[str, str]] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            target = Target.parse(line, scope)
        except UsageError as error:
            raise UsageError(f"--targets {path}, line {number}: {error}") from None
        key = (target.url if target.scope != "domain" else target.domain, target.scope)
        if key in seen:
            continue
        seen.add(key)
        targets.append(JobTarget(number, target))
        if len(targets) > MAX_TARGETS:
            raise UsageError(f"--targets {path}: more than {MAX_TARGETS} targets")
    if not targets:
        raise UsageError(f"--targets {path}: no targets (one URL or domain per line)")
    return targets


def _pages(
    query: Callable[[Index, Target, Filters], Result],
    index: Index,
    target: Target,
    filters: Filters,
) -> Iterator[Result]:
    """Every row of one query, ``PAGE_ROWS`` at a time, by its cursors."""
    wanted = filters.limit
    paged = replace(filters, limit=min(wanted or PAGE_ROWS, PAGE_ROWS), offset=0, cursor=None)
    given = 0
    while True:
        result = query(index, target, paged)
        given += len(result.rows)
        yield result
        if not result.next_cursor or (wanted and given >= wanted):
            return
        left = wanted - given if wanted else PAGE_ROWS
        paged = replace(paged, cursor=result.next_cursor, limit=min(left, PAGE_ROWS))


class _Files:
    """The job's output files: written as hidden partial files, renamed at the end."""

    def __init__(self, directory: Path, fmt: str) -> None:
        self.directory = directory
        self.fmt = fmt
        self._streams: dict[str, IO[bytes]] = {}
        self.writers: dict[str, Writer] = {}

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.{EXTENSIONS[self.fmt]}"

    def write(self, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        writer = self.writers.get(name)
        if writer is None:
            stream = open(self._partial(name), "wb")  # noqa: SIM115 - closed in close()
            self._streams[name] = stream
            writer = self.writers[name] = Writer(self.fmt, stream, ["target", *columns])
        elif writer.columns[1:] != list(columns):
            raise UsageError(f"{name}: the columns changed between targets")
        if rows:
            # Parquet takes its column types from the first rows written.
            writer.write(rows)

    def _partial(self, name: str) -> Path:
        return self.directory / f".{self.path(name).name}.partial"

    def commit(self) -> dict[str, int]:
        counts = {}
        for name, writer in self.writers.items():
            writer.close()
            self._streams[name].close()
            os.replace(self._partial(name), self.path(name))
            counts[name] = writer.count
        return counts

    def discard(self) -> None:
        for writer in self.writers.values():
            writer.abort()
        for name, stream in self._streams.items():
            stream.close()
            with contextlib.suppress(OSError):
                self._partial(name).unlink()


def _report_rows(
    document: dict[str, Any], text: str
) -> tuple[dict[str, Any], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """One ``report`` document as a flat row, its history rows and its TLD rows."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if key in _REPORT_SKIPPED:
            continue
        if key in _REPORT_NESTED:
            flat.update({f"{key}_{name}": count for name, count in value.items()})
        else:
            flat[key] = value
    history = [(text, h["day"], h["new"], h["lost"]) for h in document["history"]]
    tlds = [(text, t["tld"], t["referring_domains"]) for t in document["tlds"]]
    return flat, history, tlds


def run_query_job(
    index: Index,
    targets: Sequence[JobTarget],
    output: str | os.PathLike[str],
    *,
    reports: Sequence[str] = DEFAULT_REPORTS,
    filters: Filters | None = None,
    fmt: str = "parquet",
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Answer ``reports`` for every target into ``output``; returns rows per file.

    ``filters`` apply to every report (as the query commands' flags do); its
    ``limit`` caps the rows per target and report (0: all).
    """
    unknown = [name for name in reports if name not in REPORTS]
    if unknown:
        raise UsageError(f"unknown report {unknown[0]!r} (choose from {', '.join(REPORTS)})")
    if fmt not in EXTENSIONS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(EXTENSIONS)})")
    filters = filters or Filters()
    directory = Path(output)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--output {directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create --output {directory}: {error.strerror}") from None
    files = _Files(directory, fmt)
    started = datetime.now(UTC)
    # The report tables are small (a row per target, a few per day or TLD) and
    # written whole at the end, so that Parquet sees every row's types at once
    # (first_seen is null for a target without backlinks).
    summaries: list[tuple[Any, ...]] = []
    summary_columns: list[str] = []
    history: list[tuple[Any, ...]] = []
    tlds: list[tuple[Any, ...]] = []
    try:
        for name in reports:
            for number, job in enumerate(targets, start=1):
                text = job.target.text
                if name == "report":
                    document = {
                        key: plain(value)
                        for key, value in report(index, job.target, filters).items()
                    }
                    flat, days, domains = _report_rows(document, text)
                    summary_columns = list(flat)
                    summaries.append((text, *flat.values()))
                    history += days
                    tlds += domains
                else:
                    query = (
                        features.backlink_features if name == "features" else getattr(queries, name)
                    )
                    for page in _pages(query, index, job.target, filters):
                        files.write(name, page.columns, [(text, *row) for row in page.rows])
                if progress and (number == len(targets) or number % 100 == 0):
                    progress(f"{name}: {number}/{len(targets)} targets")
        if "report" in reports:
            files.write("report", summary_columns, summaries)
            files.write("report_history", ["day", "new", "lost"], history)
            files.write("report_tlds", ["tld", "referring_domains"], tlds)
        counts = files.commit()
    except BaseException:
        files.discard()
        raise
    manifest = {
        "created_at": started.isoformat().replace("+00:00", "Z"),
        "index": index.location.describe(),
        "format": fmt,
        "targets": [
            {"line": job.line, "target": job.target.text, "scope": job.target.scope}
            for job in targets
        ],
        "filters": {
            key: value
            for key, value in _filters_dict(filters).items()
            if value not in (None, False, 0, [], ())
        },
        "files": {files.path(name).name: count for name, count in counts.items()},
    }
    partial = directory / ".manifest.json.partial"
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, directory / "manifest.json")
    return counts


def _filters_dict(filters: Filters) -> dict[str, Any]:
    values = {name: getattr(filters, name) for name in Filters.__dataclass_fields__}
    values["kind"] = list(values["kind"])
    values["rel"] = list(values["rel"])
    disavow = values.pop("disavow")
    if disavow is not None:
        values["disavow_entries"] = len(disavow.domains) + len(disavow.hosts) + len(disavow.urls)
    return values
