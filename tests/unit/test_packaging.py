"""What the built wheel ships: the application, not its test web or its benchmarks."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the sources: setuptools leaves its build/ folder
    # behind, and a stale one would put removed modules into the wheel.
    source = tmp_path_factory.mktemp("source") / "linkgraph"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".run", ".bench", "build", "*.egg-info", "__pycache__", "*-data"
        ),
    )
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", str(source), "--no-deps"),
            *("--no-build-isolation", "--quiet", "--wheel-dir", str(out)),
        ],
        check=True,
        capture_output=True,
        cwd=build,
    )
    (wheel,) = out.glob("linkgraph-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_no_test_web_and_no_benchmark(wheel_files: list[str]) -> None:
    packages = {name.split("/", 1)[0] for name in wheel_files if "/" in name}
    assert packages == {
        "linkcore",
        "crawler",
        "linkindex",
        "pipelines",
        "consumers",
        "linkgraph",
        "linkgraph-0.1.0.dist-info",
    }
    test_webs = ("testweb", "oracle", "trapweb", "safetyweb", "synthweb")
    assert not [name for name in wheel_files if any(web in name for web in test_webs)]


def test_the_wheel_holds_what_the_commands_read(wheel_files: list[str]) -> None:
    for name in (
        "linkgraph/demo/web.py",
        "linkgraph/api/web/index.html",
        "linkgraph/api/web/app.js",
        "linkindex/sql/001_init.sql",
        "linkcore/py.typed",
    ):
        assert name in wheel_files
