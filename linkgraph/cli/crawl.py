"""``linkgraph crawl``: a one-process crawl into the index."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from linkcore import config
from linkcore.errors import LinkgraphError
from linkgraph.cli import revisits as revisiting
from linkgraph.cli.options import (
    PROG,
    add_index_options,
    add_trap_options,
    add_verbose,
    depth,
    index_of,
    nonnegative,
    positive,
    seconds,
    trap_limits,
)

if TYPE_CHECKING:
    from scrapy.settings import Settings

    from linkindex.client import IndexLocation

log = logging.getLogger("linkgraph")


#: The cyclic garbage collector's thresholds while Scrapy crawls (see collect_less).
CRAWL_GC_THRESHOLDS = (50_000, 20, 10)


def collect_less() -> None:
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


def crawl_settings(args: argparse.Namespace, location: IndexLocation) -> Settings:
    """The Scrapy settings of ``linkgraph crawl``: crawler/settings.py, then the flags."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    overrides: dict[str, Any] = {
        "LINKGRAPH_DATA_DIR": location.data_dir or "",
        "LINKGRAPH_CLICKHOUSE": location.clickhouse_url or "",
        "LINKGRAPH_MAX_PAGES": args.max_pages,
        "LINKGRAPH_MAX_DEPTH": args.max_depth,
        "LINKGRAPH_MAX_PAGES_PER_HOST": args.max_pages_per_host,
        "LINKGRAPH_ALLOW_PRIVATE_NETWORKS": config.ALLOW_PRIVATE_NETWORKS.resolve(
            args.allow_private_networks
        ),
        "LINKGRAPH_PROGRESS": not args.quiet,
        **trap_limits(args).as_settings(),
        "CONCURRENT_REQUESTS": args.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.per_host,
        "DOWNLOAD_DELAY": args.delay,
        "LINKGRAPH_MAX_CRAWL_DELAY": args.max_crawl_delay,
        "LINKGRAPH_SITEMAPS": not args.no_sitemaps and config.SITEMAPS.resolve(),
        "LINKGRAPH_SITEMAP_MAX_URLS": args.max_sitemap_urls,
        "LINKGRAPH_SITEMAPS_PER_HOST": args.max_sitemaps_per_host,
        "AUTOTHROTTLE_START_DELAY": max(args.delay, 0.01),
        "AUTOTHROTTLE_ENABLED": not args.no_autothrottle,
        "DOWNLOAD_TIMEOUT": args.timeout,
        "LOG_LEVEL": "DEBUG" if args.verbose > 1 else "INFO" if args.verbose else "WARNING",
    }
    if args.user_agent:
        overrides["USER_AGENT"] = args.user_agent
    settings.setdict(overrides, priority="cmdline")
    return settings


def cmd_crawl(args: argparse.Namespace) -> int:
    from scrapy.crawler import CrawlerProcess

    from crawler.spiders.outlinks import OutlinksSpider
    from linkcore.seeds import parse_seeds, read_seeds_file
    from linkindex.client import resolve_location

    seeds = parse_seeds(args.seed) if args.seed else []
    if args.seeds:
        seeds.extend(s for s in read_seeds_file(args.seeds) if s not in seeds)
    revisiting.check(args, seeds, "crawl")
    location = resolve_location(args.data_dir, args.clickhouse)
    # Open (and migrate) the index before crawling: a locked or unreachable
    # index is reported now, not after the first batch of pages.
    with index_of(args, create=True) as index:
        revisits = list(revisiting.revisits(args, index, seeds)) if revisiting.wanted(args) else []
        process = CrawlerProcess(crawl_settings(args, location), install_root_handler=False)
        crawler = process.create_crawler(OutlinksSpider)
        collect_less()
        started = time.monotonic()
        process.crawl(
            crawler,
            seed_urls=seeds,
            max_pages=args.max_pages,
            max_depth=args.max_depth,
            job=args.job,
            revisits=revisits,
        )
        process.start()
        elapsed = time.monotonic() - started
        error = getattr(crawler, "linkgraph_error", None)
        if error is not None:
            raise error
        stats = crawler.stats.get_stats() if crawler.stats else {}
        if "finish_reason" not in stats:
            raise LinkgraphError(
                f"{PROG} crawl: the crawl could not start (run with -v for details)"
            )
        pages = int(stats.get("linkgraph/pages_written", 0))
        edges = int(stats.get("linkgraph/edges_written", 0))
        errors = int(stats.get("linkgraph/errors", 0))
        refused = int(stats.get("linkgraph/refused_private", 0))
        robots = int(stats.get("robotstxt/forbidden", 0))
        from_sitemaps = int(stats.get("linkgraph/sitemap_queued", 0))
        reason = stats.get("finish_reason", "finished")
        traps = list(stats.get("linkgraph/trap_declined", []))
    if not args.quiet or args.verbose:
        print(
            f"{PROG}: crawled {pages} pages, stored {edges} edges in {elapsed:.1f} s "
            f"({pages / max(elapsed, 1e-9):.1f} pages/s); {from_sitemaps} URLs queued from "
            f"sitemaps; {errors} fetch errors, "
            f"{robots} blocked by robots.txt, {refused} refused private addresses; "
            f"finish: {reason}; index: {location.describe()}",
            file=sys.stderr,
        )
        for count, host, rule in traps:
            print(f"{PROG}: {count} URLs declined as a trap on {host}: {rule}", file=sys.stderr)
        if revisiting.wanted(args):
            print(f"{PROG}: {revisiting.summary(stats)}", file=sys.stderr)
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


def register(commands: Any) -> None:
    """``linkgraph crawl``'s parser."""
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
        type=nonnegative,
        default=config.LINKGRAPH_MAX_PAGES,
        metavar="N",
        help="stop after N pages, 0 = no limit (default: %(default)s)",
    )
    crawl.add_argument(
        "--max-depth",
        type=depth,
        default=config.LINKGRAPH_MAX_DEPTH,
        metavar="D",
        help="follow links at most D hops from a seed, -1 = no limit (default: %(default)s)",
    )
    crawl.add_argument(
        "--max-pages-per-host",
        type=nonnegative,
        default=config.LINKGRAPH_MAX_PAGES_PER_HOST,
        metavar="N",
        help="fetch at most N pages from one host, a bound on spider traps; 0 = no limit "
        "(default: %(default)s)",
    )
    add_trap_options(crawl)
    crawl.add_argument(
        "--delay",
        type=seconds,
        default=config.LINKGRAPH_DOWNLOAD_DELAY,
        metavar="S",
        help="seconds between requests to one host (default: %(default)s)",
    )
    crawl.add_argument(
        "--max-crawl-delay",
        type=seconds,
        default=config.LINKGRAPH_MAX_CRAWL_DELAY,
        metavar="S",
        help="obey a robots.txt Crawl-delay up to S seconds (default: %(default)s)",
    )
    crawl.add_argument(
        "--per-host",
        type=positive,
        default=config.LINKGRAPH_CONCURRENCY_PER_HOST,
        metavar="N",
        help="concurrent requests per host (default: %(default)s)",
    )
    crawl.add_argument(
        "--concurrency",
        type=positive,
        default=config.LINKGRAPH_CONCURRENCY,
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
        type=seconds,
        default=config.LINKGRAPH_DOWNLOAD_TIMEOUT,
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
        f"LINKGRAPH_ALLOW_PRIVATE_NETWORKS; now: {config.ALLOW_PRIVATE_NETWORKS.now()})",
    )
    crawl.add_argument(
        "--no-sitemaps",
        action="store_true",
        help="do not read the hosts' sitemaps (env LINKGRAPH_SITEMAPS=off; now: "
        f"{config.SITEMAPS.now()})",
    )
    crawl.add_argument(
        "--max-sitemap-urls",
        type=positive,
        default=config.LINKGRAPH_SITEMAP_MAX_URLS,
        metavar="N",
        help="read at most N entries of one sitemap file (default: %(default)s)",
    )
    crawl.add_argument(
        "--max-sitemaps-per-host",
        type=positive,
        default=config.LINKGRAPH_SITEMAPS_PER_HOST,
        metavar="N",
        help="read at most N sitemap files per host (default: %(default)s)",
    )
    crawl.add_argument("--job", default="", metavar="NAME", help="job name stored with pages")
    crawl.add_argument(
        "--quiet", "-q", action="store_true", help="no progress display and no summary"
    )
    revisiting.add_revisit_options(crawl)
    add_index_options(crawl)
    crawl.set_defaults(handler=cmd_crawl)
    add_verbose(crawl)
