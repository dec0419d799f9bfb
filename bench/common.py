"""What every benchmark shares: results, statistics, child processes, the machine, HTTP.

Each benchmark of ``python -m bench run`` returns :class:`Figure` rows for the
table. A figure is always a ratio against a baseline measured in the same
process or right beside it (alternating runs, medians of several), because
these machines are noisy. The query benchmark (:mod:`bench.query`) shares the
statistics, the machine's description, the ``linkgraph`` command and
:class:`Client`, its HTTP client for ``linkgraph serve``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BenchError",
    "Child",
    "Client",
    "Figure",
    "Note",
    "Result",
    "alternate",
    "cpu_seconds",
    "linkgraph_cli",
    "machine",
    "median",
    "percentile",
    "python",
    "reap",
    "run_child",
    "say",
]


@dataclass(slots=True)
class Figure:
    """One row of the benchmark table.

    ``ours`` and ``baseline`` are in ``unit``; ``ratio`` is how many times
    better ours is (``higher_is_better`` decides which way round), ``target``
    the ratio it must reach (``None``: report only).
    """

    name: str
    unit: str
    ours: float
    baseline: float | None
    baseline_name: str
    target: float | None = None
    higher_is_better: bool = True
    runs: int = 1

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline or not self.ours:
            return None
        if self.higher_is_better:
            return self.ours / self.baseline
        return self.baseline / self.ours

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio >= self.target

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass(slots=True)
class Note:
    """An absolute figure (pages/s, bytes per edge, peak RSS) reported beside the table."""

    name: str
    value: float
    unit: str
    detail: str = ""


@dataclass(slots=True)
class Result:
    """What one benchmark module found."""

    figures: list[Figure] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def median(values: Sequence[float]) -> float:
    """The median (the mean of the two middle values for an even count), 0.0 for no values."""
    return float(statistics.median(values)) if values else 0.0


def percentile(samples: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least ``share``
    of all samples at or below it (p95 of 20 samples is the 19th smallest).

    Raises ValueError for no samples or a ``share`` outside (0, 1].
    """
    if not samples:
        raise ValueError("no samples")
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def alternate(
    ours: Callable[[], float], baseline: Callable[[], float], runs: int
) -> tuple[list[float], list[float]]:
    """Run ``ours`` and ``baseline`` ``runs`` times each, alternating; their results.

    Alternating (ours, baseline, baseline, ours, …) spreads drift in the
    machine's speed over both sides instead of charging it to one.
    """
    mine: list[float] = []
    theirs: list[float] = []
    for run in range(runs):
        if run % 2 == 0:
            mine.append(ours())
            theirs.append(baseline())
        else:
            theirs.append(baseline())
            mine.append(ours())
    return mine, theirs


@dataclass(slots=True)
class Child:
    """A finished child process: exit status, output and peak RSS."""

    returncode: int
    stdout: str
    stderr: str
    max_rss_kib: int

    def json(self) -> dict[str, Any]:
        """The last line of stdout as JSON (how child benchmarks report)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if self.returncode != 0 or not lines:
            raise RuntimeError(
                f"benchmark child failed ({self.returncode}): {self.stderr.strip()[-2000:]}"
            )
        result: dict[str, Any] = json.loads(lines[-1])
        return result


def reap(process: subprocess.Popen[Any], timeout: float | None = None) -> tuple[int, float, int]:
    """Wait for ``process``; (exit status, CPU seconds, peak RSS in KiB) from ``wait4``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss
        if deadline is not None and time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(process.args, timeout or 0)
        time.sleep(0.02)


def run_child(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 900,
) -> Child:
    """Run ``args`` to completion; its own peak RSS comes from ``wait4``.

    ``getrusage(RUSAGE_CHILDREN)`` would mix every child this process ever
    waited for; ``wait4`` gives the figures of this one alone. Output goes
    through temporary files, so a chatty child never blocks on a full pipe.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(list(args), env=env, stdout=out, stderr=err, text=True)
        try:
            code, _, rss = reap(process, timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            reap(process)
            out.seek(0)
            err.seek(0)
            raise RuntimeError(
                f"{' '.join(args[:4])}… ran longer than {timeout:.0f} s: {err.read()[-1000:]}"
            ) from None
        out.seek(0)
        err.seek(0)
        return Child(code, out.read(), err.read(), rss)


def python() -> list[str]:
    """The command that starts this Python with the benchmark package."""
    return [sys.executable, "-m", "bench"]


def linkgraph_cli() -> list[str]:
    """The command that starts ``linkgraph``: the console script next to this Python,
    else its module."""
    script = Path(sys.executable).with_name("linkgraph")
    return [str(script)] if script.exists() else [sys.executable, "-m", "linkgraph.cli"]


def say(text: str) -> None:
    """Progress on stderr, so that stdout holds only the table."""
    print(f"bench: {text}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, from ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine() -> dict[str, str]:
    """Cores, CPU model, RAM and Python of this machine, for the table's caption."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    return {
        "cores": str(os.cpu_count() or 0),
        "cpu": model,
        "ram": memory,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


class BenchError(Exception):
    """A request of the benchmark failed: the server's answer says why."""


class Client:
    """HTTP GET/POST to a ``linkgraph serve`` on this machine, never through a proxy.

    Answers are JSON; an HTTP error status raises :class:`BenchError` with the
    start of the server's answer.
    """

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        # http_proxy may be set for crawls; the server is on loopback.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _open(self, request: urllib.request.Request) -> Any:
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self._opener.open(request, timeout=600) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", "replace")[:300]
            raise BenchError(f"{request.full_url} answered {error.code}: {detail}") from None

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """The JSON answer of ``GET path?params``."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return self._open(urllib.request.Request(f"{self.base_url}{path}{query}"))

    def sql(self, statement: str) -> list[dict[str, Any]]:
        """The rows of ``statement``, run by the server's ``POST /api/v1/sql``."""
        body = json.dumps({"sql": statement}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/sql",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        rows: list[dict[str, Any]] = self._open(request)["rows"]
        return rows
