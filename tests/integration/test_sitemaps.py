"""Sitemaps through the real crawl: sitemap-only pages are found, sitemaps yield no edges.

The sitemap web (:mod:`tests.synthweb.sitemapweb`) hides pages that nothing
links to behind a robots.txt ``Sitemap:`` line, an index and a gzipped
sitemap, next to a sitemap over the URL cap, a gzip bomb over the size cap,
out-of-scope entries and a ``/sitemap.xml`` that robots.txt disallows.
``linkgraph crawl`` must fetch exactly the pages and sitemap files
:func:`~tests.synthweb.sitemapweb.pages` and ``SITEMAP_FILES`` say, store only
the edges of the pages, and read no sitemap with ``--no-sitemaps``; a
distributed job must crawl the same pages.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cluster import KAFKA, REDIS, Cluster, require_services
from tests.integration.conftest import Cli
from tests.integration.crawls import CRAWL_FLAGS
from tests.synthweb import ProxyServer, SyntheticWeb
from tests.synthweb.oracle import EDGE_FIELDS, describe_edge_diff, edge_key, page_edges
from tests.synthweb.sitemapweb import NEVER, SITEMAP_FILES, build_sitemap_web, pages

pytestmark = pytest.mark.integration

#: ``--max-sitemap-urls`` of the capped crawl: fewer than ``many.xml`` lists.
MAX_URLS = 5


@pytest.fixture(scope="module")
def sitemap_web() -> SyntheticWeb:
    return build_sitemap_web()


@pytest.fixture(scope="module")
def sitemap_proxy(sitemap_web: SyntheticWeb) -> Iterator[ProxyServer]:
    with ProxyServer(sitemap_web) as proxy:
        yield proxy


def _requests(proxy: ProxyServer) -> Counter[str]:
    return Counter(r.key for r in proxy.log.entries() if not r.key.endswith("/robots.txt"))


def _check_edges(web: SyntheticWeb, fetched: set[str], records: list[dict[str, Any]]) -> None:
    got = sorted(({k: r[k] for k in EDGE_FIELDS} for r in records), key=edge_key)
    want = sorted(
        ({k: e[k] for k in EDGE_FIELDS} for url in fetched for e in page_edges(web, url)),
        key=edge_key,
    )
    assert got == want, describe_edge_diff(want, got)
    assert not {r["source_url"] for r in records} & SITEMAP_FILES


def _crawl(
    cli: Cli, web: SyntheticWeb, proxy: ProxyServer, tmp_path: Path, *extra: str
) -> tuple[Counter[str], list[dict[str, Any]], str]:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(web.seeds_file_text(), encoding="utf-8")
    data = tmp_path / "index"
    crawler = cli.via(proxy)
    proxy.log.clear()
    flags = [flag for flag in CRAWL_FLAGS if flag != "--quiet"]
    result = crawler.run("crawl", "--seeds", str(seeds), "--data-dir", str(data), *flags, *extra)
    requested = _requests(proxy)
    export = crawler.run("export", "edges", "--format", "jsonl", "--data-dir", str(data))
    records = [json.loads(line) for line in export.stdout.splitlines() if line]
    return requested, records, result.stderr


def test_crawl_reads_sitemaps_within_their_caps(
    cli: Cli, sitemap_web: SyntheticWeb, sitemap_proxy: ProxyServer, tmp_path: Path
) -> None:
    requested, records, stderr = _crawl(
        cli, sitemap_web, sitemap_proxy, tmp_path, "--max-sitemap-urls", str(MAX_URLS)
    )
    want = pages(max_urls=MAX_URLS)
    assert set(requested) == want | SITEMAP_FILES, (
        f"missing {sorted((want | SITEMAP_FILES) - set(requested))}, "
        f"unexpected {sorted(set(requested) - want - SITEMAP_FILES)}"
    )
    assert all(count == 1 for count in requested.values()), requested
    assert not set(requested) & NEVER
    _check_edges(sitemap_web, want, records)
    # New from sitemaps: /only/1-3, /many/0-4, blog.map-site.com/hidden and
    # /private/secret (queued, then refused by robots.txt like a link would be);
    # /about was linked already, /only/4 is linked from /only/3.
    assert "10 URLs queued from sitemaps" in stderr.strip().splitlines()[-1], stderr[-2000:]


def test_crawl_without_sitemaps_reads_none(
    cli: Cli, sitemap_web: SyntheticWeb, sitemap_proxy: ProxyServer, tmp_path: Path
) -> None:
    requested, records, stderr = _crawl(cli, sitemap_web, sitemap_proxy, tmp_path, "--no-sitemaps")
    assert set(requested) == pages(sitemaps=False)
    _check_edges(sitemap_web, pages(sitemaps=False), records)
    assert "0 URLs queued from sitemaps" in stderr.strip().splitlines()[-1], stderr[-2000:]


@pytest.fixture
def sitemap_cluster(sitemap_proxy: ProxyServer, tmp_path: Path) -> Iterator[Cluster]:
    require_services()
    sitemap_proxy.log.clear()
    cluster = Cluster(sitemap_proxy, tmp_path, REDIS, KAFKA)
    yield cluster
    cluster.stop_all()


@pytest.mark.slow
def test_distributed_job_reads_sitemaps(
    sitemap_cluster: Cluster, sitemap_web: SyntheticWeb, sitemap_proxy: ProxyServer
) -> None:
    cluster = sitemap_cluster
    cluster.start_consumer()
    cluster.start_workers(2)
    cluster.wait_for_workers()
    cluster.start_job(sitemap_web, "sitemaps", "--rate", "50")
    status = cluster.wait_job("sitemaps")
    cluster.stop_all()
    requested = _requests(sitemap_proxy)
    want = pages()
    assert set(requested) == want | SITEMAP_FILES, (
        f"missing {sorted((want | SITEMAP_FILES) - set(requested))}, "
        f"unexpected {sorted(set(requested) - want - SITEMAP_FILES)}\n{cluster.logs()}"
    )
    # Each sitemap file read by one worker, once.
    assert all(requested[url] == 1 for url in SITEMAP_FILES), requested
    _check_edges(sitemap_web, want, cluster.export())
    assert status["pages"] == len(want) and status["errors"] == 0, status
    # Files read: the index, the gzipped pages, many.xml and the blog's; the
    # bomb is over the size cap. New URLs: /only/1-3, /private/secret (refused
    # by robots.txt when fetched), /many/0-7, blog's /hidden.
    assert status["sitemaps"] == 4, status
    assert status["sitemap_queued"] == 3 + 1 + 8 + 1, status
