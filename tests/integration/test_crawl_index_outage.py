"""``linkgraph crawl`` with an index that is unavailable for a while, or refuses writes.

The crawl runs in a subprocess (Scrapy's reactor runs once per process) with
the real pipeline and the real embedded index, wrapped so that inserts fail:
for the first few attempts (unavailable: retried), or from the second batch on
(refused: the crawl stops). While retries wait, downloads must go on — the
wait is a timer on the reactor, not a sleep in it — and in the end the index
must hold exactly the oracle's edges.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Cli, _cli_env
from tests.synthweb import ProxyServer, SyntheticWeb, expect
from tests.synthweb.oracle import EDGE_FIELDS, describe_edge_diff, edge_key

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

CRAWL = """
import json, sys, time
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from crawler.spiders.outlinks import OutlinksSpider
from linkcore.errors import IndexError_, IndexUnavailable
from linkindex.client import IndexLocation, open_index

import pipelines.index

data_dir, mode, events_path = sys.argv[1:4]
seeds = sys.argv[4:]
events = []


class Failing:
    def __init__(self, index):
        self._index, self.calls = index, 0

    def __getattr__(self, name):
        return getattr(self._index, name)

    def insert_arrow(self, table, data):
        self.calls += 1
        if mode == "unavailable" and 2 <= self.calls <= 5:
            events.append(("refused", time.monotonic()))
            raise IndexUnavailable("cannot reach the index: connection refused (injected)")
        if mode == "refused" and self.calls >= 5:
            raise IndexError_("the index is out of disk space (injected)")
        self._index.insert_arrow(table, data)
        events.append(("written", time.monotonic()))


pipelines.index.open_index = lambda location, **kw: Failing(open_index(location, **kw))
settings = Settings()
settings.setmodule("crawler.settings", priority="project")
settings.setdict({
    "LINKGRAPH_DATA_DIR": data_dir, "CLICKHOUSE_BATCH_PAGES": 20,
    "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "LOG_LEVEL": "WARNING",
}, priority="cmdline")
process = CrawlerProcess(settings, install_root_handler=False)
crawler = process.create_crawler(OutlinksSpider)
process.crawl(crawler, seed_urls=seeds)
process.start()
json.dump({"events": events, "reason": crawler.stats.get_value("finish_reason"),
           "error": str(getattr(crawler, "linkgraph_error", "") or "")}, open(events_path, "w"))
"""


def _crawl(mode: str, web: SyntheticWeb, proxy: ProxyServer, tmp_path: Path) -> dict:
    events = tmp_path / "events.json"
    proxy.log.clear()
    result = subprocess.run(
        [sys.executable, "-c", CRAWL, str(tmp_path / "index"), mode, str(events), *web.seed_urls],
        cwd=ROOT,
        env=_cli_env(proxy),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome: dict = json.loads(events.read_text())
    outcome["stderr"] = result.stderr
    return outcome


def test_unavailable_index_does_not_stall_the_crawl_and_loses_nothing(
    cli: Cli, synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path: Path
) -> None:
    outcome = _crawl("unavailable", synth_web, web_proxy, tmp_path)
    assert outcome["reason"] == "finished", outcome
    refused = [t for kind, t in outcome["events"] if kind == "refused"]
    written_after = [t for kind, t in outcome["events"] if kind == "written" and t > refused[0]]
    assert len(refused) == 4 and written_after
    # Downloads went on while the write waited to be retried.
    during = [r for r in web_proxy.log.entries() if refused[0] < r.time < written_after[0]]
    assert during, "no request reached the web while the index write was being retried"
    export = cli.run("export", "edges", "--format", "jsonl", "--data-dir", str(tmp_path / "index"))
    got = sorted(
        ({k: r[k] for k in EDGE_FIELDS} for r in map(json.loads, export.stdout.splitlines())),
        key=edge_key,
    )
    want = sorted(({k: e[k] for k in EDGE_FIELDS} for e in expect(synth_web).edges), key=edge_key)
    assert got == want, describe_edge_diff(want, got)
    print(f"\n{len(during)} requests during the {written_after[0] - refused[0]:.1f} s outage")


def test_index_refusing_a_write_stops_the_crawl(
    synth_web: SyntheticWeb, web_proxy: ProxyServer, tmp_path: Path
) -> None:
    outcome = _crawl("refused", synth_web, web_proxy, tmp_path)
    assert outcome["reason"] == "index_error", outcome
    assert "out of disk space" in outcome["error"]
    # It stopped: far from every page of the web was fetched.
    assert len(web_proxy.log) < len(expect(synth_web).fetched)
