"""``linkgraph job start --revisit`` end to end: Redis, a worker, Kafka, the consumer, the index.

A first job crawls the web of :mod:`tests.integration.revisit_web`; the web
changes; a second job, started with ``--revisit`` (reading the index the
consumer wrote), must send the stored validators, count 304 / changed / gone
in its status, and leave the index as the one-process revisit does.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration import revisit_web as rw
from tests.integration.answers import json_records
from tests.integration.cluster import KAFKA, REDIS, Cluster, require_services
from tests.synthweb import NOT_PAGES, ProxyServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _job(cluster: Cluster, name: str, *options: str) -> dict[str, Any]:
    # Started first: with --revisit it reads the embedded index, which is the
    # consumer's while it runs.
    cluster.cli("job", "start", name, *rw.SEEDS, "--rate", "200", *options)
    cluster.start_consumer()
    cluster.start_workers(1)
    status = cluster.wait_job(name, "180")
    cluster.stop_all()
    cluster.workers.clear()
    return status


def _sql(cluster: Cluster, statement: str) -> list[dict[str, Any]]:
    result = cluster.cli(
        "sql", statement, "--format", "json", "--limit", "0", "--data-dir", str(cluster.data)
    )
    return json_records(result.stdout)


def test_job_start_revisit(tmp_path: Path) -> None:
    require_services()
    web = rw.build_web()
    with ProxyServer(web, validators=True) as proxy:
        cluster = Cluster(proxy, tmp_path, REDIS, KAFKA)
        try:
            _job(cluster, "first")
            stored = {
                row["url"]: row for row in _sql(cluster, "SELECT url, etag FROM linkgraph.pages")
            }
            proxy.serve(rw.changed_web(web))
            proxy.log.clear()
            status = _job(cluster, "again", "--revisit", "--data-dir", str(cluster.data))
            edges = _sql(cluster, "SELECT source_url, target_url, lost FROM linkgraph.links")
        finally:
            cluster.stop_all()
    requests = [r for r in proxy.log.entries() if not r.url.endswith(NOT_PAGES)]
    assert Counter(r.url for r in requests) == Counter(rw.PAGES | {rw.NEW})
    for request in requests:
        if request.url != rw.NEW:
            assert request.if_none_match == stored[request.url]["etag"], request
    unchanged = len(rw.PAGES) - 2
    assert Counter(r.status for r in requests) == Counter({304: unchanged, 200: 2, 404: 1})
    assert status["revisits_queued"] == len(rw.PAGES)
    assert status["revisits"] == len(rw.PAGES)
    assert status["revisit_unchanged"] == unchanged
    assert (status["revisit_changed"], status["revisit_gone"]) == (1, 1)
    lost = {(e["source_url"], e["target_url"]) for e in edges if e["lost"]}
    gone = {(e["source_url"], e["target_url"]) for e in edges if e["source_url"] == rw.GONE}
    assert lost == {(rw.CHANGED, f"{rw.BRAND}/x")} | gone
