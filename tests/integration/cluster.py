"""A distributed crawl's processes on one Redis prefix and Kafka topic, for tests.

:class:`Cluster` runs ``linkgraph worker`` and ``linkgraph consume`` as
subprocesses against the Redis and Kafka it is given (the shared ones from
``deploy/local/up``, or a private pair for fault tests), with the synthetic
web's proxy as ``http_proxy``; :func:`compare` checks the index it built
against the oracle and the proxy's request log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.synthweb import NOT_PAGES, ProxyServer, SyntheticWeb, expect
from tests.synthweb.oracle import EDGE_FIELDS, describe_edge_diff, edge_key

LINKGRAPH = str(Path(sys.executable).parent / "linkgraph")


class Cluster:
    """Workers, a consumer and the CLI on one random Redis prefix and Kafka topic."""

    def __init__(self, proxy: ProxyServer, root: Path, redis: str, kafka: str) -> None:
        run_id = uuid.uuid4().hex[:10]
        self.prefix = f"lgtest:{run_id}:"
        self.topic = f"linkgraph.test.{run_id}"
        self.data = root / "index"
        self.root = root
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LINKGRAPH_")
            and k.lower() not in ("http_proxy", "https_proxy", "no_proxy")
        }
        self.env.update(
            http_proxy=proxy.url,
            https_proxy=proxy.url,
            LINKGRAPH_REDIS=redis,
            LINKGRAPH_KAFKA=kafka,
            LINKGRAPH_TOPIC=self.topic,
            LINKGRAPH_REDIS_PREFIX=self.prefix,
        )
        self.proxy = proxy
        self.workers: list[subprocess.Popen[bytes]] = []
        self.consumer: subprocess.Popen[bytes] | None = None

    def cli(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [LINKGRAPH, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"linkgraph {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
            )
        return result

    def _spawn(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        return subprocess.Popen(
            [LINKGRAPH, *args], env=env or self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def start_workers(self, count: int, *extra: str, proxy: ProxyServer | None = None) -> None:
        """Start ``count`` workers; with ``proxy``, they fetch through it instead.

        A proxy of their own (serving the same web) tells these workers'
        fetches apart from the others' in the request logs.
        """
        env = None if proxy is None else {**self.env, "http_proxy": proxy.url}
        for _ in range(count):
            self.workers.append(
                self._spawn(
                    f"worker{len(self.workers)}",
                    "worker",
                    "--per-host",
                    "4",
                    "--concurrency",
                    "16",
                    *extra,
                    env=env,
                )
            )

    def wait_for_workers(self, timeout: float = 120) -> None:
        """Wait until every worker has said it started (its first log line)."""
        deadline = time.monotonic() + timeout
        for number, worker in enumerate(self.workers):
            log = self.root / f"worker{number}.log"
            while "worker started" not in log.read_text(errors="replace"):
                if worker.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"worker{number} did not start\n{self.logs()}")
                time.sleep(0.05)

    def start_consumer(self) -> None:
        self.consumer = self._spawn(
            "consumer", "consume", "--data-dir", str(self.data), "--batch-seconds", "0.5"
        )

    def stop_all(self) -> None:
        processes = [*self.workers, *([self.consumer] if self.consumer else [])]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def start_job(self, web: SyntheticWeb, job: str, *options: str) -> None:
        """``linkgraph job start JOB`` over ``web``'s seeds, with ``options``."""
        seeds = seeds_file(web, self.root / "seeds.txt")
        self.cli("job", "start", job, "--seeds", str(seeds), *options)

    def wait_job(self, job: str, timeout: str = "240") -> dict[str, Any]:
        """``linkgraph job wait``; the job's status, or the test fails with every log."""
        waited = self.cli("job", "wait", job, "--timeout", timeout, check=False)
        if waited.returncode != 0:
            pytest.fail(f"job wait failed ({waited.returncode}): {waited.stderr}\n{self.logs()}")
        status: dict[str, Any] = json.loads(
            self.cli("job", "status", job, "--format", "json").stdout
        )
        assert status["state"] == "finished", status
        return status

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-2000:]}"
            for p in sorted(self.root.glob("*.log"))
        )

    def requests(self) -> list:  # type: ignore[type-arg]
        """What the web server saw, in arrival order."""
        return self.proxy.log.entries()

    def export(self) -> list[dict[str, object]]:
        result = self.cli("export", "edges", "--format", "jsonl", "--data-dir", str(self.data))
        return [json.loads(line) for line in result.stdout.splitlines() if line]


def seeds_file(web: SyntheticWeb, path: Path) -> Path:
    path.write_text("\n".join(web.seeds) + "\n", encoding="utf-8")
    return path


def compare(cluster: Cluster, web: SyntheticWeb) -> None:
    expectation = expect(web)
    fetched = {r.url for r in cluster.requests() if not r.url.endswith(NOT_PAGES)}
    assert not fetched & expectation.never_fetch, (
        "fetched out of scope or against robots.txt: "
        f"{sorted(fetched & expectation.never_fetch)}\n{cluster.logs()}"
    )
    assert fetched == expectation.fetched, (
        f"missing {sorted(expectation.fetched - fetched)}, "
        f"unexpected {sorted(fetched - expectation.fetched)}\n{cluster.logs()}"
    )
    records = cluster.export()
    got = sorted(({k: r[k] for k in EDGE_FIELDS} for r in records), key=edge_key)
    want = sorted(({k: e[k] for k in EDGE_FIELDS} for e in expectation.edges), key=edge_key)
    if got != want:
        pytest.fail(
            "distributed index differs from the oracle:\n"
            + describe_edge_diff(want, got)
            + "\n"
            + cluster.logs()
        )


def fetch_counts(cluster: Cluster) -> Counter[str]:
    """How often each page URL (robots.txt and sitemaps aside) was requested."""
    return Counter(r.url for r in cluster.requests() if not r.url.endswith(NOT_PAGES))


def duplicate_fetches(cluster: Cluster, web: SyntheticWeb) -> tuple[int, int]:
    """(fetches beyond the first of a URL, not counting retries of 5xx pages; all fetches)."""
    retriable = expect(web).retriable
    counts = fetch_counts(cluster)
    extra = sum(n - 1 for url, n in counts.items() if n > 1 and url not in retriable)
    return extra, sum(counts.values())


#: The shared services of `make test` (deploy/local/up), as the CLI finds them.
REDIS = os.environ.get("LINKGRAPH_REDIS", "redis://127.0.0.1:6379/0")
KAFKA = os.environ.get("LINKGRAPH_KAFKA", "127.0.0.1:9092")


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_services() -> None:
    """Fail (not skip) with the fix when Redis or Kafka does not answer."""
    redis_at = urlsplit(REDIS)
    kafka_host, kafka_port = KAFKA.split(",")[0].rsplit(":", 1)
    if not _answers(redis_at.hostname or "127.0.0.1", redis_at.port or 6379):
        pytest.fail(f"Redis does not answer at {REDIS}: start it with deploy/local/up")
    if not _answers(kafka_host, int(kafka_port)):
        pytest.fail(f"Kafka does not answer at {KAFKA}: start it with deploy/local/up")
