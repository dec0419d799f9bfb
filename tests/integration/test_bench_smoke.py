"""Every benchmark runs: a quick pass of ``python -m bench run``.

Benchmarks are not tests, so nothing here asserts a timing or a target: only
that each benchmark still runs end to end against the real services and
reports well-formed figures. ``make bench`` is where the numbers come from.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench import BENCHMARKS
from tests.integration.cluster import require_services

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_benchmark_runs_and_reports(tmp_path: Path) -> None:
    require_services()
    readme = tmp_path / "README.md"
    readme.write_text("untouched\n", encoding="utf-8")
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bench", "run", "--quick"),
            *("--json", str(output), "--readme", str(readme)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "| figure | ours | baseline | ratio | target | met |" in result.stdout
    report = json.loads(output.read_text(encoding="utf-8"))
    figures = report["figures"]
    names = " ".join(figure["name"] for figure in figures)
    words = (
        "extraction",
        "text profile",
        "crawl",
        "traps",
        "consumer",
        "Kafka",
        "dupefilter",
        "frontier",
        "distributed",
        "revisit",
        "bytes on disk per edge",
        "WARC ingest",
        "WAT ingest",
    )
    for word in words:
        assert word in names, (word, names)
    assert len(BENCHMARKS) == 11
    for figure in figures:
        assert math.isfinite(figure["ours"]) and figure["ours"] > 0, figure
        if figure["baseline"] is not None:
            assert math.isfinite(figure["baseline"]) and figure["baseline"] > 0, figure
            assert figure["ratio"] > 0, figure
        if figure["target"] is not None:
            assert isinstance(figure["met"], bool), figure
    assert {"cores", "cpu", "ram", "python"} <= set(report["machine"])
    # A quick run never rewrites the README: its figures are not the real ones.
    assert readme.read_text(encoding="utf-8") == "untouched\n"
