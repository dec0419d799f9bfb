"""What every benchmark shares: results, medians, child processes, the machine.

Each benchmark returns :class:`Figure` rows for the table. A figure is always
a ratio against a baseline measured in the same process or right beside it
(alternating runs, medians of several), because these machines are noisy.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Child",
    "Figure",
    "Note",
    "alternate",
    "cpu_seconds",
    "machine",
    "median",
    "peak_rss_mib",
    "reap",
    "run_child",
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
    """The median, 0.0 for no values."""
    return float(statistics.median(values)) if values else 0.0


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
    """A finished child process: exit status, output, CPU seconds and peak RSS."""

    returncode: int
    stdout: str
    stderr: str
    wall: float
    cpu: float
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
    """Run ``args`` to completion; its own CPU time and peak RSS come from ``wait4``.

    ``getrusage(RUSAGE_CHILDREN)`` would mix every child this process ever
    waited for; ``wait4`` gives the figures of this one alone. Output goes
    through temporary files, so a chatty child never blocks on a full pipe.
    """
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        process = subprocess.Popen(list(args), env=env, stdout=out, stderr=err, text=True)
        try:
            code, cpu, rss = reap(process, timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            reap(process)
            out.seek(0)
            err.seek(0)
            raise RuntimeError(
                f"{' '.join(args[:4])}… ran longer than {timeout:.0f} s: {err.read()[-1000:]}"
            ) from None
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Child(code, out.read(), err.read(), wall, cpu, rss)


def python() -> list[str]:
    """The command that starts this Python with the benchmark package."""
    return [sys.executable, "-m", "bench"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, from ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def peak_rss_mib(kib: int) -> float:
    """KiB (as ``ru_maxrss`` reports on Linux) to MiB."""
    return kib / 1024


def self_peak_rss_kib() -> int:
    """Peak RSS of this process in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


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
