"""``linkgraph job``: distributed crawl jobs, kept in Redis."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from linkcore import config
from linkcore.errors import UsageError
from linkgraph.cli import revisits as revisiting
from linkgraph.cli.options import (
    PROG,
    Parser,
    add_index_options,
    add_kafka_options,
    add_redis_options,
    add_trap_options,
    add_verbose,
    depth,
    index_of,
    kafka_settings,
    nonnegative,
    positive,
    seconds,
    trap_limits,
)


def _job_store(args: argparse.Namespace) -> Any:
    from crawler.frontier.connection import connect_shards
    from crawler.frontier.jobs import JobStore
    from crawler.frontier.keys import Keys

    return JobStore(connect_shards(args.redis), Keys.from_env(args.redis_prefix))


def _start_archives(args: argparse.Namespace) -> int:
    """``job start NAME --warc-paths FILE``: a job whose workers read web archives."""
    from crawler.archives import archive_kind, read_paths_file

    if args.seed or args.seeds or revisiting.wanted(args):
        raise UsageError(
            f"{PROG} job start: --warc-paths takes no seeds, --seeds or revisit options"
        )
    paths = read_paths_file(args.warc_paths)
    job = _job_store(args).start_archives(args.name, [(archive_kind(p), p) for p in paths])
    print(
        f"{PROG}: job {job.name} started: {job.files} archives to read, one per lease; "
        "workers pick it up now",
        file=sys.stderr,
    )
    return 0


def cmd_job_start(args: argparse.Namespace) -> int:
    from linkcore.seeds import parse_seeds, read_seeds_file

    if args.warc_paths:
        return _start_archives(args)

    seeds = read_seeds_file(args.seeds) if args.seeds else []
    seeds.extend(s for s in parse_seeds(args.seed) if s not in seeds)
    revisiting.check(args, seeds, "job start")
    store = _job_store(args)
    settings: dict[str, Any] = {
        "max_pages": args.max_pages,
        "max_depth": args.max_depth,
        "max_pages_per_host": args.max_pages_per_host,
        "rate": args.rate,
        "bloom_capacity": args.expected_urls,
        "traps": trap_limits(args),
        "sitemaps": not args.no_sitemaps and config.SITEMAPS.resolve(),
    }
    if revisiting.wanted(args):
        # Read while the job is queued: revisits stream from the index into Redis.
        with index_of(args, create=False) as index:
            job = store.start(
                args.name, seeds, revisits=revisiting.revisits(args, index, seeds), **settings
            )
    else:
        job = store.start(args.name, seeds, **settings)
    revisits = f", {job.revisits_queued} revisits" if revisiting.wanted(args) else ""
    print(
        f"{PROG}: job {job.name} started: {len(seeds)} seeds{revisits}, scope "
        f"{', '.join(job.scope) or '(none: revisits only)'}; workers pick it up now",
        file=sys.stderr,
    )
    return 0


def _print_status(status: dict[str, Any], fmt: str) -> None:
    import json

    if fmt == "json":
        print(json.dumps(status))
        return
    for key, value in status.items():
        if key == "declined_as_traps":
            for count, host, rule in value:
                print(f"{count} URLs declined as a trap on {host}: {rule}")
            continue
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
    from crawler.frontier.wait import wait_for_job

    bootstrap, topic = kafka_settings(args)
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


def register(commands: Any) -> None:
    """``linkgraph job start|status|stop|wait|list``."""
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
        "--warc-paths",
        metavar="FILE",
        help="instead of crawling, read the WARC/WAT files FILE lists (one path or URL per "
        "line; Common Crawl's warc.paths and wat.paths accepted), one file per lease",
    )
    start.add_argument(
        "--max-pages",
        type=nonnegative,
        default=config.LINKGRAPH_MAX_PAGES,
        metavar="N",
        help="stop after N pages, 0 = no limit (default: %(default)s)",
    )
    start.add_argument(
        "--max-depth",
        type=depth,
        default=config.LINKGRAPH_MAX_DEPTH,
        metavar="D",
        help="at most D hops from a seed, -1 = no limit (default: %(default)s)",
    )
    start.add_argument(
        "--max-pages-per-host",
        type=nonnegative,
        default=config.LINKGRAPH_MAX_PAGES_PER_HOST,
        metavar="N",
        help="fetch at most N pages from one host, all workers together; 0 = no limit "
        "(default: %(default)s)",
    )
    start.add_argument(
        "--rate",
        type=float,
        default=config.LINKGRAPH_RATE,
        metavar="R",
        help="requests per second per host, all workers together (default: %(default)s)",
    )
    start.add_argument(
        "--expected-urls",
        type=positive,
        default=config.LINKGRAPH_EXPECTED_URLS,
        metavar="N",
        help="URLs the job's Bloom filter is sized for, at 0.1%% false "
        "positives (default: %(default)s)",
    )
    add_trap_options(start)
    revisiting.add_revisit_options(start)
    add_index_options(start)
    start.add_argument(
        "--no-sitemaps",
        action="store_true",
        help="do not read the hosts' sitemaps (env LINKGRAPH_SITEMAPS=off; now: "
        f"{config.SITEMAPS.now()})",
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
                type=seconds,
                default=0,
                metavar="S",
                help="give up after S seconds with exit status 3, 0 = never (default: %(default)s)",
            )
            sub.add_argument(
                "--group",
                default=config.KAFKA_GROUP,
                help="consumer group that writes the index (default: %(default)s)",
            )
            sub.add_argument("--quiet", "-q", action="store_true")
            add_kafka_options(sub)
    listing = job_commands.add_parser("list", help="every job with its state")
    listing.add_argument("--format", choices=("table", "json"))
    listing.set_defaults(handler=cmd_job_list)
    for sub in job_commands.choices.values():
        add_redis_options(sub)
        add_verbose(sub)
