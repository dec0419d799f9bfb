"""``linkgraph``: the command line (SPEC §7).

Every command validates its input first and reports a bad input as one line
on stderr with a non-zero exit (2 for usage errors, 1 for runtime failures),
never a traceback. ``LINKGRAPH_DEBUG=1`` adds tracebacks for bug reports.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from linkgraph import __version__, defaults
from linkgraph.errors import LinkgraphError, UsageError

log = logging.getLogger("linkgraph")

PROG = "linkgraph"


class _Terminated(BaseException):
    """SIGTERM arrived before a service installed its own graceful handler.

    A BaseException, like KeyboardInterrupt: library code that catches
    ``Exception`` (Kafka error translation, Scrapy's lazy handler loading) must
    not swallow it and carry on as if no signal had come.
    """


def _terminate_early(signum: int, frame: object) -> None:
    raise _Terminated


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``linkgraph crawl: error: …``."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < -1:
        raise argparse.ArgumentTypeError(f"{text!r} must be -1 (no limit) or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0")
    return value


def _port(text: str) -> int:
    value = _nonnegative(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return value


def _positive(text: str) -> int:
    value = _nonnegative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


# -- option groups ---------------------------------------------------------------


def _add_index_options(parser: argparse.ArgumentParser) -> None:
    data_dir = os.environ.get("LINKGRAPH_DATA_DIR") or defaults.LINKGRAPH_DATA_DIR
    clickhouse = os.environ.get("LINKGRAPH_CLICKHOUSE") or ""
    group = parser.add_argument_group("index")
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"embedded index directory (env LINKGRAPH_DATA_DIR; now: {data_dir})",
    )
    group.add_argument(
        "--clickhouse",
        metavar="URL",
        help="ClickHouse server, http://HOST:8123/DB, instead of the embedded index "
        f"(env LINKGRAPH_CLICKHOUSE; now: {clickhouse or 'unset, embedded'})",
    )


def _add_output_options(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    from linkindex.output import TABLE_DEFAULT_LIMIT

    group = parser.add_argument_group("output")
    group.add_argument(
        "--format",
        choices=formats,
        help="output format (default: table on a terminal, else jsonl)",
    )
    group.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write to FILE instead of stdout (written whole, then renamed)",
    )
    group.add_argument(
        "--limit",
        type=_nonnegative,
        metavar="N",
        help=f"at most N records, 0 = all (default: {TABLE_DEFAULT_LIMIT} for table, else all)",
    )
    group.add_argument(
        "--offset", type=_nonnegative, default=0, metavar="N", help="skip the first N records"
    )
    group.add_argument(
        "--cursor", metavar="TOKEN", help="continue after the page that printed this cursor"
    )


def _add_query_options(parser: argparse.ArgumentParser, scoped: bool = True) -> None:
    if scoped:
        parser.add_argument(
            "--scope",
            choices=("url", "host", "domain", "prefix"),
            help="what TARGET matches (default: domain for a bare domain, else url)",
        )
    parser.add_argument(
        "--include-internal",
        action="store_true",
        help="include links between pages of the same registered domain",
    )
    parser.add_argument("--dofollow-only", action="store_true", help="only links without nofollow")
    parser.add_argument(
        "--kind",
        action="append",
        choices=("a", "canonical", "redirect"),
        help="only edges of this kind (repeatable)",
    )
    parser.add_argument(
        "--rel",
        action="append",
        choices=("nofollow", "ugc", "sponsored"),
        help="only links with this rel flag (repeatable: all must hold)",
    )
    parser.add_argument(
        "--anchor", metavar="TEXT", help="only links whose anchor contains TEXT (case-insensitive)"
    )
    parser.add_argument(
        "--from-domain", metavar="DOMAIN", help="only links from this referring (registered) domain"
    )
    for bound, meaning in (
        ("first-seen-from", "first seen on or after"),
        ("first-seen-to", "first seen on or before"),
        ("last-seen-from", "last seen on or after"),
        ("last-seen-to", "last seen on or before"),
    ):
        parser.add_argument(
            f"--{bound}",
            metavar="DATE",
            help=f"only links {meaning} DATE (ISO-8601 date or time, UTC)",
        )
    parser.add_argument(
        "--sort",
        choices=("first_seen", "last_seen", "authority"),
        help="newest first by this sighting, or the strongest referrer first (authority, "
        "from `linkgraph rank`); default: the index's key order",
    )
    parser.add_argument(
        "--with-authority",
        action="store_true",
        help="add the other side's domain authority to edge records (source_authority on "
        "backlinks, target_authority on outlinks)",
    )
    parser.add_argument(
        "--disavow",
        metavar="FILE",
        help="leave out referrers named in a Google disavow file (domain: lines, URLs)",
    )
    parser.add_argument(
        "--one-per-domain",
        action="store_true",
        help="one link per referring domain (dofollow first, then oldest)",
    )
    status = parser.add_mutually_exclusive_group()
    status.add_argument(
        "--live",
        dest="status",
        action="store_const",
        const="live",
        help="only links the source page still carried at its last fetch",
    )
    status.add_argument(
        "--lost",
        dest="status",
        action="store_const",
        const="lost",
        help="only links a later fetch of the source page no longer carried",
    )


# -- helpers ---------------------------------------------------------------------


def _open_index(args: argparse.Namespace, *, create: bool) -> Any:
    from linkindex.client import open_index, resolve_location

    location = resolve_location(args.data_dir, args.clickhouse)
    return open_index(location, create=create)


@contextlib.contextmanager
def _output_stream(path: str | None, fmt: str) -> Iterator[IO[bytes]]:
    """stdout, or a temporary file renamed onto ``path`` only on success."""
    if path is None:
        if fmt == "parquet" and sys.stdout.isatty():
            raise UsageError("parquet is binary: use --output FILE (or redirect stdout)")
        yield sys.stdout.buffer
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--output {path} is a directory")
    temporary = target.with_name(f".{target.name}.partial")
    try:
        stream = open(temporary, "wb")  # noqa: SIM115 - closed below, renamed on success
    except OSError as error:
        raise UsageError(f"cannot write --output {path}: {error.strerror}") from None
    try:
        yield stream
        stream.close()
        os.replace(temporary, target)
    except BaseException:
        stream.close()
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _with_index(
    args: argparse.Namespace, local: Callable[[Any], Any], remote: Callable[[Any], Any]
) -> Any:
    """``local(index)``, or ``remote(server)`` while ``linkgraph serve`` holds the
    embedded index (a :class:`linkindex.api.RunningServer`)."""
    from linkgraph.errors import IndexLocked

    try:
        index = _open_index(args, create=False)
    except IndexLocked:
        from linkindex import api
        from linkindex.client import resolve_location

        data_dir = resolve_location(args.data_dir, args.clickhouse).data_dir
        server = api.running_server(data_dir) if data_dir else None
        if server is None:
            raise
        if getattr(args, "disavow", None):
            raise UsageError(
                f"{PROG}: --disavow cannot be sent to the running `linkgraph serve` (pid "
                f"{server.pid}); stop it to use the file"
            ) from None
        log.info("%s is held by linkgraph serve (pid %s): asking it", data_dir, server.pid)
        return remote(server)
    try:
        return local(index)
    finally:
        index.close()


def _run_query(
    args: argparse.Namespace,
    local: Callable[[Any], Any],
    endpoint: str,
    params: dict[str, Any],
) -> Any:
    """``local(index)``, or, while ``linkgraph serve`` holds the embedded index, its answer."""
    from linkindex import api

    return _with_index(
        args, local, lambda server: api.remote_query(server.url, endpoint, params, server.token)
    )


def _emit(result: Any, args: argparse.Namespace, fmt: str) -> None:
    from linkindex.output import Writer, table_view

    columns, rows = result.columns, result.rows
    if fmt == "table":
        columns, rows = table_view(columns, rows)
    with _output_stream(args.output, fmt) as stream:
        writer = Writer(fmt, stream, columns)
        writer.write(rows)
        writer.close()
    if result.next_cursor:
        print(f"{PROG}: more results: --cursor {result.next_cursor}", file=sys.stderr)


def _format_and_limit(args: argparse.Namespace) -> tuple[str, int]:
    from linkindex.output import TABLE_DEFAULT_LIMIT, default_format

    fmt = args.format or (default_format() if args.output is None else "jsonl")
    limit = args.limit if args.limit is not None else (TABLE_DEFAULT_LIMIT if fmt == "table" else 0)
    return fmt, limit


def _filters(args: argparse.Namespace, limit: int) -> Any:
    from linkindex.queries import Filters

    return Filters(
        include_internal=args.include_internal,
        dofollow_only=args.dofollow_only,
        limit=limit,
        offset=getattr(args, "offset", 0),
        cursor=getattr(args, "cursor", None),
        kinds=tuple(args.kind or ()),
        status=args.status,
        rel=tuple(getattr(args, "rel", None) or ()),
        anchor_contains=getattr(args, "anchor", None),
        referring_domain=getattr(args, "from_domain", None),
        first_seen_from=getattr(args, "first_seen_from", None),
        first_seen_to=getattr(args, "first_seen_to", None),
        last_seen_from=getattr(args, "last_seen_from", None),
        last_seen_to=getattr(args, "last_seen_to", None),
        sort=getattr(args, "sort", None),
        one_per_domain=getattr(args, "one_per_domain", False),
        with_authority=getattr(args, "with_authority", False),
        disavow=_read_disavow(getattr(args, "disavow", None)),
    )


def _read_disavow(path: str | None) -> Any:
    if not path:
        return None
    from linkindex.disavow import read_disavow

    return read_disavow(path)


# -- commands --------------------------------------------------------------------

#: The cyclic garbage collector's thresholds while Scrapy crawls (see _collect_less).
CRAWL_GC_THRESHOLDS = (50_000, 20, 10)


def _collect_less() -> None:
    """Make the cyclic garbage collector cheaper for the rest of a crawling process.

    Everything loaded so far (Scrapy, Twisted, the index client) lives as long
    as the process: frozen, it is no longer walked by every full collection.
    A crawl allocates containers by the hundred thousand per second (Scrapy's
    tasks, requests, page records and their links), nearly all freed by
    reference counting, so the young generation is collected once 50,000 more
    were allocated than freed, not 700. With Python's defaults the collector
    took about a sixth of a crawl's CPU time.
    """
    gc.freeze()
    gc.set_threshold(*CRAWL_GC_THRESHOLDS)


def cmd_crawl(args: argparse.Namespace) -> int:
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from crawler.spiders.outlinks import OutlinksSpider
    from linkgraph.seeds import parse_seeds, read_seeds_file
    from linkindex.client import resolve_location

    seeds = parse_seeds(args.seed) if args.seed else []
    if args.seeds:
        seeds.extend(s for s in read_seeds_file(args.seeds) if s not in seeds)
    if not seeds:
        raise UsageError(f"{PROG} crawl: no seeds: give SEED arguments or --seeds FILE")
    location = resolve_location(args.data_dir, args.clickhouse)
    # Open (and migrate) the index before crawling: a locked or unreachable
    # index is reported now, not after the first batch of pages.
    index = _open_index(args, create=True)

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    overrides: dict[str, Any] = {
        "LINKGRAPH_DATA_DIR": location.data_dir or "",
        "LINKGRAPH_CLICKHOUSE": location.clickhouse_url or "",
        "LINKGRAPH_MAX_PAGES": args.max_pages,
        "LINKGRAPH_MAX_DEPTH": args.max_depth,
        "LINKGRAPH_MAX_PAGES_PER_HOST": args.max_pages_per_host,
        "LINKGRAPH_ALLOW_PRIVATE_NETWORKS": args.allow_private_networks
        or _env_flag("LINKGRAPH_ALLOW_PRIVATE_NETWORKS"),
        "LINKGRAPH_PROGRESS": not args.quiet,
        "CONCURRENT_REQUESTS": args.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.per_host,
        "DOWNLOAD_DELAY": args.delay,
        "AUTOTHROTTLE_START_DELAY": max(args.delay, 0.01),
        "AUTOTHROTTLE_ENABLED": not args.no_autothrottle,
        "DOWNLOAD_TIMEOUT": args.timeout,
        "LOG_LEVEL": "DEBUG" if args.verbose > 1 else "INFO" if args.verbose else "WARNING",
    }
    if args.user_agent:
        overrides["USER_AGENT"] = args.user_agent
    settings.setdict(overrides, priority="cmdline")

    process = CrawlerProcess(settings, install_root_handler=False)
    crawler = process.create_crawler(OutlinksSpider)
    _collect_less()
    started = time.monotonic()
    process.crawl(
        crawler, seed_urls=seeds, max_pages=args.max_pages, max_depth=args.max_depth, job=args.job
    )
    process.start()
    elapsed = time.monotonic() - started
    error = getattr(crawler, "linkgraph_error", None)
    if error is not None:
        raise error
    stats = crawler.stats.get_stats() if crawler.stats else {}
    if "finish_reason" not in stats:
        raise LinkgraphError(f"{PROG} crawl: the crawl could not start (run with -v for details)")
    pages = int(stats.get("linkgraph/pages_written", 0))
    edges = int(stats.get("linkgraph/edges_written", 0))
    errors = int(stats.get("linkgraph/errors", 0))
    refused = int(stats.get("linkgraph/refused_private", 0))
    robots = int(stats.get("robotstxt/forbidden", 0))
    reason = stats.get("finish_reason", "finished")
    index.close()
    if not args.quiet or args.verbose:
        print(
            f"{PROG}: crawled {pages} pages, stored {edges} edges in {elapsed:.1f} s "
            f"({pages / max(elapsed, 1e-9):.1f} pages/s); {errors} fetch errors, "
            f"{robots} blocked by robots.txt, {refused} refused private addresses; "
            f"finish: {reason}; index: {location.describe()}",
            file=sys.stderr,
        )
    if reason not in ("finished", "max_pages"):
        print(f"{PROG}: crawl ended early: {reason}", file=sys.stderr)
        return 1
    if pages == 0 and errors > 0:
        print(
            f"{PROG}: error: no page could be fetched ({errors} fetch errors; check the "
            "seeds, the network or http_proxy; -v shows each error)",
            file=sys.stderr,
        )
        return 1
    return 0


def _scoped_query(name: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from linkindex import api, queries

        target = queries.Target.parse(args.target, args.scope)
        fmt, limit = _format_and_limit(args)
        filters = _filters(args, limit)
        result = _run_query(
            args,
            lambda index: getattr(queries, name)(index, target, filters),
            name,
            api.query_params(target, filters),
        )
        _emit(result, args, fmt)
        return 0

    return run


def cmd_serve(args: argparse.Namespace) -> int:
    from linkindex import api

    token = args.token or os.environ.get("LINKGRAPH_API_TOKEN") or None
    index = _open_index(args, create=False)

    def ready(server: Any) -> None:
        print(
            f"{PROG}: serving {server.url}/ (API: {server.url}/openapi.json) over "
            f"{index.location.describe()}; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )

    try:
        api.serve(index, args.host, args.port, token=token, on_ready=ready)
    finally:
        index.close()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import json

    from linkindex import api, queries
    from linkindex.output import _plain
    from linkindex.reports import report

    target = queries.Target.parse(args.target, args.scope)
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    filters = _filters(args, 0)

    def remote(server: Any) -> dict[str, Any]:
        pairs = api.query_pairs(
            api.query_params(target, filters), api.ENDPOINTS["report"].param_names
        )
        return api.remote_document(server.url, "report", pairs, server.token)

    summary = _with_index(args, lambda index: report(index, target, filters), remote)
    plain = {key: _plain(value) for key, value in summary.items()}
    if fmt == "json":
        text = json.dumps(plain, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "jsonl":
        text = json.dumps(plain, ensure_ascii=False) + "\n"
    else:
        lines = [f"{target.text} ({target.scope})"]
        for key, value in plain.items():
            if key in ("target", "scope", "tlds", "history"):
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{name} {count}" for name, count in value.items())
            lines.append(f"  {key:<28} {value}")
        lines.append("  top-level domains of referring domains:")
        lines += [f"    .{t['tld']:<12} {t['referring_domains']}" for t in plain["tlds"]]
        lines.append("  new and lost links per day:")
        lines += [f"    {h['day']}  +{h['new']:<6} -{h['lost']}" for h in plain["history"]]
        text = "\n".join(lines) + "\n"
    with _output_stream(args.output, fmt) as stream:
        stream.write(text.encode("utf-8"))
    return 0


def cmd_disavow(args: argparse.Namespace) -> int:
    from linkindex import queries
    from linkindex.disavow import propose, render

    target = queries.Target.parse(args.target, args.scope)
    index = _open_index(args, create=False)
    try:
        proposal = propose(
            index,
            target,
            min_outlinks=args.min_outlinks,
            sitewide_pages=args.sitewide,
            no_authority=not args.keep_unranked,
        )
    finally:
        index.close()
    with _output_stream(args.output, "text") as stream:
        stream.write(render(proposal, target).encode("utf-8"))
    print(
        f"{PROG}: {len(proposal.domains)} referring domains proposed for disavowal", file=sys.stderr
    )
    return 0


def cmd_intersect(args: argparse.Namespace) -> int:
    from linkindex import queries

    linking = [queries.Target.parse(text, "domain") for text in args.domain]
    excluded = [queries.Target.parse(text, "domain") for text in args.exclude or ()]
    fmt, limit = _format_and_limit(args)
    filters = _filters(args, limit)
    params = {
        "domain": [t.domain for t in linking],
        "not": [t.domain for t in excluded],
        "limit": filters.limit,
        "offset": filters.offset,
        "cursor": filters.cursor,
    }
    result = _run_query(
        args,
        lambda index: queries.intersect(index, linking, excluded, filters),
        "intersect",
        params,
    )
    _emit(result, args, fmt)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from linkindex import queries
    from linkindex.output import Writer

    fmt = args.format or "jsonl"
    if fmt == "table":
        raise UsageError(f"{PROG} export: --format must be jsonl, csv or parquet")
    index = _open_index(args, create=False)
    try:
        blocks = queries.export(index, args.what, include_internal=not args.external_only)
        with _output_stream(args.output, fmt) as stream:
            writer: Writer | None = None
            for columns, block in blocks:
                if writer is None:
                    writer = Writer(fmt, stream, columns)
                writer.write(block)
            if writer is None:
                writer = Writer(fmt, stream, queries.export_columns(args.what))
            writer.close()
    finally:
        index.close()
    if args.output:
        print(
            f"{PROG}: exported {writer.count} {args.what} records to {args.output}", file=sys.stderr
        )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from linkindex.importer import import_edges

    index = _open_index(args, create=True)
    try:
        count = import_edges(index, args.file, args.format)
    finally:
        index.close()
    print(f"{PROG}: imported {count} edges from {args.file}", file=sys.stderr)
    return 0


def cmd_query_job(args: argparse.Namespace) -> int:
    from linkindex.batch import REPORTS, read_targets, run_query_job

    reports = [name.strip().replace("-", "_") for name in args.reports.split(",") if name.strip()]
    unknown = [name for name in reports if name not in REPORTS]
    if unknown or not reports:
        raise UsageError(
            f"{PROG} query-job: --reports takes a comma-separated list of "
            f"{', '.join(REPORTS)} (got {args.reports!r})"
        )
    targets = read_targets(args.targets, args.scope)
    filters = _filters(args, args.limit)
    index = _open_index(args, create=False)
    started = time.monotonic()
    try:
        counts = run_query_job(
            index,
            targets,
            args.output,
            reports=reports,
            filters=filters,
            fmt=args.format,
            progress=None if args.quiet else (lambda line: log.info("query-job: %s", line)),
        )
    finally:
        index.close()
    if not args.quiet:
        files = ", ".join(f"{name} {count}" for name, count in counts.items())
        print(
            f"{PROG}: answered {len(targets)} targets in {time.monotonic() - started:.1f} s "
            f"into {args.output} (rows: {files})",
            file=sys.stderr,
        )
    return 0


def cmd_rollup(args: argparse.Namespace) -> int:
    from linkindex import rollups

    index = _open_index(args, create=False)
    try:
        done = rollups.refresh(index, all_domains=args.all, settle_seconds=args.settle)
    finally:
        index.close()
    print(
        f"{PROG}: refreshed the rollups of {done.domains} domains in {done.seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    import json

    from linkindex.rank import compute_ranks

    index = _open_index(args, create=False)
    try:
        summary = compute_ranks(
            index,
            damping=args.damping,
            tol=args.tolerance,
            max_iter=args.max_iterations,
            harmonic=not args.no_harmonic,
            harmonic_sources=args.harmonic_sources,
            seed=args.seed,
        )
    finally:
        index.close()
    seconds = ", ".join(f"{phase} {value:.2f} s" for phase, value in summary.seconds.items())
    if args.format == "json":
        print(
            json.dumps(
                {
                    "run_id": summary.run_id,
                    "computed_at": summary.computed_at.isoformat().replace("+00:00", "Z"),
                    "domains": summary.domains,
                    "edges": summary.edges,
                    "iterations": summary.iterations,
                    "converged": summary.converged,
                    "residual": summary.residual,
                    "harmonic_sources": summary.harmonic_sources,
                    "harmonic_exact": summary.harmonic_exact,
                    "seconds": {k: round(v, 3) for k, v in summary.seconds.items()},
                }
            )
        )
    if not args.quiet:
        harmonic = (
            "harmonic centrality skipped"
            if args.no_harmonic
            else f"harmonic centrality from {summary.harmonic_sources} domains "
            f"({'exact' if summary.harmonic_exact else 'sampled estimate'})"
        )
        print(
            f"{PROG}: ranked {summary.domains} domains over {summary.edges} dofollow domain "
            f"links: PageRank {'converged' if summary.converged else 'did NOT converge'} in "
            f"{summary.iterations} iterations (L1 change {summary.residual:.2g}), {harmonic}; "
            f"{seconds}; scores in {index.db}.domain_rank, run {summary.run_id}",
            file=sys.stderr,
        )
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from linkindex import queries

    fmt, _ = _format_and_limit(args)
    from linkgraph.errors import IndexError_

    try:
        result = _run_query(
            args,
            lambda index: queries.sql(index, args.statement, write=args.write),
            "sql",
            {"sql": args.statement, "write": args.write},
        )
    except IndexError_ as error:
        if "READONLY" in str(error):
            raise UsageError(
                f"{PROG} sql: the statement would change the index; add --write to allow that"
            ) from None
        raise
    _emit(result, args, fmt)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from linkindex import queries

    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    result = _run_query(args, queries.stats, "stats", {})
    if fmt == "table":
        with _output_stream(args.output, fmt) as stream:
            row = result.rows[0]
            width = max(len(c) for c in result.columns)
            from linkindex.output import cell

            text = "".join(
                f"{c.ljust(width)}  {cell(v)}\n" for c, v in zip(result.columns, row, strict=True)
            )
            stream.write(text.encode())
        return 0
    args.cursor = None
    _emit(result, args, fmt)
    return 0


def _add_redis_options(parser: argparse.ArgumentParser) -> None:
    url = os.environ.get("LINKGRAPH_REDIS") or defaults.REDIS_URL
    group = parser.add_argument_group("redis")
    group.add_argument(
        "--redis", metavar="URL", help=f"Redis URL (env LINKGRAPH_REDIS; now: {url})"
    )
    group.add_argument(
        "--redis-prefix",
        metavar="PREFIX",
        help="key prefix, to share one Redis (env LINKGRAPH_REDIS_PREFIX; default: lg:)",
    )


def _add_kafka_options(parser: argparse.ArgumentParser) -> None:
    bootstrap = os.environ.get("LINKGRAPH_KAFKA") or defaults.KAFKA_BOOTSTRAP
    topic = os.environ.get("LINKGRAPH_TOPIC") or defaults.KAFKA_TOPIC
    group = parser.add_argument_group("kafka")
    group.add_argument(
        "--kafka",
        metavar="HOST:PORT",
        help=f"Kafka bootstrap servers (env LINKGRAPH_KAFKA; now: {bootstrap})",
    )
    group.add_argument(
        "--topic", metavar="NAME", help=f"topic of page records (env LINKGRAPH_TOPIC; now: {topic})"
    )


def _kafka_settings(args: argparse.Namespace) -> tuple[str, str]:
    bootstrap = args.kafka or os.environ.get("LINKGRAPH_KAFKA") or defaults.KAFKA_BOOTSTRAP
    topic = args.topic or os.environ.get("LINKGRAPH_TOPIC") or defaults.KAFKA_TOPIC
    return bootstrap, topic


def _job_store(args: argparse.Namespace) -> Any:
    from crawler.frontier.connection import connect
    from crawler.frontier.jobs import JobStore
    from crawler.frontier.keys import Keys

    return JobStore(connect(args.redis), Keys.from_env(args.redis_prefix))


def cmd_job_start(args: argparse.Namespace) -> int:
    from linkgraph.seeds import parse_seeds, read_seeds_file

    seeds = read_seeds_file(args.seeds) if args.seeds else []
    seeds.extend(s for s in parse_seeds(args.seed) if s not in seeds)
    if not seeds:
        raise UsageError(f"{PROG} job start: no seeds: give --seeds FILE or SEED arguments")
    job = _job_store(args).start(
        args.name,
        seeds,
        max_pages=args.max_pages,
        max_depth=args.max_depth,
        max_pages_per_host=args.max_pages_per_host,
        rate=args.rate,
        bloom_capacity=args.expected_urls,
    )
    print(
        f"{PROG}: job {job.name} started: {len(seeds)} seeds, scope "
        f"{', '.join(job.scope)}; workers pick it up now",
        file=sys.stderr,
    )
    return 0


def _print_status(status: dict[str, Any], fmt: str) -> None:
    import json

    if fmt == "json":
        print(json.dumps(status))
        return
    for key, value in status.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{key:<17} {shown}")


def cmd_job_status(args: argparse.Namespace) -> int:
    _print_status(_job_store(args).status(args.name), args.format or "table")
    return 0


def cmd_job_stop(args: argparse.Namespace) -> int:
    job = _job_store(args).stop(args.name)
    print(f"{PROG}: job {job.name} {job.state}", file=sys.stderr)
    return 0


def cmd_job_list(args: argparse.Namespace) -> int:
    import json

    store = _job_store(args)
    rows = [store.status(name) for name in store.names()]
    if (args.format or "table") == "json":
        print(json.dumps(rows))
        return 0
    print(f"{'job':<24} {'state':<9} {'pages':>8} {'queued':>8} {'in flight':>9} {'errors':>7}")
    for row in rows:
        print(
            f"{row['job']:<24} {row['state']:<9} {row['pages']:>8} {row['queued']:>8} "
            f"{row['in_flight']:>9} {row['errors']:>7}"
        )
    return 0


def cmd_job_wait(args: argparse.Namespace) -> int:
    from linkgraph.jobwait import wait_for_job

    bootstrap, topic = _kafka_settings(args)
    status = wait_for_job(
        _job_store(args),
        args.name,
        timeout=args.timeout,
        bootstrap=bootstrap,
        topic=topic,
        group=args.group,
        progress=None if args.quiet else (lambda line: print(f"{PROG}: {line}", file=sys.stderr)),
    )
    if not args.quiet:
        print(
            f"{PROG}: job {args.name} {status['state']}: {status['pages']} pages, "
            f"{status['links']} links, all in the index",
            file=sys.stderr,
        )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from scrapy.core.engine import ExecutionEngine
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings
    from scrapy.utils.ossignal import install_shutdown_handlers

    from crawler.frontier.connection import connect, redis_url
    from crawler.spiders.worker import WorkerSpider
    from linkgraph import kafka as lgkafka
    from linkgraph.metrics import start_metrics_server

    bootstrap, topic = _kafka_settings(args)
    # Fail now, in one line, if Redis or Kafka does not answer (and create the
    # topic on first use), rather than inside Scrapy's start-up.
    connect(args.redis)
    lgkafka.ensure_topic(lgkafka.resolve_kafka(bootstrap, topic))
    if args.metrics_port:
        start_metrics_server(args.metrics_port)
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    middlewares = dict(settings.getdict("DOWNLOADER_MIDDLEWARES"))
    middlewares["crawler.frontier.ratelimit.RateLimitMiddleware"] = 770
    settings.setdict(
        {
            "SCHEDULER": "crawler.frontier.queue.JobsScheduler",
            "SCHEDULER_QUEUE_CLASS": "crawler.frontier.queue.JobsQueue",
            "DUPEFILTER_CLASS": "crawler.frontier.bloom.BloomDupeFilter",
            "SCHEDULER_PERSIST": True,
            "REDIS_URL": redis_url(args.redis),
            "LINKGRAPH_REDIS_PREFIX": args.redis_prefix or "",
            "LINKGRAPH_DISTRIBUTED": True,
            "LINKGRAPH_KAFKA": bootstrap,
            "LINKGRAPH_TOPIC": topic,
            "LINKGRAPH_LEASE_SECONDS": args.lease,
            "LINKGRAPH_METRICS_PORT": args.metrics_port,
            "ITEM_PIPELINES": {"pipelines.kafka.KafkaPipeline": 300},
            "DOWNLOADER_MIDDLEWARES": middlewares,
            # Politeness is the cluster-wide rate limiter's job in distributed mode.
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.per_host,
            "DOWNLOAD_TIMEOUT": args.timeout,
            "LINKGRAPH_ALLOW_PRIVATE_NETWORKS": args.allow_private_networks
            or _env_flag("LINKGRAPH_ALLOW_PRIVATE_NETWORKS"),
            "LOG_LEVEL": "DEBUG" if args.verbose > 1 else "INFO" if args.verbose else "WARNING",
        },
        priority="cmdline",
    )
    # Work arrives in Redis, not through this process: look for it twice a
    # second instead of the engine's default five.
    ExecutionEngine._SLOT_HEARTBEAT_INTERVAL = 0.5
    process = CrawlerProcess(settings, install_root_handler=False)
    crawler = process.create_crawler(WorkerSpider)
    _collect_less()
    process.crawl(crawler)
    # Scrapy installs its graceful SIGTERM handler only once the reactor has
    # started, and the crawl already runs before that (downloads, handler
    # loading). A SIGTERM in between must reach the same graceful stop, not
    # the start-up handler: install Scrapy's own now.
    install_shutdown_handlers(process._signal_shutdown)
    log.warning(
        "worker started: Redis %s, Kafka %s, topic %s", redis_url(args.redis), bootstrap, topic
    )
    process.start()
    error = getattr(crawler, "linkgraph_error", None)
    if error is not None:
        raise error
    return 0


def cmd_consume(args: argparse.Namespace) -> int:
    from consumers.service import ConsumerConfig, run_consumer
    from linkindex.client import resolve_location

    bootstrap, topic = _kafka_settings(args)
    config = ConsumerConfig(
        bootstrap=bootstrap,
        topic=topic,
        group_id=args.group,
        index=resolve_location(args.data_dir, args.clickhouse),
        batch_pages=args.batch_pages,
        batch_seconds=args.batch_seconds,
        dlq_topic=args.dlq_topic or f"{topic}.dlq",
        metrics_port=args.metrics_port or None,
    )
    status: int = run_consumer(config)
    return status


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS keeps a subcommand's default from resetting a top-level -v.
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more log output (repeat for debug)",
    )


# -- parser ----------------------------------------------------------------------


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="A backlink index: crawl sites, store every link, ask who links to X.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeat for debug)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    crawl = commands.add_parser(
        "crawl",
        help="crawl seed domains into the embedded index (one process)",
        description="Crawl the registered domains of the seeds, obeying robots.txt, and store "
        "every link in the index. Links to other domains are recorded, not fetched.",
    )
    crawl.add_argument(
        "seed", nargs="*", metavar="SEED", help="a URL, or a bare domain meaning http://DOMAIN/"
    )
    crawl.add_argument(
        "--seeds",
        metavar="FILE",
        help="file with one seed per line (# comments, blank lines ignored)",
    )
    crawl.add_argument(
        "--max-pages",
        type=_nonnegative,
        default=defaults.LINKGRAPH_MAX_PAGES,
        metavar="N",
        help="stop after N pages, 0 = no limit (default: %(default)s)",
    )
    crawl.add_argument(
        "--max-depth",
        type=_depth,
        default=defaults.LINKGRAPH_MAX_DEPTH,
        metavar="D",
        help="follow links at most D hops from a seed, -1 = no limit (default: %(default)s)",
    )
    crawl.add_argument(
        "--max-pages-per-host",
        type=_nonnegative,
        default=defaults.LINKGRAPH_MAX_PAGES_PER_HOST,
        metavar="N",
        help="fetch at most N pages from one host, a bound on spider traps; 0 = no limit "
        "(default: %(default)s)",
    )
    crawl.add_argument(
        "--delay",
        type=_seconds,
        default=defaults.LINKGRAPH_DOWNLOAD_DELAY,
        metavar="S",
        help="seconds between requests to one host (default: %(default)s)",
    )
    crawl.add_argument(
        "--per-host",
        type=_positive,
        default=defaults.LINKGRAPH_CONCURRENCY_PER_HOST,
        metavar="N",
        help="concurrent requests per host (default: %(default)s)",
    )
    crawl.add_argument(
        "--concurrency",
        type=_positive,
        default=defaults.LINKGRAPH_CONCURRENCY,
        metavar="N",
        help="concurrent requests in all (default: %(default)s)",
    )
    crawl.add_argument(
        "--no-autothrottle",
        action="store_true",
        help="keep --delay fixed instead of adapting it to server latency",
    )
    crawl.add_argument(
        "--timeout",
        type=_seconds,
        default=defaults.LINKGRAPH_DOWNLOAD_TIMEOUT,
        metavar="S",
        help="seconds before a request is abandoned (default: %(default)s)",
    )
    crawl.add_argument(
        "--user-agent",
        metavar="UA",
        help="User-Agent header (robots.txt is matched on 'linkgraph' anyway)",
    )
    crawl.add_argument(
        "--allow-private-networks",
        action="store_true",
        help="allow loopback/private/link-local targets (env "
        f"LINKGRAPH_ALLOW_PRIVATE_NETWORKS; now: "
        f"{'on' if _env_flag('LINKGRAPH_ALLOW_PRIVATE_NETWORKS') else 'off'})",
    )
    crawl.add_argument("--job", default="", metavar="NAME", help="job name stored with pages")
    crawl.add_argument(
        "--quiet", "-q", action="store_true", help="no progress display and no summary"
    )
    _add_index_options(crawl)
    crawl.set_defaults(handler=cmd_crawl)
    _add_verbose(crawl)

    job = commands.add_parser(
        "job",
        help="distributed crawl jobs, kept in Redis",
        description="Start, watch, stop and await distributed crawl "
        "jobs. Workers (`linkgraph worker`) do the crawling.",
    )
    job_commands = job.add_subparsers(dest="job_command", metavar="ACTION", parser_class=Parser)
    job_commands.required = True
    start = job_commands.add_parser("start", help="start a job")
    start.add_argument("name", metavar="NAME")
    start.add_argument("seed", nargs="*", metavar="SEED")
    start.add_argument("--seeds", metavar="FILE", help="file with one seed per line")
    start.add_argument(
        "--max-pages",
        type=_nonnegative,
        default=0,
        metavar="N",
        help="stop after N pages, 0 = no limit (default: %(default)s)",
    )
    start.add_argument(
        "--max-depth",
        type=_depth,
        default=-1,
        metavar="D",
        help="at most D hops from a seed, -1 = no limit (default: %(default)s)",
    )
    start.add_argument(
        "--max-pages-per-host",
        type=_nonnegative,
        default=defaults.LINKGRAPH_MAX_PAGES_PER_HOST,
        metavar="N",
        help="fetch at most N pages from one host, all workers together; 0 = no limit "
        "(default: %(default)s)",
    )
    start.add_argument(
        "--rate",
        type=float,
        default=1.0,
        metavar="R",
        help="requests per second per host, all workers together (default: %(default)s)",
    )
    start.add_argument(
        "--expected-urls",
        type=_positive,
        default=1_000_000,
        metavar="N",
        help="URLs the job's Bloom filter is sized for, at 0.1%% false "
        "positives (default: %(default)s)",
    )
    start.set_defaults(handler=cmd_job_start)
    for action, helptext, handler in (
        ("status", "state, pages, queued, in flight, links, errors, pages/s", cmd_job_status),
        ("stop", "stop a job (its queue is dropped)", cmd_job_stop),
        ("wait", "block until the job is crawled and every page is in the index", cmd_job_wait),
    ):
        sub = job_commands.add_parser(action, help=helptext)
        sub.add_argument("name", metavar="NAME")
        sub.set_defaults(handler=handler)
        if action == "status":
            sub.add_argument("--format", choices=("table", "json"))
        if action == "wait":
            sub.add_argument(
                "--timeout",
                type=_seconds,
                default=0,
                metavar="S",
                help="give up after S seconds with exit status 3, 0 = never (default: %(default)s)",
            )
            sub.add_argument(
                "--group",
                default="linkgraph-index",
                help="consumer group that writes the index (default: %(default)s)",
            )
            sub.add_argument("--quiet", "-q", action="store_true")
            _add_kafka_options(sub)
    listing = job_commands.add_parser("list", help="every job with its state")
    listing.add_argument("--format", choices=("table", "json"))
    listing.set_defaults(handler=cmd_job_list)
    for sub in job_commands.choices.values():
        _add_redis_options(sub)
        _add_verbose(sub)

    worker = commands.add_parser(
        "worker",
        help="a crawl node: Redis frontier in, Kafka out (run any number)",
        description="Crawl every running job's frontier from Redis and send each page's "
        "links to Kafka. Stops cleanly on SIGTERM: pages in flight are finished "
        "and produced, unfinished requests go back to the frontier.",
    )
    worker.add_argument(
        "--concurrency",
        type=_positive,
        default=defaults.LINKGRAPH_CONCURRENCY,
        metavar="N",
        help="requests in flight (default: %(default)s)",
    )
    worker.add_argument(
        "--per-host",
        type=_positive,
        default=defaults.LINKGRAPH_CONCURRENCY_PER_HOST,
        metavar="N",
        help="requests in flight per host (default: %(default)s)",
    )
    worker.add_argument(
        "--timeout",
        type=_seconds,
        default=defaults.LINKGRAPH_DOWNLOAD_TIMEOUT,
        metavar="S",
        help="seconds before a request is abandoned (default: %(default)s)",
    )
    worker.add_argument(
        "--lease",
        type=_seconds,
        default=120.0,
        metavar="S",
        help="seconds before a request taken by a silent worker is handed "
        "out again (default: %(default)s)",
    )
    worker.add_argument(
        "--metrics-port",
        type=_nonnegative,
        default=0,
        metavar="PORT",
        help="serve Prometheus metrics on PORT, 0 = off (default: %(default)s)",
    )
    worker.add_argument(
        "--allow-private-networks",
        action="store_true",
        help="allow loopback/private/link-local targets",
    )
    _add_redis_options(worker)
    _add_kafka_options(worker)
    _add_verbose(worker)
    worker.set_defaults(handler=cmd_worker)

    consume = commands.add_parser(
        "consume",
        help="a Kafka consumer writing page records to the index (run any number)",
        description="Join the consumer group, write every page's edges to the index, commit "
        "offsets only after the index accepted them. Malformed messages go to "
        "the dead-letter topic. With the embedded index only one consumer can "
        "run (one process per data directory); use --clickhouse for several.",
    )
    consume.add_argument(
        "--group", default="linkgraph-index", help="consumer group id (default: %(default)s)"
    )
    consume.add_argument(
        "--dlq-topic", metavar="NAME", help="dead-letter topic (default: TOPIC.dlq)"
    )
    consume.add_argument(
        "--batch-pages",
        type=_positive,
        default=defaults.CLICKHOUSE_BATCH_PAGES,
        metavar="N",
        help="pages per index insert (default: %(default)s)",
    )
    consume.add_argument(
        "--batch-seconds",
        type=_seconds,
        default=defaults.CLICKHOUSE_BATCH_SECONDS,
        metavar="S",
        help="longest a page waits for its batch (default: %(default)s)",
    )
    consume.add_argument(
        "--metrics-port",
        type=_nonnegative,
        default=0,
        metavar="PORT",
        help="serve Prometheus metrics on PORT, 0 = off (default: %(default)s)",
    )
    _add_kafka_options(consume)
    _add_index_options(consume)
    _add_verbose(consume)
    consume.set_defaults(handler=cmd_consume)

    query_help = {
        "backlinks": (
            "who links to TARGET: one record per edge",
            "One record per edge whose target matches TARGET (SPEC §4).",
        ),
        "refdomains": (
            "referring domains of TARGET with link counts",
            "Referring domains of TARGET: links, dofollow links, first/last seen.",
        ),
        "anchors": (
            "anchor texts of links to TARGET",
            "Anchor text distribution of links to TARGET with referring-domain counts.",
        ),
        "top_pages": (
            "the target's pages ranked by referring domains",
            "The pages of TARGET (a domain, host or prefix) ranked by referring domains.",
        ),
        "outlinks": (
            "links out of SOURCE (a URL, host or domain)",
            "One record per edge whose source matches SOURCE.",
        ),
    }
    for name, (short, long) in query_help.items():
        sub = commands.add_parser(name.replace("_", "-"), help=short, description=long)
        sub.add_argument(
            "target",
            metavar="SOURCE" if name == "outlinks" else "TARGET",
            help="a URL, or a bare domain/host",
        )
        _add_query_options(sub)
        _add_output_options(sub, ("table", "json", "jsonl", "csv", "parquet"))
        _add_index_options(sub)
        sub.set_defaults(handler=_scoped_query(name))
        _add_verbose(sub)

    disavow = commands.add_parser(
        "disavow",
        help="write a disavow file for TARGET from explicit spam signals",
        description="Propose a Google disavow file: referring domains caught by link-farm pages "
        "(huge outlink counts), sitewide links, or no authority, each signal written as a "
        "comment above the domains it caught. Review before use.",
    )
    disavow.add_argument("target", metavar="TARGET")
    disavow.add_argument("--scope", choices=("url", "host", "domain", "prefix"))
    disavow.add_argument(
        "--min-outlinks",
        type=_positive,
        default=500,
        metavar="N",
        help="link farm: a referring page with N+ outlinks (default: %(default)s)",
    )
    disavow.add_argument(
        "--sitewide",
        type=_positive,
        default=50,
        metavar="N",
        help="sitewide: N+ pages of one domain link to the target (default: %(default)s)",
    )
    disavow.add_argument(
        "--keep-unranked", action="store_true", help="do not propose domains with authority 0"
    )
    disavow.add_argument("--output", "-o", metavar="FILE")
    _add_index_options(disavow)
    _add_verbose(disavow)
    disavow.set_defaults(handler=cmd_disavow)

    intersect = commands.add_parser(
        "intersect",
        help="referring domains that link to every DOMAIN but to none of --not",
        description="Link intersect: the referring domains that link to each DOMAIN (e.g. your "
        "competitors) and to none of the --not domains (e.g. yours).",
    )
    intersect.add_argument("domain", nargs="+", metavar="DOMAIN")
    intersect.add_argument(
        "--not",
        dest="exclude",
        action="append",
        metavar="DOMAIN",
        help="leave out referring domains that link to DOMAIN (repeatable)",
    )
    _add_output_options(intersect, ("table", "json", "jsonl", "csv", "parquet"))
    intersect.set_defaults(include_internal=False, dofollow_only=False, kind=None, status=None)
    _add_index_options(intersect)
    _add_verbose(intersect)
    intersect.set_defaults(handler=cmd_intersect)

    serve = commands.add_parser(
        "serve",
        help="HTTP JSON API and a backlink explorer page over the index",
        description="Serve the query commands as a JSON API (OpenAPI at /openapi.json) and a "
        "web page at /. With the embedded index, serve owns the data directory and the CLI's "
        "query commands ask it while it runs.",
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("LINKGRAPH_API_HOST") or defaults.LINKGRAPH_API_HOST,
        help="address to listen on (env LINKGRAPH_API_HOST; default: %(default)s)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=int(os.environ.get("LINKGRAPH_API_PORT") or defaults.LINKGRAPH_API_PORT),
        help="port, 0 = any free one (env LINKGRAPH_API_PORT; default: %(default)s)",
    )
    serve.add_argument(
        "--token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' (prefer env LINKGRAPH_API_TOKEN: flags "
        "show in ps)",
    )
    _add_index_options(serve)
    _add_verbose(serve)
    serve.set_defaults(handler=cmd_serve)

    report_parser = commands.add_parser(
        "report",
        help="summary of TARGET's backlink profile, with new and lost links per day",
        description="Backlinks, referring domains, dofollow share, rel flags, live/lost, the "
        "TLD distribution with .gov/.edu share, and new and lost links per day.",
    )
    report_parser.add_argument("target", metavar="TARGET", help="a URL, or a bare domain/host")
    _add_query_options(report_parser)
    report_parser.add_argument(
        "--format",
        choices=("table", "json", "jsonl"),
        help="default: table on a terminal, else json",
    )
    report_parser.add_argument("--output", "-o", metavar="FILE")
    _add_index_options(report_parser)
    _add_verbose(report_parser)
    report_parser.set_defaults(handler=cmd_report)

    export = commands.add_parser(
        "export",
        help="export the whole index (edges) or its host/domain graph",
        description="Stream the whole index: edges with SPEC §4 record fields, or the host or "
        "domain graph with link counts as weights.",
    )
    export.add_argument("what", choices=("edges", "hosts", "domains"))
    export.add_argument(
        "--format", choices=("jsonl", "csv", "parquet"), help="output format (default: jsonl)"
    )
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    export.add_argument(
        "--external-only",
        action="store_true",
        help="leave out internal links (same registered domain)",
    )
    _add_index_options(export)
    export.set_defaults(handler=cmd_export)
    _add_verbose(export)

    importing = commands.add_parser(
        "import",
        help="load edges exported elsewhere (backfills, migrations)",
        description="Load edge records (SPEC §4 fields) from JSON Lines, CSV or Parquet. URLs "
        "are normalized again and hosts/domains recomputed; first/last seen merge with what "
        "the index holds, so a repeated import changes nothing.",
    )
    importing.add_argument("what", choices=("edges",))
    importing.add_argument("file", metavar="FILE")
    importing.add_argument(
        "--format", choices=("jsonl", "csv", "parquet"), help="default: from the extension"
    )
    _add_index_options(importing)
    _add_verbose(importing)
    importing.set_defaults(handler=cmd_import)

    job_parser = commands.add_parser(
        "query-job",
        help="answer many targets at once: one Parquet (or JSONL/CSV) file per report",
        description="Answer every report for each target of --targets FILE (one URL or "
        "domain per line, # comments) into --output DIR: backlinks, refdomains, anchors, "
        "top_pages and report (with report_history and report_tlds), one file per report, "
        "each row led by its target, plus manifest.json. Files replace earlier ones only "
        "when the whole job succeeded.",
    )
    job_parser.add_argument("--targets", required=True, metavar="FILE", help="targets file")
    job_parser.add_argument("--output", "-o", required=True, metavar="DIR", help="output folder")
    job_parser.add_argument(
        "--reports",
        default="backlinks,refdomains,anchors,top_pages,report",
        metavar="LIST",
        help="comma-separated reports to write (default: %(default)s)",
    )
    job_parser.add_argument(
        "--format", choices=("parquet", "jsonl", "csv"), default="parquet", help="file format"
    )
    job_parser.add_argument(
        "--limit",
        type=_nonnegative,
        default=0,
        metavar="N",
        help="at most N rows per target and report, 0 = all (default)",
    )
    job_parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
    _add_query_options(job_parser)
    _add_index_options(job_parser)
    _add_verbose(job_parser)
    job_parser.set_defaults(handler=cmd_query_job)

    rollup = commands.add_parser(
        "rollup",
        help="refresh the domain rollups (refdomains and report of whole domains)",
        description="Recompute the precomputed refdomains and report of every registered "
        "domain whose backlinks were written since its last refresh (crawl and consume do this "
        "when they finish or catch up). Answers never read a stale rollup: they aggregate the "
        "edges instead, more slowly.",
    )
    rollup.add_argument(
        "--all", action="store_true", help="every target domain, written lately or not"
    )
    rollup.add_argument(
        "--settle",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="date the refresh this much before it starts, for inserts still in flight from "
        "other writers (default: 0 embedded, 300 on a server)",
    )
    _add_index_options(rollup)
    _add_verbose(rollup)
    rollup.set_defaults(handler=cmd_rollup)

    ranking = commands.add_parser(
        "rank",
        help="compute domain authority: PageRank and harmonic centrality, 0-100",
        description="Score every registered domain of the dofollow external domain graph: "
        "PageRank, harmonic centrality, and authority 0-100 (log-scaled PageRank, like DR). "
        "The scores replace the previous ones atomically in the domain_rank table and show "
        "on refdomains (authority) and backlinks (--with-authority, --sort authority). "
        "docs/authority.md explains the method.",
    )
    ranking.add_argument(
        "--damping",
        type=float,
        default=0.85,
        metavar="D",
        help="probability of following a link, 0 <= D < 1 (default: %(default)s)",
    )
    ranking.add_argument(
        "--tolerance",
        type=_positive_float,
        default=1e-10,
        metavar="T",
        help="stop once the L1 change of the scores is below T (default: %(default)s)",
    )
    ranking.add_argument(
        "--max-iterations",
        type=_positive,
        default=100,
        metavar="N",
        help="at most N power iterations (default: %(default)s)",
    )
    ranking.add_argument(
        "--no-harmonic", action="store_true", help="skip harmonic centrality (PageRank only)"
    )
    ranking.add_argument(
        "--harmonic-sources",
        type=_positive,
        metavar="N",
        help="estimate harmonic centrality from N sampled domains (default: exact when the "
        "graph is small enough, else a sample sized to the graph)",
    )
    ranking.add_argument(
        "--seed", type=_nonnegative, default=0, help="seed of the harmonic sample (default: 0)"
    )
    ranking.add_argument(
        "--format", choices=("json",), help="also print the run's summary as JSON on stdout"
    )
    ranking.add_argument("--quiet", "-q", action="store_true", help="no summary line on stderr")
    _add_index_options(ranking)
    _add_verbose(ranking)
    ranking.set_defaults(handler=cmd_rank)

    sql = commands.add_parser(
        "sql",
        help="run SQL against the index",
        description="Run one SQL statement against the configured index (read-only unless "
        "--write). Start with the links view; tables: edges, edges_by_source, refdomains, "
        "pages, fetches (see README).",
    )
    sql.add_argument("statement", metavar="SQL")
    sql.add_argument("--write", action="store_true", help="allow statements that change the index")
    _add_output_options(sql, ("table", "json", "jsonl", "csv", "parquet"))
    _add_index_options(sql)
    sql.set_defaults(handler=cmd_sql)
    _add_verbose(sql)

    stats = commands.add_parser(
        "stats",
        help="index size and freshness",
        description="Edges, pages, domains, bytes on disk, last fetch.",
    )
    stats.add_argument(
        "--format",
        choices=("table", "json", "jsonl", "csv"),
        help="output format (default: table on a terminal, else json)",
    )
    stats.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    _add_index_options(stats)
    stats.set_defaults(handler=cmd_stats)
    _add_verbose(stats)
    return parser


# -- entry point -----------------------------------------------------------------


class _OneLine(logging.Formatter):
    """Log records as one line; exceptions as their one-line summary."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None and not _env_flag("LINKGRAPH_DEBUG"):
            error = record.exc_info[1]
            message = f"{message}: {type(error).__name__}: {error}"
            record.exc_info = None
            record.exc_text = None
        return " ".join(f"{PROG}: {record.levelname.lower()}: {message}".split("\n"))


class _QuietLibraries(logging.Filter):
    """Drops library log records below CRITICAL (see ``_setup_logging``)."""

    _NAMES = ("scrapy", "kafka", "twisted", "py.warnings", "protego", "filelock")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL:
            return True
        return record.name.split(".", 1)[0] not in self._NAMES


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _OneLine()
        if not _env_flag("LINKGRAPH_DEBUG")
        else logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    )
    # The level sits on the handler: Scrapy resets the root logger's level when
    # a crawl starts.
    handler.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(handler.level)
    if not verbose:
        warnings.simplefilter("ignore")
        # Scrapy reports every fetch error and component it disables, and
        # kafka-python every reconnect attempt; linkgraph counts those and reports
        # the outcome, so their lines show only with -v. A filter on the handler,
        # because Scrapy's logging set-up resets its loggers' levels.
        handler.addFilter(_QuietLibraries())
        logging.getLogger("py.warnings").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        # argparse cannot match a "*" positional that follows an option
        # (`crawl --max-pages 5 example.com`): such words are seeds too.
        if (
            extra
            and isinstance(getattr(args, "seed", None), list)
            and not any(word.startswith("-") for word in extra)
        ):
            args.seed.extend(extra)
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        _setup_logging(args.verbose)
        if not hasattr(args, "verbose"):
            args.verbose = 0
        if args.command in ("worker", "consume"):
            # Until the service installs its graceful handler (Scrapy's, or the
            # consumer's), a SIGTERM during start-up holds nothing: stop cleanly.
            signal.signal(signal.SIGTERM, _terminate_early)
        status: int = args.handler(args)
        return status
    except LinkgraphError as error:
        if _env_flag("LINKGRAPH_DEBUG"):
            raise
        message = " ".join(str(error).split())
        print(message if message.startswith(PROG) else f"{PROG}: error: {message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"{PROG}: stopped (SIGTERM) while starting", file=sys.stderr)
        return 0
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`): not an error.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    except Exception as error:  # a bug: say so in one line, keep the details for -v
        if _env_flag("LINKGRAPH_DEBUG"):
            raise
        print(
            f"{PROG}: internal error: {type(error).__name__}: "
            f"{' '.join(str(error).split())[:500]} (set LINKGRAPH_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 70


def run() -> NoReturn:
    sys.exit(main())


if __name__ == "__main__":
    run()
