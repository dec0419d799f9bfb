"""Faults injected into a real distributed crawl: nothing is lost, nothing doubled.

Each test runs a job over the synthetic test web with three ``linkgraph
worker`` processes and a ``linkgraph consume`` against a *private* Redis and
Kafka broker (:mod:`tests.integration.private_services`), so that killing
them cannot disturb anything else using the shared services. Mid-crawl, one
fault is injected: Redis or the broker killed with SIGKILL and started again
after a pause, the consumer killed mid-batch, the index unavailable for a
while, the index's disk full, SIGTERM to every process. The job must still
end with exactly the oracle's edges (none missing, none extra, each once),
and fewer than 1 % of fetches may be repeats.

Figures (fault, pages fetched, duplicate fetches) are printed with ``-s`` and
quoted in the README's reliability section.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from linkgraph.synthweb import ProxyServer, SyntheticWeb
from tests.integration.cluster import Cluster, compare, duplicate_fetches, seeds_file
from tests.integration.private_services import PrivateServices

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
#: Most repeated fetches a job may make, as a share of all its fetches.
MAX_DUPLICATE_SHARE = 0.01


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServices]:
    """A Redis and a Kafka broker of this module's own, on free ports."""
    services = PrivateServices(tmp_path_factory.mktemp("services"))
    try:
        services.up()
    except RuntimeError as error:
        pytest.fail(f"could not start private Redis and Kafka with deploy/local/up: {error}")
    yield services
    services.down()


@pytest.fixture
def cluster(private: PrivateServices, web_proxy: ProxyServer, tmp_path: Path) -> Iterator[Cluster]:
    # Both may have been killed by the previous test: make sure they run.
    private.up()
    web_proxy.log.clear()
    cluster = Cluster(web_proxy, tmp_path, private.redis_url, private.bootstrap)
    yield cluster
    cluster.stop_all()


def wait_for_requests(cluster: Cluster, count: int) -> None:
    """Wait until the web has seen ``count`` requests: the crawl is under way."""
    deadline = time.monotonic() + 90
    while len(cluster.requests()) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"the crawl did not reach {count} requests\n{cluster.logs()}")
        time.sleep(0.05)


def run_job(
    cluster: Cluster,
    web: SyntheticWeb,
    job: str,
    fault: Callable[[], None],
    *,
    wait_timeout: str = "240",
) -> None:
    """Start the job, inject ``fault`` once 60 pages are fetched, wait for the job."""
    seeds = seeds_file(web, cluster.root / "seeds.txt")
    if cluster.consumer is None:
        cluster.start_consumer()
    cluster.start_workers(3, "--lease", "30")
    cluster.cli("job", "start", job, "--seeds", str(seeds), "--rate", "100")
    wait_for_requests(cluster, 60)
    fault()
    waited = cluster.cli("job", "wait", job, "--timeout", wait_timeout, check=False)
    if waited.returncode != 0:
        pytest.fail(f"job wait failed ({waited.returncode}): {waited.stderr}\n{cluster.logs()}")
    status = json.loads(cluster.cli("job", "status", job, "--format", "json").stdout)
    assert status["state"] == "finished", status


def check_exact(cluster: Cluster, web: SyntheticWeb, fault: str) -> None:
    """The index equals the oracle's; duplicate fetches under the limit; figures printed."""
    cluster.stop_all()
    compare(cluster, web)
    extra, total = duplicate_fetches(cluster, web)
    print(f"\nfault survived: {fault}: {total} fetches, {extra} repeated ({extra / total:.2%})")
    assert extra <= MAX_DUPLICATE_SHARE * total, (
        f"{extra} of {total} fetches were repeats\n{cluster.logs()}"
    )


def test_redis_killed_and_restarted_mid_job(
    cluster: Cluster, private: PrivateServices, synth_web: SyntheticWeb
) -> None:
    def fault() -> None:
        private.kill("redis")
        time.sleep(3)  # workers and the job's waiters find it gone
        private.up("redis")

    run_job(cluster, synth_web, "redis-kill", fault)
    check_exact(cluster, synth_web, "Redis kill -9, restarted after 3 s")
