"""``linkgraph ingest warc|wat``: build the index from web archives (docs/ingest.md)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from linkcore import config
from linkcore.errors import UsageError
from linkgraph.cli.options import (
    PROG,
    Parser,
    add_index_options,
    add_verbose,
    index_of,
    positive,
)

if TYPE_CHECKING:
    from crawler.archives import Tally

log = logging.getLogger("linkgraph")


class _Progress:
    """One status line, rewritten once a second on a terminal (as ``crawl``'s):
    records/s, pages, edges, damaged records; otherwise logged every ten seconds."""

    def __init__(self, tally: Tally, enabled: bool) -> None:
        self.tally = tally
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.interval = 1.0 if self.tty else 10.0
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()
            if self.tty:
                sys.stderr.write("\r\x1b[2K")
                sys.stderr.flush()

    def line(self) -> str:
        tally = self.tally
        rate = tally.records / max(time.monotonic() - self.started, 1e-6)
        return (
            f"records {tally.records}  pages {tally.pages}  edges {tally.edges}  "
            f"corrupt {tally.corrupt + tally.truncated}  {rate:.0f} records/s"
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.tty:
                sys.stderr.write("\r\x1b[2K" + self.line())
                sys.stderr.flush()
            else:
                log.info("%s", self.line())


def _check_local(names: list[str], kind: str) -> None:
    """Missing local files fail the command before anything is written."""
    from crawler.archives import ArchiveError

    if names.count("-") > 1:
        raise UsageError(f"{PROG} ingest {kind}: '-' (stdin) can be given once")
    for name in names:
        if name == "-" or name.startswith(("http://", "https://")):
            continue
        if "://" in name:
            raise ArchiveError(f"cannot read {name}: only local paths, - and http(s) URLs are read")
        path = Path(name)
        if not path.exists():
            raise ArchiveError(f"cannot read {name}: No such file or directory")
        if path.is_dir():
            raise ArchiveError(f"cannot read {name}: it is a directory")


def refused_note(sink: Any) -> str:
    """ ", N refused" when Kafka messages could not carry some page records."""
    refused = int(getattr(sink, "refused", 0))
    return f", {refused} refused (not JSON-able)" if refused else ""


def cmd_ingest(args: argparse.Namespace) -> int:
    from crawler.archives import ArchiveError, Tally
    from pipelines.ingest import IndexSink, KafkaSink, Sink, ingest

    kind: str = args.kind
    names: list[str] = list(args.file)
    if args.paths:
        from crawler.archives import read_paths_file

        names.extend(read_paths_file(args.paths))
    if not names:
        raise UsageError(f"{PROG} ingest {kind}: no archives (give FILE… or --paths FILE)")
    _check_local(names, kind)
    tally = Tally()
    errors: list[ArchiveError] = []

    def report(error: ArchiveError) -> None:
        errors.append(error)
        print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)

    started = time.monotonic()
    sink: Sink
    if args.kafka is not None:
        from linkcore import kafka as lgkafka

        settings = lgkafka.resolve_kafka(args.kafka or None, args.topic)
        sink = KafkaSink.connect(settings, "linkgraph-ingest")
        where = f"Kafka {settings.bootstrap}, topic {settings.topic}"
        with _Progress(tally, not args.quiet):
            try:
                ingest(kind, names, sink, tally, job=args.job, on_error=report)
            finally:
                sink.close()
    else:
        from linkindex.client import resolve_location

        where = f"index: {resolve_location(args.data_dir, args.clickhouse).describe()}"
        with index_of(args, create=True) as index, _Progress(tally, not args.quiet):
            sink = IndexSink(index, args.batch_pages)
            try:
                ingest(kind, names, sink, tally, job=args.job, on_error=report)
            finally:
                sink.close()
    elapsed = time.monotonic() - started
    if not args.quiet or args.verbose:
        print(
            f"{PROG}: read {len(names) - len(errors)} of {len(names)} {kind.upper()} files, "
            f"{tally.records} records in {elapsed:.1f} s "
            f"({tally.records / max(elapsed, 1e-9):.0f} records/s); "
            f"{tally.pages} pages ({tally.html} HTML, {tally.redirects} redirects, "
            f"{tally.other} other), {sink.edges_written} edges "
            f"{'sent' if args.kafka is not None else 'stored'}; "
            f"{tally.skipped} records skipped (not HTTP responses), "
            f"{tally.corrupt} corrupt, {tally.truncated} truncated, "
            f"{tally.too_large} too large"
            f"{refused_note(sink)}; {where}",
            file=sys.stderr,
        )
    return 1 if errors else 0


def register(commands: Any) -> None:
    """``linkgraph ingest warc|wat``."""
    ingest = commands.add_parser(
        "ingest",
        help="build the index from WARC or Common Crawl WAT files",
        description="Read web archives and store their pages' links, as a crawl of the same "
        "URLs at the archive's dates would (docs/ingest.md).",
    )
    kinds = ingest.add_subparsers(dest="kind", metavar="KIND", parser_class=Parser)
    kinds.required = True
    warc = kinds.add_parser(
        "warc",
        help="WARC files: every HTTP response record as a fetched page",
        description="Every HTML response record becomes the page a crawl of its URL at its "
        "WARC-Date gives (same extraction and edges); 3xx records give redirect edges.",
    )
    add_ingest_options(warc, "warc")
    wat = kinds.add_parser(
        "wat",
        help="Common Crawl WAT files: the links their metadata records list",
        description="Edges from each WAT record's Links (anchor text and rel; location other): "
        "faster than WARC, with fewer attributes.",
    )
    add_ingest_options(wat, "wat")


def add_ingest_options(parser: argparse.ArgumentParser, kind: str) -> None:
    parser.add_argument(
        "file",
        nargs="*",
        metavar="FILE",
        help=f"{kind.upper()} file (gzip, zstd or plain): a path, - for stdin, or an http(s) URL",
    )
    parser.add_argument(
        "--paths",
        metavar="FILE",
        help="file listing archives, one path or URL per line (Common Crawl's "
        f"{kind}.paths accepted)",
    )
    parser.add_argument("--job", default="", metavar="NAME", help="job name stored with pages")
    parser.add_argument(
        "--batch-pages",
        type=positive,
        default=config.CLICKHOUSE_BATCH_PAGES,
        metavar="N",
        help="pages per index write (default: %(default)s)",
    )
    parser.add_argument(
        "--kafka",
        nargs="?",
        const="",
        metavar="HOST:PORT",
        help="put the pages on the page topic for `linkgraph consume` instead of writing "
        f"the index (env LINKGRAPH_KAFKA; now: {config.KAFKA.now()})",
    )
    parser.add_argument(
        "--topic",
        metavar="NAME",
        help=f"page topic with --kafka (env LINKGRAPH_TOPIC; now: {config.TOPIC.now()})",
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no progress display and no summary"
    )
    add_index_options(parser)
    add_verbose(parser)
    parser.set_defaults(handler=cmd_ingest, kind=kind)
