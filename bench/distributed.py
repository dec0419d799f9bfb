"""Distributed crawl on this machine: two workers against one, and where the time goes.

The whole benchmark web is crawled as a job (``linkgraph job start``) by
``linkgraph worker`` processes producing to Kafka and one ``linkgraph consume``
writing to a fresh embedded index, until ``linkgraph job wait`` returns (every
page crawled and in the index). Wall time from ``job start`` to the end of
``job wait``; CPU seconds of every process involved (workers and consumer
from ``wait4``, the proxy from ``/proc``, Redis from ``INFO cpu``, the Kafka
broker from ``/proc`` when ``deploy/local`` started it) show where it goes;
Redis's CPU per page is the real crawl's counterpart of :mod:`bench.frontier`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Figure, Note, Result, cpu_seconds, linkgraph_cli, median, reap
from bench.consumer import delete_topics
from bench.crawl import CONCURRENCY, PER_HOST, Server, crawl_env, serve
from bench.web import build_bench_web
from linkcore import config

__all__ = ["run"]


@dataclass(slots=True)
class Run:
    """One distributed crawl: wall seconds, pages, and CPU seconds per component."""

    workers: int
    wall: float = 0.0
    pages: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    worker_rss_kib: int = 0
    consumer_rss_kib: int = 0
    #: Seconds from `job start` until the frontier was done (every page
    #: fetched and handed on); the rest of ``wall`` is the drain into the index.
    crawled: float = 0.0
    #: Samples of the job's leased pages while it crawled, and the share of
    #: samples with nothing queued in the frontier.
    in_flight: list[int] = field(default_factory=list)
    starved: float = 0.0


class _Sampler:
    """Samples ``job status`` every 0.1 s from a thread: pages in flight, queue
    length, and when the frontier was done."""

    def __init__(self, redis: Any, prefix: str, job: str, started: float) -> None:
        from crawler.frontier.jobs import JobStore
        from crawler.frontier.keys import Keys

        self.store = JobStore(redis, Keys(prefix))
        self.job, self.started = job, started
        self.samples: list[tuple[float, int, int, int]] = []
        self.done_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                status = self.store.status(self.job)
            except Exception:  # not created yet, or Redis busy: the next sample
                continue
            now = time.monotonic() - self.started
            if status["state"] != "running":
                self.done_at = self.done_at or now
                continue
            self.samples.append((now, status["pages"], status["queued"], status["in_flight"]))

    def stop(self, run: Run) -> None:
        self._stop.set()
        self._thread.join(5)
        run.crawled = self.done_at if self.done_at is not None else run.wall
        run.in_flight = [flight for _, _, _, flight in self.samples]
        if self.samples:
            empty = sum(1 for _, _, queued, _ in self.samples if queued == 0)
            run.starved = empty / len(self.samples)


def _broker_pid() -> int | None:
    state = os.environ.get("LINKGRAPH_SERVICES_DIR") or str(Path.cwd() / ".run" / "services")
    try:
        return int((Path(state) / "kafka.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _redis_cpu(server: Any) -> float:
    info = server.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _crawl(server: Server, seeds: Path, root: Path, workers: int, redis: Any) -> Run:
    run_id = uuid.uuid4().hex[:10]
    env = crawl_env(server)
    env.update(
        LINKGRAPH_REDIS=config.REDIS.resolve(),
        LINKGRAPH_KAFKA=config.KAFKA.resolve(),
        LINKGRAPH_TOPIC=f"bench.{run_id}",
        LINKGRAPH_REDIS_PREFIX=f"linkgraph-bench:{run_id}:",
    )
    data = root / f"index-{run_id}"
    cli = linkgraph_cli()
    logs = root / f"logs-{run_id}"
    logs.mkdir()

    def spawn(name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(logs / f"{name}.log", "wb") as log:
            return subprocess.Popen([*cli, *args], env=env, stdout=log, stderr=subprocess.STDOUT)

    consumer = spawn("consumer", "consume", "--data-dir", str(data), "--batch-seconds", "0.5")
    crawlers = [
        spawn(
            f"worker{n}",
            "worker",
            "--allow-private-networks",
            "--concurrency",
            str(CONCURRENCY),
            "--per-host",
            str(PER_HOST),
        )
        for n in range(workers)
    ]
    result = Run(workers)
    broker = _broker_pid()
    try:
        # Workers and the consumer start (imports, group join) before the clock does.
        time.sleep(3)
        proxy_before = cpu_seconds(server.process.pid)
        redis_before = _redis_cpu(redis)
        broker_before = cpu_seconds(broker) if broker else 0.0
        started = time.monotonic()
        job = f"bench-{run_id}"
        sampler = _Sampler(redis, env["LINKGRAPH_REDIS_PREFIX"], job, started)
        subprocess.run(
            [*cli, "job", "start", job, "--seeds", str(seeds), "--rate", "10000"],
            env=env,
            check=True,
            capture_output=True,
        )
        waited = subprocess.run(
            [*cli, "job", "wait", job, "--timeout", "600"], env=env, capture_output=True, text=True
        )
        result.wall = time.monotonic() - started
        sampler.stop(result)
        if waited.returncode != 0:
            raise RuntimeError(f"job wait failed: {waited.stderr.strip()[-500:]}")
        result.cpu["proxy"] = cpu_seconds(server.process.pid) - proxy_before
        result.cpu["redis"] = _redis_cpu(redis) - redis_before
        if broker:
            result.cpu["kafka broker"] = cpu_seconds(broker) - broker_before
        status = subprocess.run(
            [*cli, "job", "status", job, "--format", "json"],
            env=env,
            capture_output=True,
            text=True,
        )
        result.pages = int(json.loads(status.stdout).get("pages", 0))
    finally:
        for process in [*crawlers, consumer]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        worker_cpu = 0.0
        for process in crawlers:
            _, cpu, rss = reap(process, 120)
            worker_cpu += cpu
            result.worker_rss_kib = max(result.worker_rss_kib, rss)
        _, consumer_cpu, result.consumer_rss_kib = reap(consumer, 120)
        # Start-up (imports, connecting) is in these too: a few CPU seconds each.
        result.cpu["workers"] = worker_cpu
        result.cpu["consumer"] = consumer_cpu
        for key in redis.scan_iter(match=f"linkgraph-bench:{run_id}:*", count=1000):
            redis.unlink(key)
        delete_topics([env["LINKGRAPH_TOPIC"], env["LINKGRAPH_TOPIC"] + ".dlq"])
        shutil.rmtree(data, ignore_errors=True)
    return result


def run(*, quick: bool = False) -> Result:
    """Pages/s with one worker and with two (one run each; two each unless quick)."""
    from crawler.frontier.connection import connect

    pages = 240 if quick else 2000
    rounds = 1 if quick else 2
    bench = build_bench_web(pages)
    root = Path(tempfile.mkdtemp(prefix="linkgraph-bench-distributed-"))
    seeds = root / "seeds.txt"
    seeds.write_text(bench.seeds_text, encoding="utf-8")
    redis = connect()
    runs: dict[int, list[Run]] = {1: [], 2: []}
    try:
        with serve(pages, root) as server:
            for round_ in range(rounds):
                for workers in (1, 2) if round_ % 2 == 0 else (2, 1):
                    runs[workers].append(_crawl(server, seeds, root, workers, redis))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rate = {n: median([r.pages / r.wall for r in rs]) for n, rs in runs.items()}
    notes = []
    for n, rs in runs.items():
        last = rs[-1]
        spent = ", ".join(f"{name} {seconds:.1f}" for name, seconds in last.cpu.items())
        cores = os.cpu_count() or 1
        busy = sum(last.cpu.values()) / (last.wall * cores)
        flight = median(last.in_flight) if last.in_flight else 0.0
        notes.append(
            Note(
                f"distributed, {n} worker{'s' if n > 1 else ''}: pages/s",
                rate[n],
                "pages/s",
                f"{last.pages} pages in {last.wall:.1f} s: crawled in {last.crawled:.1f} s, "
                f"then {last.wall - last.crawled:.1f} s until all were indexed; pages leased "
                f"by the workers while crawling (fetching or waiting in a worker, "
                f"{CONCURRENCY} fetches at a time each): median {flight:.0f}, frontier queue "
                f"empty in {last.starved:.0%} of samples; CPU seconds: {spent} "
                f"({busy:.0%} of {cores} cores busy)",
            )
        )
    for n, rs in runs.items():
        redis_us = median([r.cpu.get("redis", 0.0) / r.pages * 1e6 for r in rs if r.pages])
        notes.append(
            Note(
                f"distributed, {n} worker{'s' if n > 1 else ''}: Redis CPU per page",
                redis_us,
                "µs/page",
                "INFO cpu of the Redis the job ran on, from `job start` to the end of "
                "`job wait`, over the pages crawled (idle polling of workers and the "
                "consumer's wait included; anything else using that Redis too)",
            )
        )
    notes.append(
        Note(
            "peak RSS, linkgraph worker",
            max(r.worker_rss_kib for rs in runs.values() for r in rs) / 1024,
            "MiB",
            "",
        )
    )
    notes.append(
        Note(
            "peak RSS, linkgraph consume",
            max(r.consumer_rss_kib for rs in runs.values() for r in rs) / 1024,
            "MiB",
            "",
        )
    )
    return Result(
        figures=[
            Figure(
                "distributed crawl, 2 workers vs 1 on this machine",
                "pages/s",
                rate[2],
                rate[1],
                "1 worker, same job",
                runs=rounds,
            )
        ],
        notes=notes,
    )
