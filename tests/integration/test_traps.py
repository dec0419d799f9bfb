"""Spider traps through the real crawl: the caps end it, every fetched page is stored right.

The trap web (:mod:`linkgraph.synthweb.trapweb`) is endless: an endless
calendar, session ids in paths, ever-longer URLs and a tree of subdomains.
``linkgraph crawl`` must finish anyway, bounded by ``--max-pages-per-host``,
the URL length limit and ``--max-depth``, and each page it fetched must hold
exactly the edges that page declares.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from linkgraph import defaults
from linkgraph.synthweb import ProxyServer, SyntheticWeb
from linkgraph.synthweb.oracle import EDGE_FIELDS, describe_edge_diff, edge_key, page_edges
from linkgraph.synthweb.trapweb import build_trap_web, subdomain_level
from tests.integration.conftest import Cli
from tests.integration.crawls import CRAWL_FLAGS

pytestmark = pytest.mark.integration

HOST_CAP = 40
MAX_DEPTH = 6


@pytest.fixture(scope="module")
def trap_web() -> SyntheticWeb:
    return build_trap_web()


@pytest.fixture(scope="module")
def trap_proxy(trap_web: SyntheticWeb) -> Iterator[ProxyServer]:
    with ProxyServer(trap_web) as proxy:
        yield proxy


def test_traps_are_bounded_and_the_crawl_finishes(
    cli: Cli, trap_web: SyntheticWeb, trap_proxy: ProxyServer, tmp_path: Path
) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(trap_web.seeds_file_text(), encoding="utf-8")
    data = tmp_path / "index"
    traps = cli.via(trap_proxy)
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
        *CRAWL_FLAGS,
        timeout=300,
    )
    assert "Traceback" not in result.stderr
    fetched = [r.url for r in trap_proxy.log.entries() if not r.url.endswith("/robots.txt")]
    per_host = Counter(urlsplit(url).hostname for url in fetched)

    # The per-host cap ended the calendar and the session ids: both were
    # endless, so each had exactly its cap of fetches.
    assert per_host["cal.trap-site.com"] == HOST_CAP, per_host
    assert per_host["shop.trap-site.com"] == HOST_CAP, per_host
    assert max(per_host.values()) <= HOST_CAP
    # Ever-longer URLs: links past the length limit are recorded, not followed.
    assert max(len(url) for url in fetched) <= defaults.LINKGRAPH_MAX_URL_LENGTH
    deep = [url for url in fetched if url.startswith("http://deep.")]
    assert deep and len(deep[-1]) + 301 > defaults.LINKGRAPH_MAX_URL_LENGTH
    # The subdomain tree: bounded by depth (n0 is one hop from the seed).
    levels = [subdomain_level(host or "") for host in per_host]
    tree = [level for level in levels if level is not None]
    assert max(tree) == MAX_DEPTH - 1 and len(tree) == 2**MAX_DEPTH - 1, sorted(tree)
    assert len(fetched) == len(set(fetched)), "a URL was fetched twice"

    export = traps.run("export", "edges", "--format", "jsonl", "--data-dir", str(data))
    records = [json.loads(line) for line in export.stdout.splitlines() if line]
    got = sorted(({k: r[k] for k in EDGE_FIELDS} for r in records), key=edge_key)
    want = sorted(
        ({k: e[k] for k in EDGE_FIELDS} for url in fetched for e in page_edges(trap_web, url)),
        key=edge_key,
    )
    assert got == want, describe_edge_diff(want, got)
    assert any(len(r["target_url"]) > defaults.LINKGRAPH_MAX_URL_LENGTH for r in records)
    print(f"\ntraps: {len(fetched)} pages fetched, {len(records)} edges, {len(per_host)} hosts")
