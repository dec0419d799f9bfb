"""The stock baseline of the crawl benchmark: a plain Scrapy ``CrawlSpider``.

One ``Rule(LinkExtractor(allow_domains=…), follow=True)`` over the seed
domains, Scrapy's own dupefilter and offsite filtering, nothing stored: what
a Scrapy user writes to follow every link of some sites. Settings are those
``linkgraph crawl`` runs the benchmark with (concurrency, no delay, no
autothrottle, robots.txt obeyed, no cookies). Prints one JSON line:
``{"pages": N, "links": L, "elapsed": S}`` (``elapsed`` from the crawl's
start to its end, as ``linkgraph crawl`` reports its own).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

__all__ = ["run_stock_crawl"]


def run_stock_crawl(seeds: list[str], concurrency: int, per_host: int) -> dict[str, Any]:
    """Crawl the seeds' domains with a stock spider; pages, links and seconds."""
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy.linkextractors import LinkExtractor
    from scrapy.spiders import CrawlSpider, Rule

    domains = sorted({urlsplit(url).hostname or "" for url in seeds})
    counts = {"pages": 0, "links": 0}

    class StockSpider(CrawlSpider):
        name = "stock"
        allowed_domains = domains
        rules = (Rule(LinkExtractor(allow_domains=domains), callback="parse_page", follow=True),)

        async def start(self) -> Any:
            # Start URLs go through the dupefilter too (Scrapy's default lets
            # them bypass it, so a link back to a seed would be fetched again).
            for url in seeds:
                yield scrapy.Request(url)

        def parse_start_url(self, response: Any, **kwargs: Any) -> list[Any]:
            return self.parse_page(response)

        def parse_page(self, response: Any) -> list[Any]:
            counts["pages"] += 1
            return []

    settings = {
        "USER_AGENT": "stock-scrapy-bench",
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "REFERER_ENABLED": False,
        "RETRY_TIMES": 2,
        "DEPTH_PRIORITY": 1,
        "SCHEDULER_DISK_QUEUE": "scrapy.squeues.PickleFifoDiskQueue",
        "SCHEDULER_MEMORY_QUEUE": "scrapy.squeues.FifoMemoryQueue",
        "SCHEDULER_PRIORITY_QUEUE": "scrapy.pqueues.DownloaderAwarePriorityQueue",
        "LOG_LEVEL": "WARNING",
        "TELNETCONSOLE_ENABLED": False,
    }
    process = CrawlerProcess(settings, install_root_handler=True)
    crawler = process.create_crawler(StockSpider)
    started = time.monotonic()
    process.crawl(crawler)
    process.start()
    elapsed = time.monotonic() - started
    stats = crawler.stats.get_stats() if crawler.stats else {}
    counts["links"] = int(stats.get("request_scheduled_count", 0))
    return {**counts, "elapsed": elapsed}


def main(seeds_file: str, concurrency: int, per_host: int) -> int:
    """Entry of ``python -m bench stock-crawl``."""
    with open(seeds_file, encoding="utf-8") as stream:
        seeds = [line.strip() for line in stream if line.strip() and not line.startswith("#")]
    print(json.dumps(run_stock_crawl(seeds, concurrency, per_host)))
    return 0
