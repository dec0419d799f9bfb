"""``python -m linkgraph.bench run``: linkgraph's benchmarks beside their stock baselines.

One module per benchmark, each returning rows for one table:

- :mod:`~linkgraph.bench.extraction`: link extraction per core against
  Scrapy's ``LinkExtractor`` + ``canonicalize_url``;
- :mod:`~linkgraph.bench.crawl`: ``linkgraph crawl`` pages/s against a stock
  Scrapy ``CrawlSpider``, and the synthetic web proxy's own ceiling;
- :mod:`~linkgraph.bench.consumer`: the Kafka consumer's edges/s against a
  bare ``insert_arrow`` of the same rows, and Kafka bytes per link;
- :mod:`~linkgraph.bench.dupefilter`: Redis bytes per URL of the job Bloom
  filter against scrapy-redis's ``RFPDupeFilter``;
- :mod:`~linkgraph.bench.distributed`: two workers against one.

Every figure is a ratio against a baseline run beside it on the same
workload (:mod:`~linkgraph.bench.web`), medians of alternating runs, because
shared machines are noisy. ``make bench`` runs them all and rewrites the
table in README.md (:mod:`~linkgraph.bench.report`).
"""

from __future__ import annotations

#: Benchmarks in the order they run (cheap and service-free first).
BENCHMARKS = ("extraction", "crawl", "consumer", "dupefilter", "distributed")
