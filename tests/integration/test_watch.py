"""``linkgraph watch`` across two crawls of a changing web (docs/queries.md#watch).

The web of :mod:`tests.integration.revisit_web` is crawled, watched, crawled
again after one page lost its link to the target and gained another and one
page went 404, then watched again: the watches must list every backlink as new
the first time, nothing the second, and then exactly the new link and the two
lost ones with their reasons; the exit status says which; the webhook gets
the records, and a webhook that fails leaves them to the next watch.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import revisit_web as rw
from tests.integration.conftest import Cli
from tests.integration.crawls import CRAWL_FLAGS
from tests.synthweb import ProxyServer
from tests.unit.test_watch import Receiver

pytestmark = pytest.mark.integration


def watch(cli: Cli, data_dir: Path, *flags: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``linkgraph watch TARGET``: exit status, records (jsonl), stderr."""
    import json

    run = subprocess.run(
        [
            *cli.command,
            "watch",
            rw.TARGET,
            "--format",
            "jsonl",
            "--data-dir",
            str(data_dir),
            *flags,
        ],
        cwd=cli.workdir,
        # The webhook receivers are on loopback, not behind the test web's proxy.
        env={**cli.env, "no_proxy": "127.0.0.1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in run.stderr, run.stderr
    records = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    return run.returncode, records, run.stderr


def changes(records: list[dict[str, Any]]) -> set[tuple[str, str, str, str | None]]:
    return {(r["change"], r["source_url"], r["target_url"], r["lost_reason"]) for r in records}


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(getattr(request, "param", []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_watch_reports_new_then_nothing_then_new_and_lost(
    cli: Cli, tmp_path: Path, receiver: Receiver
) -> None:
    web = rw.build_web()
    data_dir = tmp_path / "index"
    first = {
        ("new", f"{rw.SHOP}/a", f"{rw.BRAND}/", None),
        ("new", rw.CHANGED, f"{rw.BRAND}/x", None),
        ("new", rw.GONE, f"{rw.BRAND}/", None),
        ("new", f"{rw.NEWS}/story", f"{rw.BRAND}/", None),
    }
    with ProxyServer(web, validators=True) as proxy:
        via = cli.via(proxy)
        via.run("crawl", "--data-dir", str(data_dir), *CRAWL_FLAGS, *rw.SEEDS)
        status, records, stderr = watch(cli, data_dir)
        assert (status, changes(records)) == (3, first), stderr
        assert "4 new and 0 lost backlinks of target-brand.net since the first sighting" in stderr
        # Nothing changed since: exit 0, no record, and no POST.
        status, records, stderr = watch(cli, data_dir, "--webhook", receiver.url)
        assert (status, records, receiver.bodies) == (0, [], []), stderr

        proxy.serve(rw.changed_web(web))
        via.run("crawl", "--data-dir", str(data_dir), *CRAWL_FLAGS, "--revisit", *rw.SEEDS)

    later = {
        ("new", rw.NEW, f"{rw.BRAND}/new", None),
        ("lost", rw.CHANGED, f"{rw.BRAND}/x", "link_removed"),
        ("lost", rw.GONE, f"{rw.BRAND}/", "page_gone"),
    }
    # A webhook that fails: one line, exit 1, and the checkpoint stays.
    status, records, stderr = watch(
        cli, data_dir, "--webhook", "http://127.0.0.1:1/hook", "--webhook-retries", "1"
    )
    assert status == 1 and changes(records) == later
    lines = [line for line in stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and "did not accept the records after 2 attempts" in lines[0], stderr

    status, records, stderr = watch(cli, data_dir, "--webhook", receiver.url)
    assert (status, changes(records)) == (3, later), stderr
    [document] = receiver.bodies
    assert (document["target"], document["new"], document["lost"]) == (rw.TARGET, 1, 2)
    assert document["records"] == records

    assert watch(cli, data_dir)[:2] == (0, [])
    # --since overrides the checkpoint: everything since before the first crawl.
    status, records, _ = watch(cli, data_dir, "--since", "2000-01-01")
    assert status == 3
    assert changes(records) == (first - {r for r in first if r[1] in (rw.CHANGED, rw.GONE)}) | later
