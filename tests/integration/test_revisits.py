"""``linkgraph crawl --revisit`` and ``--revisit-referrers`` end to end (docs/crawling.md#revisits).

The web of :mod:`tests.integration.revisit_web` is served by a proxy that
answers conditional requests and counts its 304s; after a first crawl it
changes (one page loses a link, one is gone) and the revisit must send the
stored validators, refresh the sightings of unchanged pages' links, mark the
vanished links lost and count 304 / changed / gone in its summary.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.integration import revisit_web as rw
from tests.integration.conftest import Cli
from tests.integration.crawls import CRAWL_FLAGS
from tests.synthweb import NOT_PAGES, ProxyServer

pytestmark = pytest.mark.integration


def _crawl(cli: Cli, data_dir: Path, *args: str) -> str:
    result = cli.run("crawl", "--data-dir", str(data_dir), *CRAWL_FLAGS, "-v", *args, timeout=300)
    return result.stderr


def _fetches(proxy: ProxyServer) -> Counter[str]:
    return Counter(r.url for r in proxy.log.entries() if not r.url.endswith(NOT_PAGES))


def test_revisit_sends_validators_refreshes_unchanged_and_loses_vanished_links(
    cli: Cli, tmp_path: Path
) -> None:
    web = rw.build_web()
    data_dir = tmp_path / "index"
    with ProxyServer(web, validators=True) as proxy:
        via = cli.via(proxy)
        _crawl(via, data_dir, *rw.SEEDS)
        assert set(_fetches(proxy)) == rw.PAGES
        before = rw.links(cli, data_dir)
        stored = rw.pages(cli, data_dir)
        assert all(stored[url]["etag"] and stored[url]["last_modified"] for url in rw.PAGES)

        proxy.serve(rw.changed_web(web))
        proxy.log.clear()
        summary = _crawl(via, data_dir, "--revisit", *rw.SEEDS)
        requests = [r for r in proxy.log.entries() if not r.url.endswith(NOT_PAGES)]

    # Every stored page fetched once, with the validators of its stored fetch;
    # the page only the changed one links to is discovered and fetched as usual.
    assert _fetches(proxy) == Counter(rw.PAGES | {rw.NEW})
    for request in requests:
        if request.url == rw.NEW:
            assert not request.if_none_match and not request.if_modified_since
        else:
            assert request.if_none_match == stored[request.url]["etag"], request
            assert request.if_modified_since == stored[request.url]["last_modified"], request
    statuses = Counter(r.status for r in requests)
    unchanged = len(rw.PAGES) - 2
    assert statuses == Counter({304: unchanged, 200: 2, 404: 1}), statuses
    counts = re.search(
        r"revisited (\d+) pages: (\d+) unchanged \(304\), (\d+) changed, (\d+) gone", summary
    )
    assert counts, summary
    assert [int(n) for n in counts.groups()] == [len(rw.PAGES), unchanged, 1, 1]

    after = rw.links(cli, data_dir)
    for key, edge in before.items():
        source = key[0]
        if source in (rw.CHANGED, rw.GONE):
            continue
        # An unchanged page's links: sighted again, first sighting kept, live.
        assert after[key]["first_seen"] == edge["first_seen"], key
        assert after[key]["last_seen"] > edge["last_seen"], key
        assert not after[key]["lost"], key
    assert after[(rw.CHANGED, f"{rw.BRAND}/x")]["lost"]
    assert not after[(rw.CHANGED, f"{rw.SHOP}/c")]["lost"]
    assert not after[(rw.CHANGED, rw.NEW)]["lost"]
    assert all(edge["lost"] for key, edge in after.items() if key[0] == rw.GONE)
    assert (rw.NEW, f"{rw.BRAND}/new") in after

    pages = rw.pages(cli, data_dir)
    for url in rw.PAGES - {rw.CHANGED, rw.GONE}:
        # A 304 keeps the stored 200 and its validators; only the fetch time moves.
        assert pages[url]["status"] == 200, pages[url]
        assert pages[url]["etag"] == stored[url]["etag"]
        assert pages[url]["fetched_at"] > stored[url]["fetched_at"]
    assert pages[rw.GONE]["status"] == 404 and not pages[rw.GONE]["etag"]
    assert pages[rw.CHANGED]["etag"] not in ("", stored[rw.CHANGED]["etag"])


def test_revisit_referrers_fetches_exactly_the_referring_pages(cli: Cli, tmp_path: Path) -> None:
    web = rw.build_web()
    data_dir = tmp_path / "index"
    with ProxyServer(web, validators=True) as proxy:
        via = cli.via(proxy)
        _crawl(via, data_dir, *rw.SEEDS)
        proxy.log.clear()
        summary = _crawl(via, data_dir, "--revisit-referrers", rw.TARGET)
        fetched = _fetches(proxy)
        statuses = Counter(r.status for r in proxy.log.entries() if not r.url.endswith(".txt"))

    # On both domains, each once, and nothing they link to.
    assert fetched == Counter(rw.REFERRERS), fetched
    assert statuses == Counter({304: len(rw.REFERRERS)})
    assert f"revisited {len(rw.REFERRERS)} pages: {len(rw.REFERRERS)} unchanged" in summary


def test_revisit_flags_need_what_they_work_on(cli: Cli, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "index")
    for args, message in (
        (("--revisit",), "--revisit needs seeds"),
        (("--revisit-scope", "host", "x.com"), "--revisit-scope goes with --revisit-referrers"),
    ):
        run = subprocess.run(
            [str(cli.exe), "crawl", "--data-dir", data_dir, *args],
            env=cli.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode != 0, args
        assert message in run.stderr and "Traceback" not in run.stderr, run.stderr
