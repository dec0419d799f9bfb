"""The index's own commands: export, import, query-job, rollup, rank, sql, stats."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from linkcore.errors import UsageError
from linkgraph.cli.options import (
    PROG,
    add_index_options,
    add_output_options,
    add_verbose,
    emit,
    format_and_limit,
    index_of,
    nonnegative,
    output_stream,
    positive,
    positive_float,
    seconds,
)
from linkgraph.cli.query import add_query_options, filters_of, run_query

log = logging.getLogger("linkgraph")


def cmd_export(args: argparse.Namespace) -> int:
    from linkindex import queries
    from linkindex.output import Writer

    fmt = args.format or "jsonl"
    if fmt == "table":
        raise UsageError(f"{PROG} export: --format must be jsonl, csv or parquet")
    if args.level is not None and args.what != "features":
        raise UsageError(f"{PROG} export: --level is for `export features`")
    with index_of(args, create=False) as index:
        if args.what == "features":
            from linkindex import features

            level = args.level or "edge"
            blocks = features.features(index, level)
            names = features.columns(level)
        else:
            blocks = queries.export(index, args.what, include_internal=not args.external_only)
            names = queries.export_columns(args.what)
        with output_stream(args.output, fmt) as stream:
            writer: Writer | None = None
            for columns, block in blocks:
                if writer is None:
                    writer = Writer(fmt, stream, columns)
                writer.write(block)
            if writer is None:
                writer = Writer(fmt, stream, names)
            writer.close()
    if args.output:
        print(
            f"{PROG}: exported {writer.count} {args.what} records to {args.output}", file=sys.stderr
        )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from linkindex.importer import import_edges

    with index_of(args, create=True) as index:
        count = import_edges(index, args.file, args.format)
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
    filters = filters_of(args, args.limit)
    started = time.monotonic()
    with index_of(args, create=False) as index:
        counts = run_query_job(
            index,
            targets,
            args.output,
            reports=reports,
            filters=filters,
            fmt=args.format,
            progress=None if args.quiet else (lambda line: log.info("query-job: %s", line)),
        )
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

    with index_of(args, create=False) as index:
        done = rollups.refresh(index, all_domains=args.all, settle_seconds=args.settle)
    print(
        f"{PROG}: refreshed the rollups of {done.domains} domains "
        f"(and the facts of {done.hosts} hosts) in {done.seconds:.1f} s",
        file=sys.stderr,
    )
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    import json

    from linkindex.rank import compute_ranks

    with index_of(args, create=False) as index:
        summary = compute_ranks(
            index,
            damping=args.damping,
            tol=args.tolerance,
            max_iter=args.max_iterations,
            harmonic=not args.no_harmonic,
            harmonic_sources=args.harmonic_sources,
            seed=args.seed,
        )
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

    fmt, _ = format_and_limit(args)
    from linkcore.errors import IndexError_

    try:
        result = run_query(
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
    emit(result, args, fmt)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from linkindex import queries

    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    result = run_query(args, queries.stats, "stats", {})
    if fmt == "table":
        with output_stream(args.output, fmt) as stream:
            row = result.rows[0]
            width = max(len(c) for c in result.columns)
            from linkindex.output import cell

            text = "".join(
                f"{c.ljust(width)}  {cell(v)}\n" for c, v in zip(result.columns, row, strict=True)
            )
            stream.write(text.encode())
        return 0
    args.cursor = None
    emit(result, args, fmt)
    return 0


def register(commands: Any) -> None:
    """The parsers of the index's own commands."""
    export = commands.add_parser(
        "export",
        help="export the whole index (edges), its host/domain graph, or feature tables",
        description="Stream the whole index: edges with the record fields of docs/queries.md, "
        "the host or domain graph with link counts as weights, or the feature tables of "
        "docs/features.md (features --level edge|domain) for scoring services.",
    )
    export.add_argument("what", choices=("edges", "hosts", "domains", "features"))
    export.add_argument(
        "--level",
        choices=("edge", "domain"),
        help="features: one row per external edge (default) or per referring domain",
    )
    export.add_argument(
        "--format", choices=("jsonl", "csv", "parquet"), help="output format (default: jsonl)"
    )
    export.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    export.add_argument(
        "--external-only",
        action="store_true",
        help="leave out internal links (same registered domain)",
    )
    add_index_options(export)
    export.set_defaults(handler=cmd_export)
    add_verbose(export)

    importing = commands.add_parser(
        "import",
        help="load edges exported elsewhere (backfills, migrations)",
        description="Load edge records (docs/queries.md) from JSON Lines, CSV or Parquet. URLs "
        "are normalized again and hosts/domains recomputed; first/last seen merge with what "
        "the index holds, so a repeated import changes nothing.",
    )
    importing.add_argument("what", choices=("edges",))
    importing.add_argument("file", metavar="FILE")
    importing.add_argument(
        "--format", choices=("jsonl", "csv", "parquet"), help="default: from the extension"
    )
    add_index_options(importing)
    add_verbose(importing)
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
        type=nonnegative,
        default=0,
        metavar="N",
        help="at most N rows per target and report, 0 = all (default)",
    )
    job_parser.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
    add_query_options(job_parser)
    add_index_options(job_parser)
    add_verbose(job_parser)
    job_parser.set_defaults(handler=cmd_query_job)

    rollup = commands.add_parser(
        "rollup",
        help="refresh the domain rollups (refdomains and report of whole domains)",
        description="Recompute the precomputed refdomains and report of every registered "
        "domain whose backlinks were written since its last refresh, and the facts of every "
        "host whose pages were (crawl and consume do this when they finish or catch up). "
        "Answers never read a stale rollup or stale facts: they aggregate the edges instead, "
        "more slowly.",
    )
    rollup.add_argument(
        "--all", action="store_true", help="every target domain, written lately or not"
    )
    rollup.add_argument(
        "--settle",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="date the refresh this much before it starts, for inserts still in flight from "
        "other writers (default: 0 embedded, 300 on a server)",
    )
    add_index_options(rollup)
    add_verbose(rollup)
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
        type=positive_float,
        default=1e-10,
        metavar="T",
        help="stop once the L1 change of the scores is below T (default: %(default)s)",
    )
    ranking.add_argument(
        "--max-iterations",
        type=positive,
        default=100,
        metavar="N",
        help="at most N power iterations (default: %(default)s)",
    )
    ranking.add_argument(
        "--no-harmonic", action="store_true", help="skip harmonic centrality (PageRank only)"
    )
    ranking.add_argument(
        "--harmonic-sources",
        type=positive,
        metavar="N",
        help="estimate harmonic centrality from N sampled domains (default: exact when the "
        "graph is small enough, else a sample sized to the graph)",
    )
    ranking.add_argument(
        "--seed", type=nonnegative, default=0, help="seed of the harmonic sample (default: 0)"
    )
    ranking.add_argument(
        "--format", choices=("json",), help="also print the run's summary as JSON on stdout"
    )
    ranking.add_argument("--quiet", "-q", action="store_true", help="no summary line on stderr")
    add_index_options(ranking)
    add_verbose(ranking)
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
    add_output_options(sql, ("table", "json", "jsonl", "csv", "parquet"))
    add_index_options(sql)
    sql.set_defaults(handler=cmd_sql)
    add_verbose(sql)

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
    add_index_options(stats)
    stats.set_defaults(handler=cmd_stats)
    add_verbose(stats)
