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

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.cluster import Cluster, compare, duplicate_fetches
from tests.integration.private_services import PrivateServices
from tests.synthweb import ProxyServer, SyntheticWeb

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
    if cluster.consumer is None:
        cluster.start_consumer()
    cluster.start_workers(3, "--lease", "30")
    cluster.start_job(web, job, "--rate", "100")
    wait_for_requests(cluster, 60)
    fault()
    cluster.wait_job(job, wait_timeout)  # fails the test unless the job finished


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


def test_kafka_broker_killed_and_restarted_mid_job(
    cluster: Cluster, private: PrivateServices, synth_web: SyntheticWeb
) -> None:
    def fault() -> None:
        private.kill("kafka")
        time.sleep(3)  # producers and the consumer find it gone
        private.up("kafka")

    run_job(cluster, synth_web, "kafka-kill", fault)
    check_exact(cluster, synth_web, "Kafka broker kill -9, restarted after 3 s")


def test_consumer_killed_mid_batch(cluster: Cluster, synth_web: SyntheticWeb) -> None:
    def fault() -> None:
        assert cluster.consumer is not None
        cluster.consumer.send_signal(signal.SIGKILL)
        assert cluster.consumer.wait(30) == -signal.SIGKILL
        cluster.start_consumer()

    run_job(cluster, synth_web, "consumer-kill", fault)
    check_exact(cluster, synth_web, "consumer kill -9 mid-batch, restarted")


def test_sigterm_everywhere_drains_cleanly(cluster: Cluster, synth_web: SyntheticWeb) -> None:
    def fault() -> None:
        processes = [*cluster.workers, cluster.consumer]
        for process in processes:
            assert process is not None
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(60) for process in processes if process is not None]
        assert codes == [0] * len(processes), f"exit codes {codes}\n{cluster.logs()}"
        cluster.workers.clear()
        cluster.start_consumer()
        # Leases last 30 s here: a job that finishes without waiting for them
        # shows that the stopped workers handed back what they had not finished.
        cluster.start_workers(3, "--lease", "120")

    run_job(cluster, synth_web, "sigterm", fault, wait_timeout="100")
    check_exact(cluster, synth_web, "SIGTERM to 3 workers and the consumer, restarted")


# A `linkgraph consume` whose index is unreachable for OUTAGE seconds from its
# second insert on: ClickHouse servers go away (restarts, network); the
# embedded engine cannot, so the outage is simulated at the index's insert.
OUTAGE_CONSUMER = """
import sys, time
import consumers.service as service
from linkgraph.cli import main
from linkcore.errors import IndexUnavailable

data_dir, outage = sys.argv[1], float(sys.argv[2])
real_open = service.open_index


class Unreachable:
    def __init__(self, index):
        self._index, self.inserts, self.since = index, 0, None

    def __getattr__(self, name):
        return getattr(self._index, name)

    def insert_arrow(self, table, data):
        self.inserts += 1
        if self.inserts == 2:
            self.since = time.monotonic()
        if self.since is not None and time.monotonic() < self.since + outage:
            raise IndexUnavailable("cannot reach the index: connection refused (injected)")
        self._index.insert_arrow(table, data)


service.open_index = lambda location, **kw: Unreachable(real_open(location, **kw))
sys.exit(main(["consume", "--data-dir", data_dir, "--batch-seconds", "0.5"]))
"""


def test_index_unavailable_for_a_while(cluster: Cluster, synth_web: SyntheticWeb) -> None:
    log = open(cluster.root / "consumer.log", "wb")  # noqa: SIM115 - lives with the process
    cluster.consumer = subprocess.Popen(
        [sys.executable, "-c", OUTAGE_CONSUMER, str(cluster.data), "8"],
        cwd=ROOT,
        env=cluster.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    run_job(cluster, synth_web, "index-outage", lambda: None)
    retries = (cluster.root / "consumer.log").read_text().count("retrying the same batch")
    assert retries >= 2, cluster.logs()
    check_exact(cluster, synth_web, f"index unreachable for 8 s ({retries} retried writes)")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs (mounting needs root): a disk that can really run full."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {result.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` with a ballast file until ``leave`` bytes are free."""
    ballast = disk / "ballast"
    stat = os.statvfs(disk)
    with ballast.open("wb") as sink:
        sink.write(b"\0" * max(stat.f_bavail * stat.f_frsize - leave, 0))
    return ballast


CREATE_INDEX = """
import sys
from linkindex.client import IndexLocation, open_index
open_index(IndexLocation(data_dir=sys.argv[1])).close()
"""


def test_disk_full_stops_the_consumer_and_nothing_is_lost(
    cluster: Cluster, synth_web: SyntheticWeb, small_disk: Path
) -> None:
    cluster.data = small_disk / "index"
    # The schema first, then the disk is filled to 256 KiB short of full:
    # ClickHouse reserves 1 MiB for an insert, so the first batch fails.
    subprocess.run(
        [sys.executable, "-c", CREATE_INDEX, str(cluster.data)], cwd=ROOT, check=True, timeout=120
    )
    ballast = fill(small_disk, 256 * 1024)
    cluster.start_consumer()

    def fault() -> None:
        assert cluster.consumer is not None
        code = cluster.consumer.wait(120)
        log = (cluster.root / "consumer.log").read_text()
        assert code == 1, f"consumer exit {code} on a full disk\n{log[-3000:]}"
        assert "out of disk space" in log and "offsets not committed" in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        # Space freed, consumer started again: it resumes from the last commit.
        ballast.unlink()
        cluster.start_consumer()

    run_job(cluster, synth_web, "disk-full", fault)
    check_exact(
        cluster, synth_web, "index disk full (tmpfs), consumer restarted after freeing space"
    )
