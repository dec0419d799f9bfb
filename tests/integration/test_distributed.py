"""Distributed crawling end to end: Redis frontier, workers, Kafka, consumer, index.

Real Redis and Kafka from ``deploy/local/up``, the synthetic test web on a
loopback proxy, and the real CLI in subprocesses: ``linkgraph worker`` ×3,
``linkgraph consume``, ``linkgraph job start/wait``. The index must equal what
the oracle says a correct crawl stores — the same exact edges as the
one-process crawl — also when a worker is killed with SIGKILL mid-crawl; the
per-host rate must hold across all workers together, measured at the server.
"""

from __future__ import annotations

import json
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.integration.cluster import KAFKA, REDIS, Cluster, compare, require_services, seeds_file
from tests.synthweb import NOT_PAGES, ProxyServer, SyntheticWeb, expect

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def services() -> None:
    require_services()


@pytest.fixture
def cluster(services: None, web_proxy: ProxyServer, tmp_path: Path) -> Iterator[Cluster]:
    web_proxy.log.clear()
    cluster = Cluster(web_proxy, tmp_path, REDIS, KAFKA)
    yield cluster
    cluster.stop_all()


def _crawl(
    cluster: Cluster,
    web: SyntheticWeb,
    job: str,
    *,
    rate: str = "200",
    kill_one: bool = False,
    term_one: bool = False,
) -> None:
    cluster.start_consumer()
    lease = ["--lease", "5"] if kill_one else ["--lease", "120"] if term_one else []
    cluster.start_workers(3, *lease)
    cluster.start_job(web, job, "--rate", rate)
    timeout = "240"
    if kill_one or term_one:
        # Stop a worker once the crawl is under way, with requests in its hands.
        deadline = time.monotonic() + 60
        while len(cluster.requests()) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.workers[0].send_signal(signal.SIGKILL if kill_one else signal.SIGTERM)
        code = cluster.workers[0].wait(timeout=60)
        if term_one:
            assert code == 0, f"worker exit {code} on SIGTERM\n{cluster.logs()}"
            # Leases last 120 s: finishing well before proves the stopped worker
            # handed back what it had not finished.
            timeout = "90"
    cluster.wait_job(job, timeout)
    cluster.stop_all()


def test_three_workers_store_the_exact_index(cluster: Cluster, synth_web: SyntheticWeb) -> None:
    _crawl(cluster, synth_web, "three-workers")
    compare(cluster, synth_web)
    fetched = [r.url for r in cluster.requests() if not r.url.endswith(NOT_PAGES)]
    expectation = expect(synth_web)
    counts: dict[str, int] = defaultdict(int)
    for url in fetched:
        counts[url] += 1
    repeated = {u: n for u, n in counts.items() if n > 1 and u not in expectation.retriable}
    assert not repeated, f"fetched more than once without a failure: {repeated}"


def test_worker_killed_mid_crawl_loses_nothing(cluster: Cluster, synth_web: SyntheticWeb) -> None:
    _crawl(cluster, synth_web, "kill-one", kill_one=True)
    compare(cluster, synth_web)


def test_worker_sigterm_hands_back_its_requests(cluster: Cluster, synth_web: SyntheticWeb) -> None:
    _crawl(cluster, synth_web, "term-one", term_one=True)
    compare(cluster, synth_web)


def test_rate_holds_across_all_workers(cluster: Cluster, synth_web: SyntheticWeb) -> None:
    rate = 8.0
    _crawl(cluster, synth_web, "rate", rate=str(rate))
    by_host: dict[str, list[float]] = defaultdict(list)
    for request in cluster.requests():
        # Each worker fetches a host's robots.txt for itself, outside job rates.
        if not request.url.endswith("/robots.txt"):
            by_host[urlsplit(request.url).hostname or ""].append(request.time)
    measured = {}
    for host, times in by_host.items():
        times.sort()
        if len(times) < 8:
            continue
        # Slots are reserved exactly 1/rate apart on Redis's clock; arrivals at
        # the server jitter by how late a busy worker sends. So: no more than
        # rate + 2 requests in any one-second window, and the rate over the
        # whole crawl of the host within 10 %.
        window = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
        overall = (len(times) - 1) / (times[-1] - times[0])
        measured[host] = (window, round(overall, 2))
        assert window <= rate + 2, (host, window, times)
        assert overall <= rate * 1.1, (host, overall)
    assert len(measured) >= 3, f"too few hosts with enough requests to measure: {measured}"
    # The crawl was rate-bound: at least one host ran near its limit.
    assert max(o for _, o in measured.values()) >= rate * 0.5, measured


def test_job_wait_times_out_without_workers(cluster: Cluster, synth_web: SyntheticWeb) -> None:
    seeds = seeds_file(synth_web, cluster.root / "seeds.txt")
    cluster.cli("job", "start", "nobody-works", "--seeds", str(seeds))
    started = time.monotonic()
    result = cluster.cli("job", "wait", "nobody-works", "--timeout", "2", check=False)
    assert result.returncode != 0
    assert "timed out" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 30
    listing = json.loads(cluster.cli("job", "list", "--format", "json").stdout)
    assert [job["job"] for job in listing] == ["nobody-works"]
    cluster.cli("job", "stop", "nobody-works")
    status = json.loads(cluster.cli("job", "status", "nobody-works", "--format", "json").stdout)
    assert status["state"] == "stopped" and status["queued"] == 0
