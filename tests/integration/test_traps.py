"""Spider traps through the real crawl: the caps end it, every fetched page is stored right.

With default settings the trap rules (crawler/traps.py) end each trap within
a few hundred fetches, while a host of thousands of distinct pages is crawled
whole (:func:`test_default_crawl_declines_the_traps`,
:func:`test_a_large_distinct_host_is_crawled_whole`).

The trap web (:mod:`tests.synthweb.trapweb`) is endless: an endless
calendar, session ids in paths, ever-longer URLs and a tree of subdomains.
A crawl must finish anyway, bounded by ``--max-pages-per-host``, the URL
length limit and ``--max-depth``, and each page it fetched must hold exactly
the edges that page declares. Both ways of crawling are tried: ``linkgraph
crawl`` in one process, and a distributed job (``job start``, two ``worker``
processes and a ``consume``r over the real Redis and Kafka), where the per-host
cap is the job's, counted across workers.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from linkcore import config
from tests.integration.cluster import KAFKA, REDIS, Cluster, require_services
from tests.integration.conftest import Cli
from tests.integration.crawls import CRAWL_FLAGS, json_records
from tests.synthweb import NOT_PAGES, ProxyServer, SyntheticWeb
from tests.synthweb.oracle import EDGE_FIELDS, describe_edge_diff, edge_key, page_edges
from tests.synthweb.trapweb import (
    CAL,
    DEEP,
    SEGMENT,
    SHOP,
    WWW,
    build_distinct_web,
    build_trap_and_distinct_web,
    build_trap_web,
    subdomain_level,
)

pytestmark = pytest.mark.integration

HOST_CAP = 40
MAX_DEPTH = 6
#: The trap hosts that only the per-host cap ends.
CAPPED = ("cal.trap-site.com", "shop.trap-site.com")


@pytest.fixture(scope="module")
def trap_web() -> SyntheticWeb:
    return build_trap_web()


@pytest.fixture(scope="module")
def trap_proxy(trap_web: SyntheticWeb) -> Iterator[ProxyServer]:
    with ProxyServer(trap_web) as proxy:
        yield proxy


def check_trap_crawl(
    web: SyntheticWeb, fetched: list[str], records: list[dict[str, Any]], max_depth: int
) -> Counter[str | None]:
    """Assert that a crawl of the trap web was bounded and stored right; pages per host.

    ``fetched`` are the page URLs the web served (robots.txt aside), ``records``
    the exported index.
    """
    per_host = Counter(urlsplit(url).hostname for url in fetched)
    # The per-host cap ended the calendar and the session ids: both were
    # endless, so each had exactly its cap of fetches.
    assert [per_host[host] for host in CAPPED] == [HOST_CAP, HOST_CAP], per_host
    assert max(per_host.values()) <= HOST_CAP
    # Ever-longer URLs: each hop down the chain, while within the length limit
    # and the depth; links past the limit are recorded, not followed.
    assert max(len(url) for url in fetched) <= config.LINKGRAPH_MAX_URL_LENGTH
    chain = [f"http://{DEEP}/l" + f"/{SEGMENT}" * hops for hops in range(1, max_depth + 1)]
    deep = [url for url in chain if len(url) <= config.LINKGRAPH_MAX_URL_LENGTH]
    assert sorted(url for url in fetched if url.startswith(f"http://{DEEP}/")) == deep
    # The subdomain tree: bounded by depth (n0 is one hop from the seed).
    levels = [subdomain_level(host or "") for host in per_host]
    tree = [level for level in levels if level is not None]
    assert max(tree) == max_depth - 1 and len(tree) == 2**max_depth - 1, sorted(tree)
    assert len(fetched) == len(set(fetched)), "a URL was fetched twice"

    got = sorted(({k: r[k] for k in EDGE_FIELDS} for r in records), key=edge_key)
    want = sorted(
        ({k: e[k] for k in EDGE_FIELDS} for url in fetched for e in page_edges(web, url)),
        key=edge_key,
    )
    assert got == want, describe_edge_diff(want, got)
    assert any(len(r["target_url"]) > config.LINKGRAPH_MAX_URL_LENGTH for r in records)
    return per_host


def test_traps_are_bounded_and_the_crawl_finishes(
    cli: Cli, trap_web: SyntheticWeb, trap_proxy: ProxyServer, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(trap_web.seeds_file_text(), encoding="utf-8")
    data = tmp_path / "index"
    traps = cli.via(trap_proxy)
    trap_proxy.log.clear()
    result = traps.run(
        "crawl",
        "--seeds",
        str(seeds),
        "--data-dir",
        str(data),
        "--max-pages-per-host",
        str(HOST_CAP),
        "--max-depth",
        str(MAX_DEPTH),
        # The caps alone, as without trap rules: the default crawl is tried below.
        "--no-trap-rules",
        *CRAWL_FLAGS,
        timeout=300,
    )
    assert "Traceback" not in result.stderr
    fetched = [r.url for r in trap_proxy.log.entries() if not r.url.endswith(NOT_PAGES)]
    export = traps.run("export", "edges", "--format", "jsonl", "--data-dir", str(data))
    records = [json.loads(line) for line in export.stdout.splitlines() if line]
    per_host = check_trap_crawl(trap_web, fetched, records, MAX_DEPTH)
    print(f"\ntraps: {len(fetched)} pages fetched, {len(records)} edges, {len(per_host)} hosts")


#: Fetches a trap may cost a default crawl: "a few hundred".
TRAP_FETCH_BOUND = 300
#: Pages of the large distinct host.
DISTINCT_PAGES = 3000


def test_default_crawl_declines_the_traps(
    cli: Cli, trap_web: SyntheticWeb, trap_proxy: ProxyServer, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(trap_web.seeds_file_text(), encoding="utf-8")
    data = tmp_path / "index"
    traps = cli.via(trap_proxy)
    trap_proxy.log.clear()
    flags = [flag for flag in CRAWL_FLAGS if flag != "--quiet"]
    result = traps.run("crawl", "--seeds", str(seeds), "--data-dir", str(data), *flags, timeout=300)
    assert "Traceback" not in result.stderr
    fetched = [r.url for r in trap_proxy.log.entries() if not r.url.endswith(NOT_PAGES)]
    per_host = Counter(urlsplit(url).hostname for url in fetched)
    tree = sum(n for host, n in per_host.items() if subdomain_level(host or "") is not None)
    trap_cost = {"cal": per_host[CAL], "shop": per_host[SHOP], "deep": per_host[DEEP]}
    trap_cost["hosts"] = tree
    print(f"\ndefault crawl of the trap web: fetches per trap {trap_cost}")
    print(result.stderr)
    assert all(n <= TRAP_FETCH_BOUND for n in trap_cost.values()), trap_cost
    assert per_host[WWW] == 2 and len(fetched) == len(set(fetched))
    # Each trap was declined by a rule, and the summary says so.
    for host, rule in (
        (CAL, "near-duplicates"),
        (SHOP, "near-duplicates"),
        (DEEP, "repeated-segments"),
        ("n#.hosts.trap-site.com", "near-duplicates"),
    ):
        assert re.search(
            rf"\b\d+ URLs declined as a trap on {re.escape(host)}: {rule}\n", result.stderr
        ), (host, rule)
    export = traps.run("export", "edges", "--format", "jsonl", "--data-dir", str(data))
    records = [json.loads(line) for line in export.stdout.splitlines() if line]
    got = sorted(({k: r[k] for k in EDGE_FIELDS} for r in records), key=edge_key)
    want = sorted(
        ({k: e[k] for k in EDGE_FIELDS} for url in fetched for e in page_edges(trap_web, url)),
        key=edge_key,
    )
    assert got == want, describe_edge_diff(want, got)


def test_a_large_distinct_host_is_crawled_whole(cli: Cli, tmp_path: Path) -> None:
    web = build_distinct_web(DISTINCT_PAGES)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(web.seeds_file_text(), encoding="utf-8")
    with ProxyServer(web) as proxy:
        result = cli.via(proxy).run(
            "crawl",
            "--seeds",
            str(seeds),
            "--data-dir",
            str(tmp_path / "index"),
            "--concurrency",
            "64",
            "--per-host",
            "32",
            *CRAWL_FLAGS,
            timeout=600,
        )
        assert "Traceback" not in result.stderr
        fetched = {r.url for r in proxy.log.entries() if not r.url.endswith(NOT_PAGES)}
    assert fetched == set(web.resources), len(set(web.resources) - fetched)
    print(f"\nlarge distinct host: {len(fetched)} of {len(web.resources)} pages crawled")


#: The distributed job's depth: one more than the ever-longer URLs can use, so
#: that the URL length limit, not the depth, ends that chain.
JOB_MAX_DEPTH = 7


@pytest.fixture
def trap_cluster(trap_proxy: ProxyServer, tmp_path: Path) -> Iterator[Cluster]:
    require_services()
    trap_proxy.log.clear()
    cluster = Cluster(trap_proxy, tmp_path, REDIS, KAFKA)
    yield cluster
    cluster.stop_all()


@pytest.mark.slow
def test_traps_are_bounded_in_a_distributed_job(
    trap_cluster: Cluster, trap_web: SyntheticWeb
) -> None:
    cluster = trap_cluster
    cluster.start_consumer()
    # Each worker fetches through a proxy of its own, so the logs tell whose
    # fetch each was: the per-host cap must hold for both together.
    with ProxyServer(trap_web) as second_proxy:
        cluster.start_workers(1)
        cluster.start_workers(1, proxy=second_proxy)
        cluster.wait_for_workers()
        cluster.start_job(
            trap_web,
            "traps",
            "--max-pages-per-host",
            str(HOST_CAP),
            "--max-depth",
            str(JOB_MAX_DEPTH),
            # The caps alone: the default rules are the next test's.
            "--no-trap-rules",
            # Slow enough per host that both workers get a share of each trap.
            "--rate",
            "20",
        )
        status = cluster.wait_job("traps")
        cluster.stop_all()
    by_worker = [
        [r.url for r in log if not r.url.endswith(NOT_PAGES)]
        for log in (cluster.requests(), second_proxy.log.entries())
    ]
    fetched = [url for urls in by_worker for url in urls]
    assert status["pages"] == len(fetched) and status["errors"] == 0, status
    records = cluster.export()
    per_host = check_trap_crawl(trap_web, fetched, records, JOB_MAX_DEPTH)
    deep = [url for url in fetched if url.startswith(f"http://{DEEP}/")]
    assert len(deep) < JOB_MAX_DEPTH, "the depth, not the URL length, ended the chain"
    capped = [
        Counter(host for url in urls if (host := urlsplit(url).hostname) in CAPPED)
        for urls in by_worker
    ]
    assert all(capped), f"a worker fetched nothing of the capped hosts: {capped}"

    # The index answers as the fetched pages say: who links to the home page
    # (every calendar month does, and the about page).
    home = f"http://{WWW}/"
    result = cluster.cli(
        "backlinks",
        home,
        "--scope",
        "url",
        "--include-internal",
        "--limit",
        "0",
        "--format",
        "json",
        "--data-dir",
        str(cluster.data),
    )
    answer = sorted(record["source_url"] for record in json_records(result.stdout))
    want = sorted(
        url for url in fetched for edge in page_edges(trap_web, url) if edge["target_url"] == home
    )
    assert answer == want and len(want) == HOST_CAP + 1, (answer, want)
    print(
        f"\ndistributed traps: {len(fetched)} pages fetched, {len(records)} edges, "
        f"{len(per_host)} hosts, {status['elapsed_seconds']} s; capped hosts by worker: "
        f"{[dict(c) for c in capped]}"
    )


#: Pages of the distinct host crawled beside the traps by a distributed job.
JOB_DISTINCT_PAGES = 1500


@pytest.mark.slow
def test_a_default_distributed_job_declines_the_traps_and_crawls_a_distinct_host_whole(
    tmp_path: Path,
) -> None:
    require_services()
    web = build_trap_and_distinct_web(JOB_DISTINCT_PAGES)
    with ProxyServer(web) as proxy:
        cluster = Cluster(proxy, tmp_path, REDIS, KAFKA)
        try:
            cluster.start_consumer()
            cluster.start_workers(2)
            cluster.wait_for_workers()
            cluster.start_job(web, "defaults", "--rate", "200")
            status = cluster.wait_job("defaults", timeout="400")
            table = cluster.cli("job", "status", "defaults").stdout
        finally:
            cluster.stop_all()
        fetched = [r.url for r in proxy.log.entries() if not r.url.endswith(NOT_PAGES)]
    per_host = Counter(urlsplit(url).hostname for url in fetched)
    tree = sum(n for host, n in per_host.items() if subdomain_level(host or "") is not None)
    trap_cost = {"cal": per_host[CAL], "shop": per_host[SHOP], "deep": per_host[DEEP]}
    trap_cost["hosts"] = tree
    big = {url for url in fetched if urlsplit(url).hostname == "www.big-site.com"}
    print(
        f"\ndistributed default job: fetches per trap {trap_cost}; big-site.com "
        f"{len(big)} of {JOB_DISTINCT_PAGES + 1} pages; declined {status['declined']}\n{table}"
    )
    assert all(n <= TRAP_FETCH_BOUND for n in trap_cost.values()), trap_cost
    assert big == {url for url in web.resources if "big-site.com" in url}
    assert status["declined"] > 0 and status["declined_as_traps"], status
    assert re.search(r"\b\d+ URLs declined as a trap on \S+: near-duplicates\n", table), table
    total = sum(count for count, _, _ in status["declined_as_traps"])
    assert total == status["declined"], status
