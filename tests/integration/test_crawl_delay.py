"""robots.txt ``Crawl-delay`` in ``linkgraph crawl``, measured at the synthetic web's server.

``slow-site.com`` asks for 1 s between requests; ``stall-site.com`` asks for an
hour, which ``--max-crawl-delay`` caps. Everything else runs at ``--delay 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from linkgraph.demo.model import PageBuilder, RobotsRules, SyntheticWeb
from tests.integration.cluster import KAFKA, REDIS, Cluster, require_services
from tests.integration.conftest import Cli
from tests.integration.crawls import CRAWL_FLAGS
from tests.synthweb import ProxyServer

pytestmark = pytest.mark.integration

SLOW = "www.slow-site.com"
STALL = "www.stall-site.com"
PAGES = 4
CAP = 1.5


@dataclass(frozen=True, slots=True)
class DelayedRobots(RobotsRules):
    """A robots.txt that allows everything and asks for a Crawl-delay."""

    delay: str = "1"

    def render(self) -> str:
        return f"User-agent: *\nCrawl-delay: {self.delay}\nDisallow:\n"


def _site(web: SyntheticWeb, host: str, delay: str) -> None:
    web.domains[host] = host.removeprefix("www.")
    web.robots[host] = DelayedRobots(groups=(("*", ()),), delay=delay)
    for number in range(PAGES):
        page = PageBuilder(f"http://{host}/p{number}", f"page {number}")
        if number + 1 < PAGES:
            target = f"http://{host}/p{number + 1}"
            page.a(target, "next", target)
        web.add(page.resource())


def _delay_web() -> SyntheticWeb:
    seeds = (f"http://{SLOW}/p0", f"http://{STALL}/p0")
    web = SyntheticWeb(seeds=seeds, seed_urls=seeds)
    _site(web, SLOW, "1")
    _site(web, STALL, "3600")
    return web


def _check_gaps(log: list) -> None:  # type: ignore[type-arg]
    for host, want in ((SLOW, 1.0), (STALL, CAP)):
        # Every request to the host but robots.txt keeps the delay: the pages
        # and the host's /sitemap.xml (docs/crawling.md#sitemaps).
        times = sorted(
            r.time for r in log if f"//{host}/" in r.url and not r.url.endswith("/robots.txt")
        )
        assert len(times) == PAGES + 1, (host, len(times))
        gaps = [b - a for a, b in pairwise(times)]
        print(f"\n{host}: gaps between fetches {[round(g, 2) for g in gaps]} s")
        assert min(gaps) >= want - 0.05 and max(gaps) < want + 1.0, (host, gaps)


def test_crawl_delay_is_obeyed_and_capped(cli: Cli, tmp_path: Path) -> None:
    web = _delay_web()
    seeds_file = tmp_path / "seeds.txt"
    seeds_file.write_text(web.seeds_file_text(), encoding="utf-8")
    with ProxyServer(web) as proxy:
        cli.via(proxy).run(
            "crawl",
            "--seeds",
            str(seeds_file),
            "--data-dir",
            str(tmp_path / "index"),
            "--max-crawl-delay",
            str(CAP),
            *CRAWL_FLAGS,
            timeout=120,
        )
        log = proxy.log.entries()
    _check_gaps(log)


def test_crawl_delay_holds_across_the_workers_of_a_job(tmp_path: Path) -> None:
    require_services()
    web = _delay_web()
    with ProxyServer(web) as proxy:
        cluster = Cluster(proxy, tmp_path, REDIS, KAFKA)
        try:
            cluster.start_consumer()
            # Two workers: the delay is the cluster's rate limiter's, not each worker's.
            cluster.start_workers(2, "--max-crawl-delay", str(CAP))
            cluster.wait_for_workers()
            cluster.start_job(web, "delayed", "--rate", "100")
            cluster.wait_job("delayed", timeout="120")
        finally:
            cluster.stop_all()
        log = proxy.log.entries()
    _check_gaps(log)
