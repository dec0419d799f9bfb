"""Every default setting, one place, grouped by prefix.

Each can be overridden by an environment variable of the same name (where one
is listed in SPEC §5) or a CLI flag; ``linkgraph COMMAND --help`` shows the
resolved value.
"""

from __future__ import annotations

# -- LINKGRAPH_*: the crawl -------------------------------------------------
# Where the embedded index keeps its files (env LINKGRAPH_DATA_DIR).
LINKGRAPH_DATA_DIR = "./linkgraph-data"
# The robots.txt user agent token the crawler obeys.
LINKGRAPH_ROBOTS_TOKEN = "linkgraph"
# The User-Agent header sent with every request.
LINKGRAPH_USER_AGENT = "linkgraph/0.1 (+https://github.com/linkgraph/linkgraph; bot)"
# Pages per job; 0 means no limit.
LINKGRAPH_MAX_PAGES = 0
# Link hops from a seed (seeds are depth 0); -1 means no limit.
LINKGRAPH_MAX_DEPTH = -1
# Pages fetched per host (robots.txt aside), a bound on spider traps; 0 means no limit.
LINKGRAPH_MAX_PAGES_PER_HOST = 50_000
# Pages larger than this (bytes, after decompression) are not downloaded.
LINKGRAPH_MAX_PAGE_BYTES = 10 * 1024 * 1024
# Links longer than this are recorded but never followed.
LINKGRAPH_MAX_URL_LENGTH = 2048
# Links per page beyond this are dropped (and counted), a guard against hostile pages.
LINKGRAPH_MAX_LINKS_PER_PAGE = 20_000
# Concurrent requests in one process, all hosts together.
LINKGRAPH_CONCURRENCY = 32
# Concurrent requests to one host.
LINKGRAPH_CONCURRENCY_PER_HOST = 2
# Seconds between two requests to one host (AutoThrottle adapts from here).
LINKGRAPH_DOWNLOAD_DELAY = 0.5
# Seconds before a request is abandoned.
LINKGRAPH_DOWNLOAD_TIMEOUT = 30
# Seconds before a robots.txt request is abandoned (the host is then not crawled).
LINKGRAPH_ROBOTS_TIMEOUT = 10.0
# Refuse loopback/private/link-local/multicast targets
# (env LINKGRAPH_ALLOW_PRIVATE_NETWORKS=1 lifts it).
LINKGRAPH_ALLOW_PRIVATE_NETWORKS = False

# Address `linkgraph serve` listens on (env LINKGRAPH_API_HOST); loopback unless told.
LINKGRAPH_API_HOST = "127.0.0.1"
# Port of `linkgraph serve` (env LINKGRAPH_API_PORT).
LINKGRAPH_API_PORT = 8470

# -- CLICKHOUSE_*: the index ------------------------------------------------
# Database that holds linkgraph's tables.
CLICKHOUSE_DATABASE = "linkgraph"
# A ClickHouse server URL (env LINKGRAPH_CLICKHOUSE); empty means the embedded index.
CLICKHOUSE_URL = ""
# Pages buffered before one insert into the index.
CLICKHOUSE_BATCH_PAGES = 500
# Seconds a partial batch may wait before it is written anyway.
CLICKHOUSE_BATCH_SECONDS = 2.0
# Seconds a one-process crawl keeps retrying an unavailable index before it stops.
CLICKHOUSE_RETRY_SECONDS = 60.0
# Longest wait, in seconds, between two attempts at a write the index could not take.
CLICKHOUSE_MAX_BACKOFF = 10.0

# -- REDIS_* / KAFKA_*: distributed mode --------------------------------------
# Redis URL (env LINKGRAPH_REDIS).
REDIS_URL = "redis://127.0.0.1:6379/0"
# Kafka bootstrap servers (env LINKGRAPH_KAFKA).
KAFKA_BOOTSTRAP = "127.0.0.1:9092"
# Topic that carries page records (env LINKGRAPH_TOPIC).
KAFKA_TOPIC = "linkgraph.pages"
