"""``python -m bench run``: linkgraph's benchmarks beside their stock baselines.

One module per benchmark, each returning rows for one table:

- :mod:`~bench.extraction`: link extraction per core against
  Scrapy's ``LinkExtractor`` + ``canonicalize_url``;
- :mod:`~bench.relevance`: the text profile's CPU per page against the
  whole extraction, and the bytes it adds to a page record and to ``pages``;
- :mod:`~bench.crawl`: ``linkgraph crawl`` pages/s against a stock
  Scrapy ``CrawlSpider``, and the synthetic web proxy's own ceiling;
- :mod:`~bench.traps`: a default crawl of the trap web beside a 5,000-page
  host of distinct pages: fetches per trap host, share of the host crawled;
- :mod:`~bench.consumer`: the Kafka consumer's edges/s against a
  bare ``insert_arrow`` of the same rows, and Kafka bytes per link;
- :mod:`~bench.dupefilter`: Redis bytes per URL of the job Bloom
  filter against scrapy-redis's ``RFPDupeFilter``;
- :mod:`~bench.frontier`: the frontier alone over 1, 2 and 4 Redis
  shards of its own (simulated pages): pages/s, Redis CPU and round trips
  per page, against the frontier as it was;
- :mod:`~bench.distributed`: two workers against one, and Redis CPU per page;
- :mod:`~bench.revisit`: bytes downloaded and CPU seconds of a revisit of an
  unchanged site (every page a 304) against a re-crawl without validators;
- :mod:`~bench.storage`: the index's bytes on disk per edge with each link's
  location and texts against the same graph without them;
- :mod:`~bench.ingest`: WARC and WAT pages per CPU second against warcio +
  BeautifulSoup(lxml) / json, as cc-pyspark reads Common Crawl.

Every figure is a ratio against a baseline run beside it on the same
workload (:mod:`~bench.web`), medians of alternating runs, because
shared machines are noisy. ``make bench`` runs them all and rewrites the
table in README.md (:mod:`~bench.report`).

``python -m bench.query generate|run`` (``make bench-query``) is the query
path at scale: a generated link graph of 10⁸ edges, queried through
``linkgraph serve`` (:mod:`~bench.query`). Both share :mod:`~bench.common`:
results, statistics, child processes, the machine and the HTTP client.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The checkout the benchmarks run from (they are not part of the installed package).
ROOT = Path(__file__).resolve().parent.parent
# Benchmarks start child processes (`python -m bench …`) in other folders: the
# checkout goes on their module path.
os.environ["PYTHONPATH"] = os.pathsep.join(
    part for part in (str(ROOT), os.environ.get("PYTHONPATH", "")) if part
)

#: Benchmarks in the order they run (cheap and service-free first).
BENCHMARKS = (
    "extraction",
    "relevance",
    "crawl",
    "traps",
    "consumer",
    "dupefilter",
    "frontier",
    "distributed",
    "revisit",
    "storage",
    "ingest",
)
