"""The long-lived processes: ``linkgraph worker``, ``consume`` and ``serve``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from types import FrameType
from typing import Any

from linkcore import config
from linkgraph.cli.crawl import collect_less
from linkgraph.cli.options import (
    PROG,
    add_index_options,
    add_kafka_options,
    add_redis_options,
    add_verbose,
    index_of,
    kafka_settings,
    nonnegative,
    port,
    positive,
    seconds,
)

log = logging.getLogger("linkgraph")


def cmd_worker(args: argparse.Namespace) -> int:
    from scrapy.core.engine import ExecutionEngine
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    from crawler.frontier.connection import connect_shards, redis_url, redis_urls
    from crawler.spiders.worker import WorkerSpider
    from linkcore import kafka as lgkafka
    from linkcore.metrics import start_metrics_server

    bootstrap, topic = kafka_settings(args)
    # Fail now, in one line, if Redis or Kafka does not answer (and create the
    # topic on first use), rather than inside Scrapy's start-up.
    shards = redis_urls(args.redis)
    connect_shards(args.redis)
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
            # scrapy-redis connects to the first shard; the frontier to all of them.
            "REDIS_URL": redis_url(args.redis),
            "LINKGRAPH_REDIS_SHARDS": ",".join(shards),
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
            "LINKGRAPH_MAX_CRAWL_DELAY": args.max_crawl_delay,
            "LINKGRAPH_ALLOW_PRIVATE_NETWORKS": config.ALLOW_PRIVATE_NETWORKS.resolve(
                args.allow_private_networks
            ),
            "LOG_LEVEL": "DEBUG" if args.verbose > 1 else "INFO" if args.verbose else "WARNING",
        },
        priority="cmdline",
    )
    # Work arrives in Redis, not through this process: look for it twice a
    # second instead of every five. Scrapy has no public setting for how often
    # its engine asks an idle scheduler again; this private class attribute is
    # why pyproject.toml pins Scrapy to the versions it was tested on (2.19).
    ExecutionEngine._SLOT_HEARTBEAT_INTERVAL = 0.5
    process = CrawlerProcess(settings, install_root_handler=False)
    crawler = process.create_crawler(WorkerSpider)
    collect_less()
    process.crawl(crawler)
    # Archive jobs (docs/ingest.md#many-machines) are read beside the crawl.
    archives = _archive_reader(args, bootstrap, topic)
    archives.start()
    # The crawl already runs before the reactor starts (downloads, handler
    # loading), and Scrapy would install its SIGTERM handler only after: the
    # worker installs its own graceful stop now and keeps it to the end.
    stop_gracefully_on_signals(process)
    log.warning("worker started: Redis %s, Kafka %s, topic %s", ",".join(shards), bootstrap, topic)
    try:
        process.start(install_signal_handlers=False)
    finally:
        archives.stop()
    error = getattr(crawler, "linkgraph_error", None)
    if error is not None:
        raise error
    return 0


def _archive_reader(args: argparse.Namespace, bootstrap: str, topic: str) -> Any:
    """The worker's reader of archive jobs, with its own Redis clients and producer."""
    from crawler.frontier.connection import connect_shards
    from crawler.frontier.jobs import JobStore
    from crawler.frontier.keys import Keys
    from linkcore import kafka as lgkafka
    from pipelines.ingest import ArchiveReader, KafkaSink

    store = JobStore(connect_shards(args.redis), Keys.from_env(args.redis_prefix))
    settings = lgkafka.resolve_kafka(bootstrap, topic)
    return ArchiveReader(
        store, lambda: KafkaSink.connect(settings, "linkgraph-worker-archives"), args.lease
    )


def stop_gracefully_on_signals(process: Any) -> None:
    """SIGTERM or SIGINT stops ``process`` (a CrawlerProcess) gracefully; a second, at once.

    Graceful is Scrapy's ``CrawlerProcess.stop()``: the engine finishes the
    requests in flight and closes the spider, whose close hands unfinished
    leases back to the frontier; the reactor stops when the crawl has ended.
    The handlers call into the reactor only through ``callFromThread``, which
    also holds a signal that arrives before the reactor runs until it does.
    """
    from twisted.internet import reactor as twisted_reactor

    reactor: Any = twisted_reactor

    def halt(_: object = None) -> None:
        with contextlib.suppress(RuntimeError):  # the reactor is already stopping
            reactor.stop()

    def stop(signum: int, frame: FrameType | None) -> None:
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, stop_now)
        reactor.callFromThread(
            log.info,
            "%s: finishing the pages in flight (send it again to stop at once)",
            signal.Signals(signum).name,
        )
        reactor.callFromThread(lambda: process.stop().addBoth(halt))

    def stop_now(signum: int, frame: FrameType | None) -> None:
        for each in (signal.SIGTERM, signal.SIGINT):
            signal.signal(each, signal.SIG_IGN)
        reactor.callFromThread(halt)

    for each in (signal.SIGTERM, signal.SIGINT):
        signal.signal(each, stop)


def cmd_consume(args: argparse.Namespace) -> int:
    from consumers.service import ConsumerConfig, run_consumer
    from linkindex.client import resolve_location

    bootstrap, topic = kafka_settings(args)
    consumer_config = ConsumerConfig(
        bootstrap=bootstrap,
        topic=topic,
        group_id=args.group,
        index=resolve_location(args.data_dir, args.clickhouse),
        batch_pages=args.batch_pages,
        batch_seconds=args.batch_seconds,
        dlq_topic=args.dlq_topic or f"{topic}.dlq",
        metrics_port=args.metrics_port or None,
    )
    status: int = run_consumer(consumer_config)
    return status


def cmd_serve(args: argparse.Namespace) -> int:
    from linkgraph import api

    token = config.API_TOKEN.resolve(args.token) or None
    host = config.API_HOST.resolve(args.host)
    port = config.API_PORT.resolve(args.port)
    with index_of(args, create=False) as index:

        def ready(server: Any) -> None:
            print(
                f"{PROG}: serving {server.url}/ (API: {server.url}/openapi.json) over "
                f"{index.location.describe()}; Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )

        api.serve(index, host, port, token=token, on_ready=ready)
    return 0


def register_worker(commands: Any) -> None:
    """``linkgraph worker``."""
    worker = commands.add_parser(
        "worker",
        help="a crawl node: Redis frontier in, Kafka out (run any number)",
        description="Crawl every running job's frontier from Redis and send each page's "
        "links to Kafka. Stops cleanly on SIGTERM: pages in flight are finished "
        "and produced, unfinished requests go back to the frontier.",
    )
    worker.add_argument(
        "--concurrency",
        type=positive,
        default=config.LINKGRAPH_CONCURRENCY,
        metavar="N",
        help="requests in flight (default: %(default)s)",
    )
    worker.add_argument(
        "--per-host",
        type=positive,
        default=config.LINKGRAPH_CONCURRENCY_PER_HOST,
        metavar="N",
        help="requests in flight per host (default: %(default)s)",
    )
    worker.add_argument(
        "--timeout",
        type=seconds,
        default=config.LINKGRAPH_DOWNLOAD_TIMEOUT,
        metavar="S",
        help="seconds before a request is abandoned (default: %(default)s)",
    )
    worker.add_argument(
        "--max-crawl-delay",
        type=seconds,
        default=config.LINKGRAPH_MAX_CRAWL_DELAY,
        metavar="S",
        help="obey a robots.txt Crawl-delay up to S seconds between requests to a host, "
        "across the cluster (default: %(default)s)",
    )
    worker.add_argument(
        "--lease",
        type=seconds,
        default=config.LINKGRAPH_LEASE_SECONDS,
        metavar="S",
        help="seconds before a request taken by a dead worker is handed out again; live "
        "workers renew their leases every third of it (default: %(default)s)",
    )
    worker.add_argument(
        "--metrics-port",
        type=nonnegative,
        default=config.LINKGRAPH_METRICS_PORT,
        metavar="PORT",
        help="serve Prometheus metrics on PORT, 0 = off (default: %(default)s)",
    )
    worker.add_argument(
        "--allow-private-networks",
        action="store_true",
        help="allow loopback/private/link-local targets",
    )
    add_redis_options(worker)
    add_kafka_options(worker)
    add_verbose(worker)
    worker.set_defaults(handler=cmd_worker)


def register_consume(commands: Any) -> None:
    """``linkgraph consume``."""
    consume = commands.add_parser(
        "consume",
        help="a Kafka consumer writing page records to the index (run any number)",
        description="Join the consumer group, write every page's edges to the index, commit "
        "offsets only after the index accepted them. Malformed messages go to "
        "the dead-letter topic. With the embedded index only one consumer can "
        "run (one process per data directory); use --clickhouse for several.",
    )
    consume.add_argument(
        "--group", default=config.KAFKA_GROUP, help="consumer group id (default: %(default)s)"
    )
    consume.add_argument(
        "--dlq-topic", metavar="NAME", help="dead-letter topic (default: TOPIC.dlq)"
    )
    consume.add_argument(
        "--batch-pages",
        type=positive,
        default=config.CLICKHOUSE_BATCH_PAGES,
        metavar="N",
        help="pages per index insert (default: %(default)s)",
    )
    consume.add_argument(
        "--batch-seconds",
        type=seconds,
        default=config.CLICKHOUSE_BATCH_SECONDS,
        metavar="S",
        help="longest a page waits for its batch (default: %(default)s)",
    )
    consume.add_argument(
        "--metrics-port",
        type=nonnegative,
        default=config.LINKGRAPH_METRICS_PORT,
        metavar="PORT",
        help="serve Prometheus metrics on PORT, 0 = off (default: %(default)s)",
    )
    add_kafka_options(consume)
    add_index_options(consume)
    add_verbose(consume)
    consume.set_defaults(handler=cmd_consume)


def register_serve(commands: Any) -> None:
    """``linkgraph serve``."""
    serve = commands.add_parser(
        "serve",
        help="HTTP JSON API and a backlink explorer page over the index",
        description="Serve the query commands as a JSON API (OpenAPI at /openapi.json) and a "
        "web page at /. With the embedded index, serve owns the data directory and the CLI's "
        "query commands ask it while it runs.",
    )
    serve.add_argument(
        "--host",
        help=f"address to listen on (env LINKGRAPH_API_HOST; default: {config.API_HOST.now()})",
    )
    serve.add_argument(
        "--port",
        type=port,
        help=f"port, 0 = any free one (env LINKGRAPH_API_PORT; default: {config.API_PORT.now()})",
    )
    serve.add_argument(
        "--token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' (prefer env LINKGRAPH_API_TOKEN: flags "
        "show in ps)",
    )
    add_index_options(serve)
    add_verbose(serve)
    serve.set_defaults(handler=cmd_serve)
