"""Scrapy settings for linkgraph crawls (``scrapy.cfg`` points here).

``linkgraph crawl`` and ``linkgraph worker`` start from these and override what
their flags set. Politeness defaults are for the open web; tests and demos on a
loopback web lower them with flags.
"""

from __future__ import annotations

from linkcore import config

BOT_NAME = "linkgraph"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = config.LINKGRAPH_USER_AGENT
ROBOTSTXT_OBEY = True
# robots.txt groups are matched against this token, not the whole User-Agent.
ROBOTSTXT_USER_AGENT = config.LINKGRAPH_ROBOTS_TOKEN

# The spider handles 3xx itself so that every redirect becomes an edge, and it
# sees every status so that 404s and 500s are recorded as pages.
REDIRECT_ENABLED = False
METAREFRESH_ENABLED = False
HTTPERROR_ALLOW_ALL = True
COOKIES_ENABLED = False
# A backlink index wants links, not sessions: no referer, no cookies.
REFERER_ENABLED = False

CONCURRENT_REQUESTS = config.LINKGRAPH_CONCURRENCY
CONCURRENT_REQUESTS_PER_DOMAIN = config.LINKGRAPH_CONCURRENCY_PER_HOST
DOWNLOAD_DELAY = config.LINKGRAPH_DOWNLOAD_DELAY
RANDOMIZE_DOWNLOAD_DELAY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = config.LINKGRAPH_DOWNLOAD_DELAY
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = config.LINKGRAPH_DOWNLOAD_TIMEOUT
DOWNLOAD_MAXSIZE = config.LINKGRAPH_MAX_PAGE_BYTES
DOWNLOAD_WARNSIZE = 0
RETRY_TIMES = 2
# A response yields one page record and its follow-up requests. Scrapy starts
# CONCURRENT_ITEMS asyncio tasks per response to handle its outputs in
# parallel (default 100); with one page record per response, a hundred tasks
# bought nothing and cost about a sixth of a crawl's CPU time.
CONCURRENT_ITEMS = 1

# Breadth-first and fair across hosts: FIFO queues, downloader-aware priorities.
DEPTH_PRIORITY = 1
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.DownloaderAwarePriorityQueue"
# Dedupe by normalized URL: each is fetched once per crawl (docs/crawling.md#each-url-once).
DUPEFILTER_CLASS = "crawler.dupefilter.URLDupeFilter"

SPIDER_MIDDLEWARES = {
    # Depth and URL length are the spider's own limits (a redirect hop keeps
    # its depth; over-long links are still recorded as edges).
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
}
DOWNLOADER_MIDDLEWARES = {
    # Before robots.txt: a URL declined as a trap costs no robots.txt fetch.
    "crawler.middlewares.TrapMiddleware": 50,
    # robots.txt by RFC 9309 (5xx or unreachable: disallow; redirects followed).
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.robots.RFC9309RobotsMiddleware": 100,
    # After HttpProxyMiddleware (750), so it knows whether a proxy is in use.
    "crawler.middlewares.PrivateNetworkMiddleware": 760,
    # Last before the download: only requests that will really go out count.
    "crawler.middlewares.HostPageCapMiddleware": 780,
}
ITEM_PIPELINES = {
    "pipelines.index.IndexPipeline": 300,
}
EXTENSIONS = {
    "crawler.extensions.Progress": 500,
    # A crawler opens no ports of its own: no telnet console, no remote control.
    "scrapy.extensions.telnet.TelnetConsole": None,
    "scrapy.extensions.remote_control.RemoteControl": None,
}

LOG_LEVEL = "INFO"
TELNETCONSOLE_ENABLED = False

# -- linkgraph's own settings (see linkcore/config.py) ----------------------
LINKGRAPH_MAX_PAGES = config.LINKGRAPH_MAX_PAGES
LINKGRAPH_MAX_DEPTH = config.LINKGRAPH_MAX_DEPTH
LINKGRAPH_MAX_PAGES_PER_HOST = config.LINKGRAPH_MAX_PAGES_PER_HOST
LINKGRAPH_MAX_URL_LENGTH = config.LINKGRAPH_MAX_URL_LENGTH
LINKGRAPH_MAX_LINKS_PER_PAGE = config.LINKGRAPH_MAX_LINKS_PER_PAGE
LINKGRAPH_ALLOW_PRIVATE_NETWORKS = config.LINKGRAPH_ALLOW_PRIVATE_NETWORKS
LINKGRAPH_MAX_CRAWL_DELAY = config.LINKGRAPH_MAX_CRAWL_DELAY
LINKGRAPH_TRAP_NEAR_DUPLICATES = config.LINKGRAPH_TRAP_NEAR_DUPLICATES
LINKGRAPH_TRAP_PATTERN_BUDGET = config.LINKGRAPH_TRAP_PATTERN_BUDGET
LINKGRAPH_TRAP_REPEATED_SEGMENTS = config.LINKGRAPH_TRAP_REPEATED_SEGMENTS
LINKGRAPH_TRAP_QUERY_PARAMS = config.LINKGRAPH_TRAP_QUERY_PARAMS
LINKGRAPH_SITEMAPS = config.LINKGRAPH_SITEMAPS
LINKGRAPH_SITEMAP_MAX_BYTES = config.LINKGRAPH_SITEMAP_MAX_BYTES
LINKGRAPH_SITEMAP_MAX_URLS = config.LINKGRAPH_SITEMAP_MAX_URLS
LINKGRAPH_SITEMAPS_PER_HOST = config.LINKGRAPH_SITEMAPS_PER_HOST
LINKGRAPH_DATA_DIR = ""
LINKGRAPH_CLICKHOUSE = ""
LINKGRAPH_PROGRESS = False
