"""End to end: ``linkgraph crawl`` over the test web stores exactly what the docs/ pages say.

The real CLI crawls the synthetic test web through its loopback proxy into an
embedded index; ``linkgraph export edges`` must then give exactly the edges the
oracle (``tests.synthweb.oracle``) derives from the web's hand-written
expectations, and the proxy's request log must show each in-scope URL fetched
once and nothing else but robots.txt and each host's ``/sitemap.xml`` (once).
``linkgraph backlinks`` is spot-checked against the same edges, scope by scope.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.integration.answers import CONTEXT_FIELDS
from tests.integration.crawls import Crawl, crawl_web, json_records
from tests.synthweb import ProxyServer, SyntheticWeb, expect
from tests.synthweb.oracle import (
    EDGE_FIELDS,
    describe_edge_diff,
    edge_key,
    expected_backlinks,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Requests a URL answered with 5xx may get in all (a crawler may retry those).
MAX_REQUESTS_5XX = 3
#: ISO-8601 in UTC: a "Z" or "+00:00" offset (fractional seconds allowed).
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
RECORD_FIELDS = frozenset(EDGE_FIELDS) | {"first_seen", "last_seen"} | CONTEXT_FIELDS
BOOL_FIELDS = ("image", "nofollow", "ugc", "sponsored", "sitewide")


@pytest.fixture(scope="module")
def full_crawl(cli, synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path_factory) -> Crawl:
    """The test web crawled without limits."""
    return crawl_web(cli, synth_web, web_proxy, tmp_path_factory.mktemp("crawl-full"))


@pytest.fixture(scope="module")
def depth1_crawl(cli, synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path_factory) -> Crawl:
    """The test web crawled with ``--max-depth 1``."""
    return crawl_web(
        cli, synth_web, web_proxy, tmp_path_factory.mktemp("crawl-depth1"), max_depth=1
    )


def _request_problems(crawl: Crawl) -> list[str]:
    """How the proxy log departs from "each expected URL once, nothing else"."""
    web, expectation = crawl.web, crawl.expectation
    problems = []
    counts: Counter[str] = Counter()
    methods: dict[str, set[str]] = {}
    for entry in crawl.requests:
        if entry.method == "CONNECT":
            problems.append(f"CONNECT to {entry.url}: an https fetch was attempted")
            continue
        parts = urlsplit(entry.key)
        host = parts.hostname or ""
        if parts.path == "/robots.txt" and not parts.query:
            if web.domains.get(host) not in web.seed_domains:
                problems.append(f"robots.txt of out-of-scope host {host} was requested")
            continue
        counts[entry.key] += 1
        methods.setdefault(entry.key, set()).add(entry.method)
    for url in sorted(expectation.sitemaps):
        # docs/crawling.md#sitemaps: each host's /sitemap.xml, once (a 404 here).
        if counts.pop(url, 0) != 1:
            problems.append(f"sitemap {url} not requested exactly once")
    for url, count in sorted(counts.items()):
        if url not in expectation.fetched:
            if web.domains.get(urlsplit(url).hostname or "") not in web.seed_domains:
                why = "out of scope"
            elif url in expectation.robots_blocked:
                why = "disallowed by robots.txt"
            elif url in web.traps:
                why = "only linked where links must not be followed"
            else:
                why = "not reachable by the crawl's rules"
            problems.append(f"requested {url} ({why}) {count}x")
        elif url in expectation.retriable:
            if count > MAX_REQUESTS_5XX:
                problems.append(f"requested {url} (a 5xx) {count}x")
        elif count != 1:
            problems.append(f"requested {url} {count}x ({', '.join(sorted(methods[url]))})")
    for url in sorted(expectation.fetched - counts.keys()):
        problems.append(f"never requested {url} (depth {expectation.depth[url]})")
    return problems


def _assert_same_edges(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
    diff = describe_edge_diff(expected, actual)
    if diff:
        pytest.fail("exported edges differ from the oracle:\n" + diff, pytrace=False)


def _assert_no_problems(problems: list[str]) -> None:
    if problems:
        pytest.fail("the proxy log shows:\n" + "\n".join(problems), pytrace=False)


# -- the unlimited crawl --------------------------------------------------------------


def test_crawl_stores_exactly_the_expected_edges(full_crawl: Crawl) -> None:
    _assert_same_edges(full_crawl.expectation.edges, full_crawl.records)


def test_exported_records_have_the_spec_fields_and_utc_times(full_crawl: Crawl) -> None:
    assert full_crawl.records, "export edges printed nothing"
    for record in full_crawl.records:
        assert set(record) == RECORD_FIELDS, record
        for name in BOOL_FIELDS:
            assert isinstance(record[name], bool), (name, record)
        assert type(record["link_count"]) is int, record
        first, last = record["first_seen"], record["last_seen"]
        assert isinstance(first, str) and ISO_UTC.match(first), record
        assert isinstance(last, str) and ISO_UTC.match(last), record
        assert datetime.fromisoformat(first) <= datetime.fromisoformat(last), record


def test_crawl_fetches_each_expected_url_once_and_nothing_else(full_crawl: Crawl) -> None:
    _assert_no_problems(_request_problems(full_crawl))


def test_every_request_names_linkgraph(full_crawl: Crawl) -> None:
    agents = {entry.user_agent for entry in full_crawl.requests}
    assert agents
    assert all("linkgraph" in agent for agent in agents), agents


# -- a depth-limited crawl ----------------------------------------------------------


def test_depth_limited_crawl_stores_exactly_the_expected_edges(depth1_crawl: Crawl) -> None:
    _assert_same_edges(depth1_crawl.expectation.edges, depth1_crawl.records)


def test_depth_limited_crawl_fetches_exactly_the_expected_urls(depth1_crawl: Crawl) -> None:
    _assert_no_problems(_request_problems(depth1_crawl))


# -- a page-limited crawl, and a second crawl into the same index ---------------------

PAGE_LIMIT = 25
#: Requests the test web has seen when the SIGTERM test stops the crawl.
SIGTERM_AFTER_REQUESTS = 15


def test_page_limited_crawl_stores_whole_pages_within_the_limit(
    cli, synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path: Path
) -> None:
    # Which pages come first is the crawler's business; what it stores of
    # each page it keeps is not.
    crawl = crawl_web(cli, synth_web, web_proxy, tmp_path, extra=("--max-pages", str(PAGE_LIMIT)))
    full = expect(synth_web)
    requested = Counter(
        entry.key for entry in crawl.requests if urlsplit(entry.key).path != "/robots.txt"
    )
    allowed = full.fetched | full.sitemaps
    assert set(requested) <= allowed, set(requested) - allowed
    # Each URL once; a URL the web answers with 5xx may be retried (as in the full crawl).
    repeated = {
        url: count
        for url, count in requested.items()
        if count > (MAX_REQUESTS_5XX if url in full.retriable else 1)
    }
    assert not repeated, repeated
    sources = {record["source_url"] for record in crawl.records}
    assert 0 < len(sources) <= PAGE_LIMIT, sorted(sources)
    assert sources <= set(requested), sources - set(requested)
    expected = [edge for edge in full.edges if edge["source_url"] in sources]
    _assert_same_edges(expected, crawl.records)


def test_crawl_stopped_by_sigterm_stores_every_page_it_parsed(
    cli, synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path: Path
) -> None:
    # SIGTERM closes the spider: the pages still buffered for the index, and
    # the batches queued for its writer thread, are written before the exit.
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(synth_web.seeds_file_text(), encoding="utf-8")
    data_dir = tmp_path / "index"
    web_proxy.log.clear()
    process = subprocess.Popen(
        [
            *(str(cli.exe), "crawl", "--seeds", str(seeds), "--data-dir", str(data_dir), "-v"),
            *("--delay", "0.05", "--per-host", "1", "--no-autothrottle"),
        ],
        cwd=cli.workdir,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        deadline = time.monotonic() + 60
        while len(web_proxy.log) < SIGTERM_AFTER_REQUESTS and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert "crawl ended early: shutdown" in stderr, stderr[-3000:]
    stats = {
        name: int(value) for name, value in re.findall(r"'(linkgraph/[a-z_]+)': (\d+)", stderr)
    }
    full = expect(synth_web)
    assert 0 < stats["linkgraph/pages"] < len(full.fetched), stats
    assert stats["linkgraph/pages_written"] == stats["linkgraph/pages"], stats
    export = cli.run("export", "edges", "--format", "jsonl", "--data-dir", str(data_dir))
    records = [json.loads(line) for line in export.stdout.splitlines() if line.strip()]
    sources = {record["source_url"] for record in records}
    expected = [edge for edge in full.edges if edge["source_url"] in sources]
    _assert_same_edges(expected, records)


def test_second_crawl_keeps_first_seen_and_moves_last_seen(
    cli, synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path: Path
) -> None:
    data_dir = tmp_path / "index"
    first = crawl_web(cli, synth_web, web_proxy, tmp_path, max_depth=0, data_dir=data_dir)
    _assert_same_edges(first.expectation.edges, first.records)
    second = crawl_web(cli, synth_web, web_proxy, tmp_path, max_depth=1, data_dir=data_dir)
    _assert_same_edges(second.expectation.edges, second.records)
    before = {edge_key(record): record for record in first.records}
    for record in second.records:
        earlier = before.get(edge_key(record))
        if earlier is None:
            continue
        assert record["first_seen"] == earlier["first_seen"], (earlier, record)
        last_seen = datetime.fromisoformat(record["last_seen"])
        assert last_seen > datetime.fromisoformat(earlier["last_seen"]), (earlier, record)


# -- backlinks ------------------------------------------------------------------------

WWW = "http://www.alpha-shop.com"
BACKLINK_CASES = [
    pytest.param(["alpha-shop.com"], {"domain": "alpha-shop.com"}, id="bare-domain"),
    pytest.param(
        ["alpha-shop.com", "--include-internal"],
        {"domain": "alpha-shop.com", "include_internal": True},
        id="domain-internal",
    ),
    pytest.param(
        ["alpha-shop.com", "--dofollow-only"],
        {"domain": "alpha-shop.com", "dofollow_only": True},
        id="domain-dofollow",
    ),
    pytest.param(
        ["alpha-shop.com", "--scope", "domain", "--include-internal", "--dofollow-only"],
        {"domain": "alpha-shop.com", "include_internal": True, "dofollow_only": True},
        id="domain-internal-dofollow",
    ),
    pytest.param(
        ["www.alpha-shop.com", "--scope", "host"], {"host": "www.alpha-shop.com"}, id="host"
    ),
    pytest.param(
        ["www.alpha-shop.com", "--scope", "host", "--include-internal"],
        {"host": "www.alpha-shop.com", "include_internal": True},
        id="host-internal",
    ),
    pytest.param([f"{WWW}/catalog", "--scope", "url"], {"url": f"{WWW}/catalog"}, id="url"),
    pytest.param(
        [
            "HTTP://WWW.Alpha-Shop.com/catalog?utm_source=x#frag",
            "--scope",
            "url",
            "--include-internal",
        ],
        {"url": f"{WWW}/catalog", "include_internal": True},
        id="url-unnormalized-internal",
    ),
    pytest.param(
        [f"{WWW}/product/1", "--scope", "prefix"], {"prefix": f"{WWW}/product/1"}, id="prefix"
    ),
    pytest.param(
        [f"{WWW}/product/1", "--scope", "prefix", "--include-internal"],
        {"prefix": f"{WWW}/product/1", "include_internal": True},
        id="prefix-internal",
    ),
    pytest.param(["bücher-test.de"], {"domain": "xn--bcher-test-9db.de"}, id="idn-domain"),
    pytest.param(["bob-y.github.io"], {"domain": "bob-y.github.io"}, id="github-io-domain"),
]


@pytest.mark.parametrize(("args", "selection"), BACKLINK_CASES)
def test_backlinks(cli, full_crawl: Crawl, args: list[str], selection: dict[str, Any]) -> None:
    expected = expected_backlinks(full_crawl.expectation.edges, **selection)
    assert expected, "the test web should give this query an answer"
    result = cli.run(
        "backlinks",
        *args,
        "--format",
        "json",
        "--limit",
        "0",
        "--data-dir",
        str(full_crawl.data_dir),
    )
    records = json_records(result.stdout)
    for record in records:
        assert set(record) == RECORD_FIELDS, record
    diff = describe_edge_diff(expected, records)
    if diff:
        pytest.fail(f"`linkgraph backlinks {' '.join(args)}` differs:\n{diff}", pytrace=False)
