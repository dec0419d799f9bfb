"""Every setting, one place, grouped by prefix; and the one reader of the environment.

Each setting is declared once below with its default, its meaning, its
environment variable (where it has one) and the CLI flags that set it. The
module-level constant of the same name is the default; ``SETTINGS`` holds
every declaration (``docs/configuration.md`` is its table, kept equal by a
test: ``python -m linkcore.config`` prints it).

A setting with an environment variable also has a :class:`Setting` handle
(``DATA_DIR``, ``REDIS``, ``KAFKA``, …: the variable's name without
``LINKGRAPH_``) whose :meth:`Setting.resolve` applies flag > environment >
default, with the one parsing of the variable's text. No other module reads a
setting from the environment; ``linkgraph COMMAND --help`` shows
:meth:`Setting.now`. (Names such as ``LINKGRAPH_MAX_LINKS_PER_PAGE`` or
``KAFKA_PARTITIONS`` are also Scrapy settings of a crawl, read where the crawl
is built, with these defaults.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, cast

from linkcore.errors import ConfigError

T = TypeVar("T")


def _switch(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("is not a whole number") from None
    if not 0 <= value <= 65535:
        raise ValueError("is not a port (0 to 65535)")
    return value


def _log_format(raw: str) -> str:
    # Anything but "json" has always meant the one-line text format.
    return "json" if raw.strip().lower() == "json" else "text"


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting(Generic[T]):
    """One setting: its name, default, meaning, environment variable and flags.

    ``shown`` is how the docs and ``--help`` show the default when its value
    says little (an empty URL means the embedded index). ``parse`` turns the
    environment variable's text into a value, raising ValueError with the
    reason when it cannot; without it the text is the value.
    """

    name: str
    default: T
    meaning: str
    env: str = ""
    flags: tuple[str, ...] = ()
    parse: Callable[[str], T] | None = None
    shown: str = ""

    def from_env(self) -> T | None:
        """The environment variable's value, or None when it is unset or empty.

        Raises :class:`ConfigError` (one line) when its text is not a value.
        """
        raw = os.environ.get(self.env, "") if self.env else ""
        if not raw:
            return None
        if self.parse is None:
            return cast(T, raw)
        try:
            return self.parse(raw)
        except ValueError as error:
            raise ConfigError(f"{self.env}={raw!r} {error}") from None

    def resolve(self, flag_value: T | None = None) -> T:
        """The flag's value if it was given, else the environment's, else the default.

        A flag was not given when its value is None, an empty string or
        False (a switch left off): argparse's "not on the command line".
        """
        if flag_value is not None and flag_value != "" and flag_value is not False:
            return flag_value
        from_env = self.from_env()
        return self.default if from_env is None else from_env

    def now(self) -> str:
        """The value without a flag, as ``--help`` shows it (``now: …``)."""
        try:
            value = self.resolve()
        except ConfigError as error:
            return f"invalid, {error}"
        return show(value, self.shown)


def show(value: object, shown: str = "") -> str:
    """A setting's value as people read it: on/off, or ``shown`` when empty."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value == "" and shown:
        return shown
    return str(value)


#: Every declared setting by name, in declaration order.
SETTINGS: Final[dict[str, Setting[Any]]] = {}


def _declare(
    name: str,
    default: T,
    meaning: str,
    *,
    env: str = "",
    flags: tuple[str, ...] = (),
    parse: Callable[[str], T] | None = None,
    shown: str = "",
) -> T:
    """Record the setting ``name`` in :data:`SETTINGS`; returns its default.

    Without ``parse`` the environment variable's text is the value.
    """
    SETTINGS[name] = Setting(
        name=name, default=default, meaning=meaning, env=env, flags=flags, parse=parse, shown=shown
    )
    return default


# -- LINKGRAPH_*: the crawl ---------------------------------------------------------
LINKGRAPH_ROBOTS_TOKEN: Final = _declare(
    "LINKGRAPH_ROBOTS_TOKEN", "linkgraph", "the robots.txt user agent token the crawler obeys"
)
LINKGRAPH_USER_AGENT: Final = _declare(
    "LINKGRAPH_USER_AGENT",
    "linkgraph/0.1 (+https://github.com/linkgraph/linkgraph; bot)",
    "the User-Agent header sent with every request",
    flags=("--user-agent",),
)
LINKGRAPH_MAX_PAGES: Final = _declare(
    "LINKGRAPH_MAX_PAGES", 0, "pages per crawl or job; 0 means no limit", flags=("--max-pages",)
)
LINKGRAPH_MAX_DEPTH: Final = _declare(
    "LINKGRAPH_MAX_DEPTH",
    -1,
    "link hops from a seed (seeds are depth 0); -1 means no limit",
    flags=("--max-depth",),
)
LINKGRAPH_MAX_PAGES_PER_HOST: Final = _declare(
    "LINKGRAPH_MAX_PAGES_PER_HOST",
    50_000,
    "pages fetched per host (job-wide in a job), a bound on spider traps; 0 means no limit",
    flags=("--max-pages-per-host",),
)
LINKGRAPH_MAX_PAGE_BYTES: Final = _declare(
    "LINKGRAPH_MAX_PAGE_BYTES",
    10 * 1024 * 1024,
    "pages larger than this (bytes, after decompression) are not downloaded",
)
LINKGRAPH_MAX_URL_LENGTH: Final = _declare(
    "LINKGRAPH_MAX_URL_LENGTH", 2048, "links longer than this are recorded but never followed"
)
LINKGRAPH_MAX_LINKS_PER_PAGE: Final = _declare(
    "LINKGRAPH_MAX_LINKS_PER_PAGE",
    20_000,
    "links per page beyond this are dropped (and counted), a guard against hostile pages",
)
LINKGRAPH_CONCURRENCY: Final = _declare(
    "LINKGRAPH_CONCURRENCY",
    32,
    "concurrent requests in one process, all hosts together",
    flags=("--concurrency",),
)
LINKGRAPH_CONCURRENCY_PER_HOST: Final = _declare(
    "LINKGRAPH_CONCURRENCY_PER_HOST", 2, "concurrent requests to one host", flags=("--per-host",)
)
LINKGRAPH_DOWNLOAD_DELAY: Final = _declare(
    "LINKGRAPH_DOWNLOAD_DELAY",
    0.5,
    "seconds between two requests to one host (AutoThrottle adapts from here)",
    flags=("--delay",),
)
LINKGRAPH_DOWNLOAD_TIMEOUT: Final = _declare(
    "LINKGRAPH_DOWNLOAD_TIMEOUT", 30, "seconds before a request is abandoned", flags=("--timeout",)
)
LINKGRAPH_ROBOTS_TIMEOUT: Final = _declare(
    "LINKGRAPH_ROBOTS_TIMEOUT",
    10.0,
    "seconds before a robots.txt request is abandoned (the host is then not crawled)",
)
LINKGRAPH_MAX_CRAWL_DELAY: Final = _declare(
    "LINKGRAPH_MAX_CRAWL_DELAY",
    30.0,
    "the most seconds a robots.txt Crawl-delay may set between requests to one host",
    flags=("--max-crawl-delay",),
)
LINKGRAPH_TRAP_NEAR_DUPLICATES: Final = _declare(
    "LINKGRAPH_TRAP_NEAR_DUPLICATES",
    30,
    "near-identical pages of one URL template (more than its distinct ones) before its URLs "
    "are declined as a trap; 0 turns the rule off",
    flags=("--trap-near-duplicates", "--no-trap-rules"),
)
LINKGRAPH_TRAP_PATTERN_BUDGET: Final = _declare(
    "LINKGRAPH_TRAP_PATTERN_BUDGET",
    10_000,
    "URLs admitted per URL template (numbers and tokens masked); 0 means no budget",
    flags=("--trap-pattern-budget", "--no-trap-rules"),
)
LINKGRAPH_TRAP_REPEATED_SEGMENTS: Final = _declare(
    "LINKGRAPH_TRAP_REPEATED_SEGMENTS",
    3,
    "paths repeating a run of segments this many times in a row are declined as a trap; "
    "0 turns the rule off",
    flags=("--trap-repeated-segments", "--no-trap-rules"),
)
LINKGRAPH_TRAP_QUERY_PARAMS: Final = _declare(
    "LINKGRAPH_TRAP_QUERY_PARAMS",
    12,
    "URLs with more query parameters (or a path with 8 times as many parameter sets) are "
    "declined as a trap; 0 turns the rule off",
    flags=("--trap-query-params", "--no-trap-rules"),
)
LINKGRAPH_SITEMAPS: Final = _declare(
    "LINKGRAPH_SITEMAPS",
    True,
    "read the sitemaps of every in-scope host the crawl reaches and queue their in-scope URLs"
    " at depth 1",
    env="LINKGRAPH_SITEMAPS",
    flags=("--no-sitemaps",),
    parse=_switch,
)
LINKGRAPH_SITEMAP_MAX_BYTES: Final = _declare(
    "LINKGRAPH_SITEMAP_MAX_BYTES",
    10 * 1024 * 1024,
    "sitemap files larger than this (bytes, after decompression) are not read",
)
LINKGRAPH_SITEMAP_MAX_URLS: Final = _declare(
    "LINKGRAPH_SITEMAP_MAX_URLS",
    50_000,
    "URLs read from one sitemap file (sitemaps.org's limit); the rest are ignored",
    flags=("--max-sitemap-urls",),
)
LINKGRAPH_SITEMAPS_PER_HOST: Final = _declare(
    "LINKGRAPH_SITEMAPS_PER_HOST",
    100,
    "sitemap files read per host, indexes and their children together (job-wide in a job)",
    flags=("--max-sitemaps-per-host",),
)
LINKGRAPH_ALLOW_PRIVATE_NETWORKS: Final = _declare(
    "LINKGRAPH_ALLOW_PRIVATE_NETWORKS",
    False,
    "crawl loopback/private/link-local/multicast targets too (refused unless on)",
    env="LINKGRAPH_ALLOW_PRIVATE_NETWORKS",
    flags=("--allow-private-networks",),
    parse=_switch,
)
LINKGRAPH_DATA_DIR: Final = _declare(
    "LINKGRAPH_DATA_DIR",
    "./linkgraph-data",
    "where the embedded index keeps its files",
    env="LINKGRAPH_DATA_DIR",
    flags=("--data-dir",),
)

# -- LINKGRAPH_*: distributed jobs and services -----------------------------------
LINKGRAPH_RATE: Final = _declare(
    "LINKGRAPH_RATE",
    1.0,
    "requests per second per host in a job, all workers together",
    flags=("--rate",),
)
LINKGRAPH_EXPECTED_URLS: Final = _declare(
    "LINKGRAPH_EXPECTED_URLS",
    1_000_000,
    "URLs a job's Bloom filter is sized for (at 0.1% false positives)",
    flags=("--expected-urls",),
)
LINKGRAPH_LEASE_SECONDS: Final = _declare(
    "LINKGRAPH_LEASE_SECONDS",
    15.0,
    "seconds before a request taken by a dead worker is handed out again (live workers renew"
    " their leases every third of it)",
    flags=("--lease",),
)
LINKGRAPH_REDIS_RETRY_SECONDS: Final = _declare(
    "LINKGRAPH_REDIS_RETRY_SECONDS",
    60.0,
    "seconds a worker keeps retrying an unavailable Redis before it gives up an operation",
)
LINKGRAPH_METRICS_PORT: Final = _declare(
    "LINKGRAPH_METRICS_PORT",
    0,
    "port of a worker's or consumer's Prometheus metrics; 0 means none",
    flags=("--metrics-port",),
)
LINKGRAPH_LOG_FORMAT: Final = _declare(
    "LINKGRAPH_LOG_FORMAT",
    "text",
    "log lines as one-line text, or one JSON object each (json)",
    env="LINKGRAPH_LOG_FORMAT",
    parse=_log_format,
)
LINKGRAPH_DEBUG: Final = _declare(
    "LINKGRAPH_DEBUG",
    False,
    "errors with their tracebacks, for bug reports",
    env="LINKGRAPH_DEBUG",
    parse=_switch,
)
LINKGRAPH_API_HOST: Final = _declare(
    "LINKGRAPH_API_HOST",
    "127.0.0.1",
    "address `linkgraph serve` listens on; loopback unless told",
    env="LINKGRAPH_API_HOST",
    flags=("--host",),
)
LINKGRAPH_API_PORT: Final = _declare(
    "LINKGRAPH_API_PORT",
    8470,
    "port of `linkgraph serve`; 0 means any free one",
    env="LINKGRAPH_API_PORT",
    flags=("--port",),
    parse=_port,
)
LINKGRAPH_API_TOKEN: Final = _declare(
    "LINKGRAPH_API_TOKEN",
    "",
    "bearer token every request to `linkgraph serve` must carry",
    env="LINKGRAPH_API_TOKEN",
    flags=("--token",),
    shown="none",
)
LINKGRAPH_DEMO_DIR: Final = _declare(
    "LINKGRAPH_DEMO_DIR",
    ".run/demo",
    "where `make demo` keeps its seeds and index",
    env="LINKGRAPH_DEMO_DIR",
)

# -- CLICKHOUSE_*: the index --------------------------------------------------------
CLICKHOUSE_URL: Final = _declare(
    "CLICKHOUSE_URL",
    "",
    "a ClickHouse server, http://HOST:8123/DB, instead of the embedded index",
    env="LINKGRAPH_CLICKHOUSE",
    flags=("--clickhouse",),
    shown="unset, embedded",
)
CLICKHOUSE_DATABASE: Final = _declare(
    "CLICKHOUSE_DATABASE", "linkgraph", "database that holds linkgraph's tables"
)
CLICKHOUSE_BATCH_PAGES: Final = _declare(
    "CLICKHOUSE_BATCH_PAGES", 500, "pages buffered before one insert", flags=("--batch-pages",)
)
CLICKHOUSE_BATCH_SECONDS: Final = _declare(
    "CLICKHOUSE_BATCH_SECONDS",
    2.0,
    "seconds a partial batch may wait before it is written anyway",
    flags=("--batch-seconds",),
)
CLICKHOUSE_RETRY_SECONDS: Final = _declare(
    "CLICKHOUSE_RETRY_SECONDS",
    60.0,
    "seconds a one-process crawl keeps retrying an unavailable index before it stops",
)
CLICKHOUSE_MAX_BACKOFF: Final = _declare(
    "CLICKHOUSE_MAX_BACKOFF",
    10.0,
    "longest wait, in seconds, between two attempts at a write the index could not take",
)

# -- REDIS_*: the distributed frontier ---------------------------------------------
REDIS_URL: Final = _declare(
    "REDIS_URL",
    "redis://127.0.0.1:6379/0",
    "Redis, which holds jobs and their frontiers; several URLs, comma-separated, shard the"
    " frontier by host (the first also holds the jobs)",
    env="LINKGRAPH_REDIS",
    flags=("--redis",),
)
REDIS_KEY_PREFIX: Final = _declare(
    "REDIS_KEY_PREFIX",
    "lg:",
    "prefix of every Redis key, so that deployments or test runs can share one Redis",
    env="LINKGRAPH_REDIS_PREFIX",
    flags=("--redis-prefix",),
)

# -- KAFKA_*: the page topic --------------------------------------------------------
KAFKA_BOOTSTRAP: Final = _declare(
    "KAFKA_BOOTSTRAP",
    "127.0.0.1:9092",
    "Kafka bootstrap servers, host:port[,host:port…]",
    env="LINKGRAPH_KAFKA",
    flags=("--kafka",),
)
KAFKA_TOPIC: Final = _declare(
    "KAFKA_TOPIC",
    "linkgraph.pages",
    "topic that carries page records (dead letters go to TOPIC.dlq)",
    env="LINKGRAPH_TOPIC",
    flags=("--topic",),
)
KAFKA_GROUP: Final = _declare(
    "KAFKA_GROUP",
    "linkgraph-index",
    "consumer group that writes the index (`job wait` watches its lag)",
    flags=("--group",),
)
KAFKA_PARTITIONS: Final = _declare(
    "KAFKA_PARTITIONS",
    8,
    "partitions of a topic linkgraph creates; bounds the consumers that share work",
)
KAFKA_REPLICATION_FACTOR: Final = _declare(
    "KAFKA_REPLICATION_FACTOR", 1, "replicas of each partition of a topic linkgraph creates"
)
KAFKA_COMPRESSION: Final = _declare(
    "KAFKA_COMPRESSION",
    "auto",
    "batch compression of produced messages; auto is zstd if zstandard is installed, else gzip",
)
KAFKA_LINGER_MS: Final = _declare(
    "KAFKA_LINGER_MS", 20, "milliseconds the producer waits to fill a batch before sending it"
)
KAFKA_MAX_MESSAGE_BYTES: Final = _declare(
    "KAFKA_MAX_MESSAGE_BYTES",
    8 * 1024 * 1024,
    "largest page message (bytes of JSON); also the topics' max.message.bytes",
)
KAFKA_CONNECT_TIMEOUT: Final = _declare(
    "KAFKA_CONNECT_TIMEOUT", 10.0, "seconds to reach a broker before giving up"
)
KAFKA_FLUSH_TIMEOUT: Final = _declare(
    "KAFKA_FLUSH_TIMEOUT", 30.0, "seconds a stopping worker waits for outstanding deliveries"
)
KAFKA_OUTAGE_SECONDS: Final = _declare(
    "KAFKA_OUTAGE_SECONDS",
    60.0,
    "seconds a page waits for an unavailable broker before it is failed",
)


# -- the environment: one handle per variable ---------------------------------------
# Typed handles for the settings above that have an environment variable.
DATA_DIR: Final[Setting[str]] = SETTINGS["LINKGRAPH_DATA_DIR"]
ALLOW_PRIVATE_NETWORKS: Final[Setting[bool]] = SETTINGS["LINKGRAPH_ALLOW_PRIVATE_NETWORKS"]
SITEMAPS: Final[Setting[bool]] = SETTINGS["LINKGRAPH_SITEMAPS"]
LOG_FORMAT: Final[Setting[str]] = SETTINGS["LINKGRAPH_LOG_FORMAT"]
DEBUG: Final[Setting[bool]] = SETTINGS["LINKGRAPH_DEBUG"]
API_HOST: Final[Setting[str]] = SETTINGS["LINKGRAPH_API_HOST"]
API_PORT: Final[Setting[int]] = SETTINGS["LINKGRAPH_API_PORT"]
API_TOKEN: Final[Setting[str]] = SETTINGS["LINKGRAPH_API_TOKEN"]
DEMO_DIR: Final[Setting[str]] = SETTINGS["LINKGRAPH_DEMO_DIR"]
CLICKHOUSE: Final[Setting[str]] = SETTINGS["CLICKHOUSE_URL"]
REDIS: Final[Setting[str]] = SETTINGS["REDIS_URL"]
REDIS_PREFIX: Final[Setting[str]] = SETTINGS["REDIS_KEY_PREFIX"]
KAFKA: Final[Setting[str]] = SETTINGS["KAFKA_BOOTSTRAP"]
TOPIC: Final[Setting[str]] = SETTINGS["KAFKA_TOPIC"]


def markdown_table() -> str:
    """Every setting as the Markdown table of ``docs/configuration.md``."""
    lines = [
        "| setting | flag | environment | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for setting in SETTINGS.values():
        flags = ", ".join(f"`{flag}`" for flag in setting.flags) or "—"
        env = f"`{setting.env}`" if setting.env else "—"
        value = show(setting.default, setting.shown)
        default = value if value in (setting.shown, "on", "off") else f"`{value}`"
        meaning = setting.meaning.replace("|", "\\|")
        lines.append(f"| `{setting.name}` | {flags} | {env} | {default} | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
